"""Extract stage: find the saree's parts in S_flat (DESIGN §2).

``extract_parts(s_flat) -> PartsInfo`` and ``crop_parts(s_flat, info) -> {name: crop}``.

S_flat is canonical: long side horizontal, ``border_top``/``border_bottom`` woven along the top
and bottom edges (full length), the ``pallu`` panel at the right end between the borders, and
the ``body`` in between. The parts are found by change points in 1-D colour-texture profiles:

1. **Borders.** Every row gets a feature vector over the left part of the cloth (where no pallu
   can be): mean CIELAB, spread of CIELAB along the row (motif content) and mean gradient
   energy, plus the mean of those over the next few rows inward (*context*: a thick gold border
   and a thin gold stripe in the body give identical single rows, not identical neighbourhoods).
   Rows in the middle of the cloth are certainly body and form a *reference set*. A row is
   "body-like" when its nearest reference row is close; nearest-neighbour matching (rather
   than a mean) keeps striped, checked or motif bodies body-like in every phase of their
   repeat. The border edge is the change point that best separates non-body rows at the edge
   from body-like rows inside (fewest mislabelled rows, softly counted), searched within 2-20 %
   of the height; it is then pushed over inner lines that repeat the band's last lines exactly.
2. **Pallu.** The same on columns, restricted to the body rows between the found borders, with
   the reference columns in the left half; the change point is searched for a pallu 8-35 % of
   the length long.
3. **Body** is what remains.

A border or pallu that is not distinct (too few non-body rows, too little contrast, or no clean
edge) is reported absent (``rect=None`` with a plain reason) and the body takes its area.
Confidences come from the contrast of the change point and how cleanly it splits the profile.

Measured on 200 generated sarees (``make_cloth`` 1800x400 + ``simulate_flat``; 21 without
borders, 32 without pallu): presence right in all 600 decisions; boundary error mean 0.27 % of
the height for the borders (max 1.25 %), 0.06 % of the length for the pallu (max 0.17 %); about
0.15-0.2 s per image on one core. ``tests/tasks/test_extract.py`` checks the 1.5 % target.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from sareeflow.errors import InvalidInput
from sareeflow.models import PartInfo, PartName, PartsInfo, Rect
from sareeflow.prepared import write_prepared
from sareeflow.settings import Settings
from sareeflow.store import ArtifactRecord, Store

MIN_FLAT_SIDE_PX = 16
"""Smallest S_flat side (px) extract accepts; below this there are too few rows to profile."""
ANALYSIS_MAX_SIDE_PX = 2048
"""Larger inputs are analysed downscaled to this long side (px); rects are scaled back."""

BORDER_RANGE = (0.02, 0.20)
"""Plausible border band height, fraction of the cloth height."""
PALLU_RANGE = (0.08, 0.35)
"""Plausible pallu length, fraction of the cloth length."""
BORDER_SEARCH_FRAC = 0.24
"""Rows searched from each edge (fraction of height): the largest border plus room for body."""
BORDER_REFERENCE = (0.27, 0.73)
"""Rows (fraction of height) that are certainly body: the middle, clear of both searches. It
spans at least two repeats of any body pattern, so every row of the pattern has a match."""
BORDER_PROFILE_COLUMNS = (0.03, 0.6)
"""Columns (fraction of length) whose rows are profiled for the borders: no pallu there."""
PALLU_SEARCH_FRAC = 0.42
"""Columns searched from the right end (fraction of length)."""
PALLU_REFERENCE = (0.08, 0.55)
"""Columns (fraction of length) that are certainly body."""
BODY_ROW_MARGIN_FRAC = 0.02
"""Rows (fraction of height) left out next to each found border when profiling columns."""

FEATURE_BLUR_SIGMA_PX = 0.8
"""Light blur before the Lab conversion (px): suppresses sensor noise, keeps edges sharp."""
FEATURE_WEIGHTS = np.array([0.6, 1.0, 1.0, 0.6, 0.6, 0.6, 0.5], np.float32)
"""Weights of (mean L, a, b, spread L, a, b, gradient energy); L and spreads weigh less
because residual shading and weave noise move them more than hue does."""
SELF_MATCH_EXCLUDE = 2
"""Reference rows within this many rows of each other do not count as matches (px)."""
TAU_FLOOR = 4.0
"""Smallest body-likeness threshold, in weighted CIELAB units (about 2 JNDs)."""
TAU_FACTOR = 3.0
"""Threshold = this times the 90th percentile of the reference's own match distances."""
MIN_BAND_PURITY = 0.7
"""A band needs at least this fraction of non-body rows to count as a part."""
MIN_BAND_CONTRAST = 1.5
"""A band's median distance must be at least this multiple of the threshold."""
CONTEXT_HALF_WINDOW_FRAC = 0.015
"""Half window of the context features, fraction of the cloth height: body lines (stripes,
checks) are at most about 1.7 % of the height thick, borders and pallus much thicker."""
EXTEND_MATCH_DISTANCE = 2.0
"""A line continues a band when it is this close (weighted CIELAB units, about one JND) to one
of the band's innermost lines."""
MIN_PART_CONFIDENCE = 0.2
"""Below this confidence a found band is reported absent (its edge cannot be trusted)."""
UNCERTAIN_CONFIDENCE = 0.5
"""Present parts below this confidence get a reason saying their edge is uncertain."""


@dataclass(frozen=True)
class _Split:
    """A change point on one profile: ``size`` items from the edge are the part."""

    size: int
    confidence: float
    contrast: float
    purity: float
    unclear: bool = False
    """The edge region differs from the body but no clean band edge was found."""


# ---------------------------------------------------------------- features
def _pixel_features(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Lab float32 HxWx3, gradient energy float32 HxW) of an RGB uint8 image."""
    rgb = img.astype(np.float32) / 255.0
    if FEATURE_BLUR_SIGMA_PX > 0:
        rgb = cv2.GaussianBlur(rgb, (0, 0), FEATURE_BLUR_SIGMA_PX)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    lum = np.ascontiguousarray(lab[..., 0])
    gx = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3)
    energy = (np.abs(gx) + np.abs(gy)) * np.float32(0.125)  # Sobel gain 8 -> L units per px
    return lab, energy


def _profile(lab: np.ndarray, energy: np.ndarray, axis: int) -> np.ndarray:
    """Weighted single-line feature vectors (n x 7) of every row (axis=1) or column (axis=0)."""
    mean = lab.mean(axis=axis)
    spread = lab.std(axis=axis)
    grad = energy.mean(axis=axis)[:, None]
    return np.concatenate([mean, spread, grad], axis=1) * FEATURE_WEIGHTS


def _with_context(profile: np.ndarray, half_window: int) -> np.ndarray:
    """Each line's features beside the mean of the ``2 * half_window + 1`` lines inward of it.

    A thick band (a gold border) and a thin line of the same colour (a gold check in the body)
    give identical single lines; only the neighbourhood tells them apart. The window looks
    inward only (profiles run from the cloth edge inward), so a body line cut by the cloth edge
    is not mistaken for a band, and body lines next to a border see only body.
    """
    n = len(profile)
    size = 2 * half_window + 1
    padded = np.pad(profile, ((0, size), (0, 0)), mode="symmetric")
    csum = np.concatenate([np.zeros((1, profile.shape[1]), np.float64), np.cumsum(padded, axis=0)])
    window = (csum[size : size + n] - csum[:n]) / size
    return np.concatenate([profile, window.astype(np.float32)], axis=1)


def _context_half_window(h: int) -> int:
    """Half window (px) of the context features: wider than the thickest body line."""
    return max(1, round(CONTEXT_HALF_WINDOW_FRAC * h))


def _nearest_distance(items: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Distance of each item to its nearest reference vector."""
    out = np.empty(len(items), np.float32)
    chunk = 256
    for i in range(0, len(items), chunk):
        diff = items[i : i + chunk, None, :] - reference[None, :, :]
        out[i : i + chunk] = np.sqrt((diff * diff).sum(axis=2)).min(axis=1)
    return out


def _threshold(reference: np.ndarray) -> float:
    """Body-likeness threshold from how well reference items match each other."""
    n = len(reference)
    if n <= 2 * SELF_MATCH_EXCLUDE + 1:
        return TAU_FLOOR
    idx = np.arange(n)
    self_match = np.empty(n, np.float32)
    chunk = 256
    for i in range(0, n, chunk):
        diff = reference[i : i + chunk, None, :] - reference[None, :, :]
        dist = np.sqrt((diff * diff).sum(axis=2))
        dist[np.abs(idx[i : i + chunk, None] - idx[None, :]) <= SELF_MATCH_EXCLUDE] = np.inf
        self_match[i : i + chunk] = dist.min(axis=1)
    return max(TAU_FLOOR, TAU_FACTOR * float(np.percentile(self_match, 90)))


def _split(distance: np.ndarray, tau: float, size_range: tuple[int, int]) -> _Split:
    """Best change point of a profile ordered from the cloth edge inward.

    ``distance[i]`` is item i's distance from the body. The part is the first ``size`` items;
    ``size`` minimises the items on the wrong side (body-like items inside the part plus
    non-body items after it, softly counted). Ties go to the larger contrast across the split.
    """
    n = len(distance)
    lo, hi = size_range
    hi = min(hi, n - 1)
    nonbody = distance > tau
    if n < 2 or hi < lo or lo < 1:
        return _Split(0, 1.0, 0.0, 0.0)
    # cost(k) = body-likeness in [0, k) + non-body-ness in [k, n), with a soft label that
    # rises from 0 at tau to 1 at 2 tau so that lines just over the threshold barely count.
    soft = np.clip(distance / tau - 1.0, 0.0, 1.0)
    body_before = np.concatenate([[0.0], np.cumsum(1.0 - soft)])
    nonbody_after = np.concatenate([np.cumsum(soft[::-1])[::-1], [0.0]])
    cost = body_before + nonbody_after
    sizes = np.arange(lo, hi + 1)
    best = int(sizes[np.argmin(cost[sizes])])
    # Among equal-cost sizes prefer the one where distance drops most across the split.
    equal = sizes[cost[sizes] == cost[best]]
    if len(equal) > 1:
        step = [
            np.median(distance[max(0, k - 3) : k]) - np.median(distance[k : k + 3]) for k in equal
        ]
        best = int(equal[int(np.argmax(step))])
    band = distance[:best]
    after = distance[best:]
    purity = float((band > tau).mean())
    outside_clean = float((after <= tau).mean()) if len(after) else 1.0
    contrast = float(np.median(band) / tau)
    absent_cost = float(cost[0])
    if purity < MIN_BAND_PURITY or contrast < MIN_BAND_CONTRAST or cost[best] >= absent_cost:
        # Not distinct: confidence in "absent" is how body-like the edge region is.
        return _Split(0, float((~nonbody).mean()), contrast, purity)
    strength = 1.0 - float(np.exp(-(contrast - 1.0)))
    confidence = float(np.clip(purity * outside_clean * strength, 0.0, 1.0))
    if confidence < MIN_PART_CONFIDENCE:
        # A band is there but the cloth beyond it is not body-like either: no trustworthy edge.
        return _Split(0, outside_clean, contrast, purity, unclear=True)
    return _Split(best, confidence, contrast, purity)


# ---------------------------------------------------------------- the stage
def _validate(s_flat: np.ndarray) -> None:
    if not isinstance(s_flat, np.ndarray) or s_flat.ndim != 3 or s_flat.shape[2] != 3:
        raise InvalidInput("The flattened saree image must be an RGB image.")
    if s_flat.dtype != np.uint8:
        raise InvalidInput("The flattened saree image must be 8-bit RGB.")
    h, w = s_flat.shape[:2]
    if min(h, w) < MIN_FLAT_SIDE_PX:
        raise InvalidInput(
            f"The flattened saree image is too small ({w}x{h} px); "
            f"at least {MIN_FLAT_SIDE_PX} px on each side is needed."
        )


def _span(n: int, frac: tuple[float, float]) -> slice:
    a = int(np.floor(frac[0] * n))
    b = max(a + 1, int(np.ceil(frac[1] * n)))
    return slice(a, min(b, n))


def _locate(single: np.ndarray, reference: slice, search_n: int, size_range, half: int) -> _Split:
    """Change point of a profile ordered from the cloth edge inward (see the module doc)."""
    profile = _with_context(single, half)
    ref = profile[reference]
    tau = _threshold(ref)
    distance = _nearest_distance(profile[: max(2, search_n)], ref)
    split = _split(distance, tau, size_range)
    if split.size == 0:
        return split
    size = _extend(single, split.size, half, min(size_range[1], len(single) - 1))
    return _Split(size, split.confidence, split.contrast, split.purity)


def _extend(single: np.ndarray, size: int, half: int, max_size: int) -> int:
    """Grow a band over the lines just inside it that look exactly like its inner edge.

    Band lines within the context window of the body can pass for body when a single band line
    looks like a body line (a gold border beside gold body stripes), so the change point can
    fall up to ``2 * half`` lines short. Those lines still match the band's last lines one for
    one, while the first real body line does not.
    """
    tail = single[max(0, size - max(2, half)) : size]
    limit = min(max_size, size + 2 * half)
    while size < limit:
        diff = tail - single[size]
        if float(np.sqrt((diff * diff).sum(axis=1)).min()) > EXTEND_MATCH_DISTANCE:
            break
        size += 1
    return size


def _find_border(lab: np.ndarray, energy: np.ndarray, from_top: bool) -> _Split:
    h, w = lab.shape[:2]
    cols = _span(w, BORDER_PROFILE_COLUMNS)
    single = _profile(lab[:, cols], energy[:, cols], axis=1)
    if not from_top:
        single = single[::-1]
    size_range = (max(1, round(BORDER_RANGE[0] * h)), round(BORDER_RANGE[1] * h))
    search_n = int(np.ceil(BORDER_SEARCH_FRAC * h))
    return _locate(
        single, _span(h, BORDER_REFERENCE), search_n, size_range, _context_half_window(h)
    )


def _find_pallu(lab: np.ndarray, energy: np.ndarray, top: int, bottom: int) -> _Split:
    h, w = lab.shape[:2]
    margin = round(BODY_ROW_MARGIN_FRAC * h)
    r0, r1 = top + margin, h - bottom - margin
    if r1 - r0 < 2:
        r0, r1 = top, h - bottom
    if r1 - r0 < 1:
        return _Split(0, 0.0, 0.0, 0.0)
    single = _profile(lab[r0:r1], energy[r0:r1], axis=0)[::-1]
    # Reversed, so the reference columns count from the right end.
    ref = _span(w, (1.0 - PALLU_REFERENCE[1], 1.0 - PALLU_REFERENCE[0]))
    size_range = (max(1, round(PALLU_RANGE[0] * w)), round(PALLU_RANGE[1] * w))
    search_n = int(np.ceil(PALLU_SEARCH_FRAC * w))
    return _locate(single, ref, search_n, size_range, _context_half_window(h))


def _border_info(name: PartName, split: _Split, rect: Rect | None, edge: str) -> PartInfo:
    if rect is None:
        reason = f"No distinct border band was found along the {edge} edge."
        if split.unclear:
            reason = (
                f"The cloth along the {edge} edge differs from the body but shows no clear "
                "border band; it is treated as body."
            )
        return PartInfo(name=name, rect=None, confidence=split.confidence, reason=reason)
    reason = None
    if split.confidence < UNCERTAIN_CONFIDENCE:
        reason = f"The {edge} border band is faint; its inner edge is uncertain."
    return PartInfo(name=name, rect=rect, confidence=split.confidence, reason=reason)


def extract_parts(s_flat: np.ndarray) -> PartsInfo:
    """Find body, borders and pallu in a canonical S_flat (RGB uint8, at least 16x16 px).

    Raises :class:`InvalidInput` for non-RGB-uint8 input or a side under
    ``MIN_FLAT_SIDE_PX``; any other image (plain cloth, odd aspect ratio) gets an answer.
    """
    _validate(s_flat)
    full_h, full_w = s_flat.shape[:2]
    scale = min(1.0, ANALYSIS_MAX_SIDE_PX / max(full_h, full_w))
    work = s_flat
    if scale < 1.0:
        size = (
            max(MIN_FLAT_SIDE_PX, round(full_w * scale)),
            max(MIN_FLAT_SIDE_PX, round(full_h * scale)),
        )
        work = cv2.resize(s_flat, size, interpolation=cv2.INTER_AREA)
    h, w = work.shape[:2]
    sy, sx = full_h / h, full_w / w
    lab, energy = _pixel_features(work)

    top = _find_border(lab, energy, from_top=True)
    bottom = _find_border(lab, energy, from_top=False)
    pallu = _find_pallu(lab, energy, top.size, bottom.size)

    top_px = min(round(top.size * sy), full_h // 2)
    bottom_px = min(round(bottom.size * sy), full_h - top_px - 1)
    pallu_px = min(round(pallu.size * sx), full_w - 1)
    inner_h = full_h - top_px - bottom_px

    parts: dict[PartName, PartInfo] = {
        "border_top": _border_info(
            "border_top", top, (0, 0, full_w, top_px) if top_px > 0 else None, "top"
        ),
        "border_bottom": _border_info(
            "border_bottom",
            bottom,
            (0, full_h - bottom_px, full_w, bottom_px) if bottom_px > 0 else None,
            "bottom",
        ),
    }
    if pallu_px > 0:
        parts["pallu"] = PartInfo(
            name="pallu",
            rect=(full_w - pallu_px, top_px, pallu_px, inner_h),
            confidence=pallu.confidence,
            reason=(
                "The pallu differs only faintly from the body; its start is uncertain."
                if pallu.confidence < UNCERTAIN_CONFIDENCE
                else None
            ),
        )
    else:
        parts["pallu"] = PartInfo(
            name="pallu",
            rect=None,
            confidence=pallu.confidence,
            reason=(
                "The right end differs from the body but shows no clear pallu panel; "
                "it is treated as body."
                if pallu.unclear
                else "No distinct pallu panel was found at the right end; the body fills it."
            ),
        )
    body_conf = float(np.mean([top.confidence, bottom.confidence, pallu.confidence]))
    parts["body"] = PartInfo(
        name="body",
        rect=(0, top_px, full_w - pallu_px, inner_h),
        confidence=body_conf,
    )
    ordered: dict[PartName, PartInfo] = {
        name: parts[name] for name in ("body", "border_top", "border_bottom", "pallu")
    }
    return PartsInfo(flat_size=(full_w, full_h), parts=ordered)


def crop_parts(s_flat: np.ndarray, info: PartsInfo) -> dict[str, np.ndarray]:
    """Copies of the present parts' pixels, keyed by part name (RGB uint8)."""
    _validate(s_flat)
    h, w = s_flat.shape[:2]
    if tuple(info.flat_size) != (w, h):
        raise InvalidInput(
            f"The parts were found on a {info.flat_size[0]}x{info.flat_size[1]} image, "
            f"not this {w}x{h} one."
        )
    crops: dict[str, np.ndarray] = {}
    for name, part in info.parts.items():
        if part.rect is None:
            continue
        x, y, rw, rh = part.rect
        if rw <= 0 or rh <= 0:
            continue
        crops[name] = np.ascontiguousarray(s_flat[y : y + rh, x : x + rw]).copy()
    return crops


# ---------------------------------------------------------------- Prefect shell
@task(name="extract", cache_policy=NO_CACHE)
def extract_task(
    settings: Settings, saree_id: str, generation: int, s_flat: np.ndarray
) -> dict[str, ArtifactRecord]:
    """Find body, borders and pallu in S_flat; stores parts.json and one PNG per present part."""
    info = extract_parts(s_flat)
    store = Store(settings.storage_root)
    common = {
        "saree_id": saree_id,
        "generation": generation,
        "png_compression": settings.png_compression,
    }
    records = {
        "parts": write_prepared(
            store, filename="parts.json", payload=info, kind="parts_info", **common
        )
    }
    for name, crop in crop_parts(s_flat, info).items():
        records[f"part_{name}"] = write_prepared(
            store, filename=f"parts/{name}.png", payload=crop, kind="part", **common
        )
    absent = [f"{name}: {part.reason}" for name, part in info.parts.items() if part.rect is None]
    get_run_logger().info(
        "extract: parts %s%s", sorted(records), f"; absent {absent}" if absent else ""
    )
    return records
