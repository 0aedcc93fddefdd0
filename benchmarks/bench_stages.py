"""``make bench-stages``: accuracy of the embedded stages on generated photos (issue 5).

Run ``python -m benchmarks.bench_stages [--photos N] [--seed S] [--quick] [--workers W]
[--out DIR]``. Every photo is a generated saree (:func:`sareeflow.synth.make_cloth`) laid on a
generated backdrop (:func:`sareeflow.synth.make_photo`, 1200x900 px: smaller than the 1600x1200
default so 200 photos with 12 poses each stay within ~15 minutes on 2 cores), with its exact
ground truth. Each photo goes through the local pipeline as a job would run it:

    isolate -> LocalFlattenAdapter -> extract_parts -> for each of the 12 catalogue poses:
    build_placement -> LocalComposeAdapter -> validate_output (first attempt only)

and is measured against its truth:

* **mask IoU** of isolate's mask against the photo's cloth mask;
* **corner error**: flatten's corners, mapped back to photo px, against the truth corners; the
  largest of the four distances as a percentage of the cloth's extent on the photo (the larger
  side of the truth corners' bounding box, as ``tests/adapters/test_local_flatten.py`` does).
  The four corners are matched under the cyclic relabelling that fits best, so the geometry is
  scored apart from the labelling; the labelling is the orientation:
* **orientation**: relabelling 0 means S_flat's TL/TR/BR/BL are the truth's canonical corners
  (long side horizontal, pallu at the right end); 2 is the same cloth turned 180° (pallu on
  the left); 1 or 3 means the short side came out horizontal. A cloth with a pallu is right
  only at 0; a cloth without one at 0 or 2 (either end is a valid right end);
* **colour**: S_flat (turned back if it came out 180° off) against the truth cloth lit evenly at
  the cloth's median true light, on plain areas (below-median detail of the truth, 5 % inset,
  both blurred by 3 px so the corner fit's sub-pixel shift does not count). Reported as
  ΔE2000 (``metrics.delta_e``) and ΔE76, over all plain areas and over the *flat-lit* ones
  alone (true light within 3 % of the reference level, i.e. where the photo's light needed
  no correction);
* **band boundaries**: extract's rects in S_flat against the truth rects scaled into S_flat,
  in the orientation S_flat actually has (a 180°-turned S_flat swaps the borders and moves the
  true pallu to the left end). A part's size is its band height (borders) or length (pallu),
  0 when absent, and the error is ``|found - truth|`` in % of that dimension — so a missed or
  invented band counts its whole size;
* **first-attempt validation pass rate** of every pose.

The photos cycle through difficulty (normal/hard), backdrop (wood, tiles, studio, fabric,
similar-to-cloth) and quarter turn (0-3) so every combination appears once per 40 photos;
every 9th saree is forced to have no border and every 11th no pallu (others may lack them by
the generator's own draw). Results: a table on stdout and ``DIR/stages.json`` (summary plus one
record per photo; everything but the ``timing`` section is deterministic for a seed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from metrics.color import rgb_to_lab
from metrics.delta_e import mean_delta_e
from sareeflow.synth.cloth import ClothTruth, make_cloth, random_style
from sareeflow.synth.photo import PhotoTruth, make_photo

# ----------------------------------------------------------------------------- the photo set
PHOTO_SIZE = (1200, 900)
"""(w, h) of every generated photo, px (smaller than make_photo's 1600x1200 to fit the budget)."""
CLOTH_LENGTH_PX = 1500
"""Length of the generated flat cloth, px (it is resampled to its on-photo size anyway)."""
CLOTH_ASPECT_RANGE = (3.5, 5.0)
"""Length / height of the generated cloths (a saree is ~5.5 m x 1.15 m, about 4.8)."""
DIFFICULTIES = ("normal", "hard")
BACKGROUNDS = ("wood", "tiles", "studio", "fabric", "similar")
NO_BORDER_EVERY = (9, 4)
"""Photo ``i`` gets a saree without border when ``i % 9 == 4``."""
NO_PALLU_EVERY = (11, 6)
"""Photo ``i`` gets a saree without pallu when ``i % 11 == 6``."""
DEFAULT_PHOTOS = 200
QUICK_PHOTOS = 12
DEFAULT_SEED = 5000

# ----------------------------------------------------------------------------- targets (issue 5)
IOU_TARGET = 0.98
CORNER_TARGET_PCT = 1.0
ORIENTATION_TARGET_PCT = 98.0
DELTA_E_TARGET = 2.0
BAND_TARGET_PCT = 1.5

# ----------------------------------------------------------------------------- colour method
PLAIN_BLUR_SIGMA_PX = 3.0
"""Blur (S_flat px) of both images before the colour comparison."""
DETAIL_WINDOW_PX = 9
"""Window (px) over which the truth's Laplacian magnitude is averaged into 'detail'."""
INNER_MARGIN_FRACTION = 0.05
"""Inset (fraction of S_flat's short side) left out of the colour comparison."""
FLAT_LIT_BAND = 0.03
"""A pixel is flat-lit when its true light is within this fraction of the reference level."""
MIN_COLOUR_PIXELS = 200
"""Fewer selected pixels than this give no colour figure (NaN)."""

POSE_SEED_STRIDE = 100
"""Compose seed of a pose = photo seed x this + pose number (deterministic, distinct)."""


@dataclass(frozen=True)
class PhotoSpec:
    """How one benchmark photo is generated."""

    index: int
    seed: int
    difficulty: str
    background: str
    rotation: int
    no_border: bool
    no_pallu: bool


def photo_specs(count: int, seed: int) -> list[PhotoSpec]:
    """The photo set: combinations of difficulty, backdrop and turn cycle every 40 photos.

    ``i % 2``, ``i % 5`` and ``(i // 2) % 4`` run through all 2 x 5 x 4 combinations once per
    40 consecutive photos (Chinese remainder theorem on ``i mod 8`` and ``i mod 5``), so even the
    12-photo quick set sees every backdrop, turn and difficulty.
    """
    return [
        PhotoSpec(
            index=i,
            seed=seed + i,
            difficulty=DIFFICULTIES[i % len(DIFFICULTIES)],
            background=BACKGROUNDS[i % len(BACKGROUNDS)],
            rotation=(i // 2) % 4,
            no_border=i % NO_BORDER_EVERY[0] == NO_BORDER_EVERY[1],
            no_pallu=i % NO_PALLU_EVERY[0] == NO_PALLU_EVERY[1],
        )
        for i in range(count)
    ]


def generate(spec: PhotoSpec) -> tuple[np.ndarray, PhotoTruth, np.ndarray]:
    """(photo, its truth, the flat cloth) of one spec."""
    style = random_style(np.random.default_rng(spec.seed))
    if spec.no_border:
        style = style.model_copy(
            update={"has_border": False, "border_top_frac": 0.0, "border_bottom_frac": 0.0}
        )
    if spec.no_pallu:
        style = style.model_copy(update={"has_pallu": False, "pallu_frac": 0.0})
    aspect = float(np.random.default_rng([spec.seed, 7]).uniform(*CLOTH_ASPECT_RANGE))
    cloth, cloth_truth = make_cloth(
        spec.seed, size=(CLOTH_LENGTH_PX, round(CLOTH_LENGTH_PX / aspect)), style=style
    )
    photo, truth = make_photo(
        cloth,
        cloth_truth,
        spec.seed,
        size=PHOTO_SIZE,
        difficulty=spec.difficulty,
        rotation=spec.rotation,
        background=spec.background,  # type: ignore[arg-type]
    )
    return photo, truth, cloth


# ----------------------------------------------------------------------------- measures
def mask_iou(found: np.ndarray, truth: np.ndarray) -> float:
    """IoU of a found mask (non-zero = cloth, any size) and the truth mask (bool, photo size)."""
    if found.shape[:2] != truth.shape[:2]:
        found = cv2.resize(
            found.astype(np.uint8),
            (truth.shape[1], truth.shape[0]),
            interpolation=cv2.INTER_NEAREST,
        )
    a, b = found > 0, truth
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b)) / union if union else 1.0


def corner_match(found: np.ndarray, truth: np.ndarray) -> tuple[float, int]:
    """(error in % of the cloth's extent, cyclic relabelling) of the best corner matching.

    ``found`` and ``truth`` are TL, TR, BR, BL (4 x 2, photo px). Relabelling ``k`` pairs
    found corner ``(i + k) % 4`` with truth corner ``i``; 0 is the canonical labelling, 2 the
    cloth turned 180°.
    """
    extent = float(np.ptp(truth, axis=0).max())
    errors = [
        float(np.linalg.norm(np.roll(found, -k, axis=0) - truth, axis=1).max()) / extent * 100
        for k in range(4)
    ]
    best = int(np.argmin(errors))
    return errors[best], best


def _lab(rgb01: np.ndarray) -> np.ndarray:
    return rgb_to_lab(np.clip(rgb01, 0.0, 1.0).astype(np.float32))


def _flat_light(illumination: np.ndarray, corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The photo's true light field resampled into S_flat (same homography as flatten's)."""
    w, h = size
    dst = np.array([(0, 0), (w, 0), (w, h), (0, h)], np.float64)
    matrix = cv2.getPerspectiveTransform(
        (corners - 0.5).astype(np.float32), (dst - 0.5).astype(np.float32)
    )
    return cv2.warpPerspective(
        illumination, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def plain_colour_error(
    flat: np.ndarray, cloth: np.ndarray, truth: PhotoTruth, corners: np.ndarray
) -> dict[str, float]:
    """ΔE2000 / ΔE76 of S_flat's plain areas against the truth cloth at the median light.

    ``flat`` must be in canonical orientation and ``corners`` (photo px, TL, TR, BR, BL) its
    corners. A photo cannot tell the absolute light: the adapter keeps the cloth's median light,
    so that is the level the truth is lit at. ``*_flat_lit`` restrict to pixels whose true light
    already was that level (within ``FLAT_LIT_BAND``).
    """
    h, w = flat.shape[:2]
    level = float(np.median(truth.illumination[truth.mask]))
    reference = cv2.resize(cloth, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    ours = cv2.GaussianBlur(flat.astype(np.float32), (0, 0), PLAIN_BLUR_SIGMA_PX)
    ref = np.clip(cv2.GaussianBlur(reference, (0, 0), PLAIN_BLUR_SIGMA_PX) * level, 0, 255)
    ref_l = _lab(reference / 255.0)[..., 0]
    detail = cv2.blur(
        np.abs(cv2.Laplacian(ref_l, cv2.CV_32F)), (DETAIL_WINDOW_PX, DETAIL_WINDOW_PX)
    )
    inner = np.zeros((h, w), bool)
    m = max(3, int(INNER_MARGIN_FRACTION * min(w, h)))
    inner[m:-m, m:-m] = True
    plain = inner & (detail < np.median(detail))
    light = _flat_light(truth.illumination, corners, (w, h))
    flat_lit = plain & (np.abs(light / level - 1.0) <= FLAT_LIT_BAND)
    ours8 = np.clip(np.rint(ours), 0, 255).astype(np.uint8)
    ref8 = np.clip(np.rint(ref), 0, 255).astype(np.uint8)
    de76 = np.linalg.norm(_lab(ours / 255.0) - _lab(ref / 255.0), axis=2)
    out: dict[str, float] = {}
    for name, sel in (("plain", plain), ("flat_lit", flat_lit)):
        enough = np.count_nonzero(sel) >= MIN_COLOUR_PIXELS
        out[f"de2000_{name}"] = mean_delta_e(ours8, ref8, mask=sel) if enough else math.nan
        out[f"de76_{name}"] = float(de76[sel].mean()) if enough else math.nan
    out["flat_lit_fraction"] = float(np.count_nonzero(flat_lit)) / max(np.count_nonzero(plain), 1)
    return out


def truth_sizes(cloth: ClothTruth, flat_size: tuple[int, int], turned: bool) -> dict[str, float]:
    """True band sizes (px of S_flat) as extract should find them in this S_flat.

    Borders: band height; pallu: length at the right end. A 180°-turned S_flat has the true
    top border at the bottom and the true pallu at the left end (so none at the right).
    """
    cw, ch = cloth.size
    fw, fh = flat_size
    top = cloth.border_top[3] * fh / ch if cloth.border_top else 0.0
    bottom = cloth.border_bottom[3] * fh / ch if cloth.border_bottom else 0.0
    pallu = cloth.pallu[2] * fw / cw if cloth.pallu else 0.0
    if turned:
        return {"border_top": bottom, "border_bottom": top, "pallu": 0.0}
    return {"border_top": top, "border_bottom": bottom, "pallu": pallu}


def band_errors(parts, truth: dict[str, float]) -> dict[str, dict]:
    """Per part: found and true size (px), error in % of the dimension, presence right?"""
    fw, fh = parts.flat_size
    out = {}
    for name, dim in (("border_top", fh), ("border_bottom", fh), ("pallu", fw)):
        rect = parts.rect(name)
        found = 0.0 if rect is None else float(rect[3] if name != "pallu" else rect[2])
        out[name] = {
            "found_px": found,
            "truth_px": round(truth[name], 3),
            "error_pct": abs(found - truth[name]) / dim * 100,
            "presence_right": (found > 0) == (truth[name] > 0),
            "confidence": parts.parts[name].confidence,
            "reason": parts.parts[name].reason,
        }
    return out


# ----------------------------------------------------------------------------- one photo
@lru_cache(maxsize=1)
def _toolkit():
    """Settings, catalogue and adapters, built once per (worker) process."""
    from adapters.local_compose import LocalComposeAdapter
    from adapters.local_flatten import LocalFlattenAdapter
    from sareeflow.poses import load_catalogue
    from sareeflow.settings import Settings

    settings = Settings()
    catalogue = load_catalogue()
    return (
        settings,
        catalogue,
        LocalFlattenAdapter(settings=settings),
        LocalComposeAdapter(catalogue),
    )


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core: no OpenCV thread pool fighting the other one


def _describe(spec: PhotoSpec, truth: PhotoTruth) -> dict:
    style = truth.cloth.style
    return {
        **asdict(spec),
        "body_family": style.body_family,
        "body_motif": style.body_motif,
        "border_style": style.border_style if style.has_border else None,
        "pallu_design": style.pallu_design if style.has_pallu else None,
        "has_border": truth.cloth.border_top is not None or truth.cloth.border_bottom is not None,
        "has_pallu": truth.cloth.pallu is not None,
        "cloth_size": list(truth.cloth.size),
        "coverage": round(truth.coverage, 4),
    }


def measure_photo(spec: PhotoSpec) -> dict:
    """Run one photo through every stage and score each against the truth.

    A stage that raises ends the photo: the error (stage and message) is recorded, and every
    later measure of that photo counts as a miss.
    """
    from sareeflow.models import FlattenInfo
    from sareeflow.placement import build_placement
    from tasks.extract import extract_parts
    from tasks.isolate import isolate
    from tasks.validate import validate_output

    settings, catalogue, flattener, composer = _toolkit()
    timing: dict[str, float] = {}
    clock = time.perf_counter()
    cpu_start = time.process_time()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timing[name] = round(now - clock, 4)
        clock = now

    photo, truth, cloth = generate(spec)
    lap("generate")
    record: dict = {"photo": _describe(spec, truth), "error": None, "timing": timing}
    stage = "isolate"
    try:
        s_clean, mask, iso = isolate(photo, settings=settings)
        lap("isolate")
        record["iou"] = mask_iou(mask, truth.mask)
        record["isolate_confidence"] = iso.confidence

        stage = "flatten"
        result = flattener.run(s_clean, None, spec.seed, [], [])
        lap("flatten")
        info = FlattenInfo.model_validate(result.info)
        flat = result.image
        scale = np.array([photo.shape[1] / s_clean.shape[1], photo.shape[0] / s_clean.shape[0]])
        corners = np.array(info.corners, np.float64) * scale
        error, shift = corner_match(corners, np.array(truth.corners, np.float64))
        has_pallu = truth.cloth.pallu is not None
        long_horizontal = flat.shape[1] >= flat.shape[0] and shift % 2 == 0
        record["flatten"] = {
            "corner_error_pct": error,
            "relabelling": shift,
            "long_side_horizontal": long_horizontal,
            "pallu_right": shift == 0,
            "orientation_right": shift == 0 if has_pallu else long_horizontal,
            "flat_size": [int(flat.shape[1]), int(flat.shape[0])],
            "confidence": info.confidence,
            "notes": info.notes,
        }
        if shift % 2 == 0:
            canonical = flat if shift == 0 else np.ascontiguousarray(flat[::-1, ::-1])
            canon_corners = corners if shift == 0 else corners[[2, 3, 0, 1]]
            record["colour"] = plain_colour_error(canonical, cloth, truth, canon_corners)
        lap("score_flatten")

        stage = "extract"
        parts = extract_parts(flat)
        lap("extract")
        if shift % 2 == 0:
            sizes = truth_sizes(truth.cloth, parts.flat_size, turned=shift == 2)
            record["bands"] = band_errors(parts, sizes)

        poses: dict[str, dict] = {}
        record["poses"] = poses
        for pose_id, pose in catalogue.poses.items():
            stage = f"pose {pose_id}"
            placement = build_placement(pose, parts, canvas_height=settings.canvas_height_px)
            seed = spec.seed * POSE_SEED_STRIDE + int(pose_id)
            output = composer.run(flat, placement, seed, [], []).image
            report = validate_output(output, placement, flat, thresholds=settings.thresholds)
            poses[pose_id] = {"passed": report.passed, "failures": list(report.failures)}
        lap("poses")
    except Exception as exc:  # noqa: BLE001 - a benchmark records a crash and goes on
        record["error"] = {"stage": stage, "type": type(exc).__name__, "message": str(exc)[:300]}
    timing["cpu_total"] = round(time.process_time() - cpu_start, 4)
    return record


# ----------------------------------------------------------------------------- summary
def _finite(values: Iterable[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _stats(values: list[float | None], *, within=None, total: int) -> dict:
    """mean/min/max of the finite values; ``share_pct`` of ``total`` that satisfy ``within``
    (a missing value — the stage crashed or did not apply — counts as a miss)."""
    finite = _finite(values)
    out = {
        "n": len(finite),
        "mean": float(np.mean(finite)) if finite else math.nan,
        "min": min(finite) if finite else math.nan,
        "max": max(finite) if finite else math.nan,
    }
    if within is not None:
        out["share_pct"] = 100.0 * sum(1 for v in finite if within(v)) / max(total, 1)
    return out


def _pct(flags: list[bool]) -> dict:
    return {"n": len(flags), "pct": 100.0 * sum(flags) / len(flags) if flags else math.nan}


def summarise(records: list[dict]) -> dict:
    """The benchmark's figures from the per-photo records."""
    n = len(records)
    flat = [r.get("flatten") for r in records]
    colour = [r.get("colour") or {} for r in records]
    bands = [r.get("bands") or {} for r in records]
    with_pallu = [r for r in records if r["photo"]["has_pallu"]]
    without_pallu = [r for r in records if not r["photo"]["has_pallu"]]

    def orient(group: list[dict], key: str) -> dict:
        return _pct([bool((r.get("flatten") or {}).get(key)) for r in group])

    def band(names: tuple[str, ...]) -> dict:
        errors = [b[name]["error_pct"] if name in b else None for b in bands for name in names]
        presence = [bool(b[name]["presence_right"]) if name in b else False for b in bands for name in names]  # fmt: skip
        stats = _stats(errors, within=lambda v: v <= BAND_TARGET_PCT, total=n * len(names))
        stats["presence_right_pct"] = 100.0 * sum(presence) / max(len(presence), 1)
        return stats

    pose_ids = sorted({p for r in records for p in (r.get("poses") or {})})
    per_pose = {}
    for pose_id in pose_ids:
        passed = [bool((r.get("poses") or {}).get(pose_id, {}).get("passed")) for r in records]
        kinds = Counter(
            kind for r in records for kind in (r.get("poses") or {}).get(pose_id, {}).get("failures", [])
        )  # fmt: skip
        per_pose[pose_id] = {"pass_pct": 100.0 * sum(passed) / max(n, 1), "failures": dict(kinds)}

    return {
        "photos": n,
        "crashes": Counter(r["error"]["stage"].split()[0] for r in records if r["error"]),
        "iou": _stats([r.get("iou") for r in records], within=lambda v: v >= IOU_TARGET, total=n),
        "corner_error_pct": _stats(
            [f["corner_error_pct"] if f else None for f in flat],
            within=lambda v: v <= CORNER_TARGET_PCT,
            total=n,
        ),
        "orientation": {
            "with_pallu": orient(with_pallu, "orientation_right"),
            "without_pallu_long_side_horizontal": orient(without_pallu, "orientation_right"),
            "all_long_side_horizontal": orient(records, "long_side_horizontal"),
        },
        "colour": {
            key: _stats([c.get(key) for c in colour], within=lambda v: v <= DELTA_E_TARGET, total=n)
            for key in ("de2000_plain", "de2000_flat_lit", "de76_plain", "de76_flat_lit")
        },
        "bands": {"borders": band(("border_top", "border_bottom")), "pallu": band(("pallu",))},
        "poses": per_pose,
        "all_poses_pass_pct": 100.0
        * sum(
            1 for r in records if r.get("poses") and all(p["passed"] for p in r["poses"].values())
        )
        / max(n, 1),
        "by_condition": _by_condition(records, len(pose_ids)),
        "worst": _worst(records),
    }


def _by_condition(records: list[dict], pose_count: int) -> list[dict]:
    """IoU / corner / orientation / pose figures per (difficulty, backdrop)."""
    rows = []
    for difficulty in DIFFICULTIES:
        for background in BACKGROUNDS:
            group = [
                r
                for r in records
                if r["photo"]["difficulty"] == difficulty and r["photo"]["background"] == background
            ]
            if not group:
                continue
            k = len(group)
            flats = [r.get("flatten") or {} for r in group]
            poses = [list((r.get("poses") or {}).values()) for r in group]
            rows.append(
                {
                    "difficulty": difficulty,
                    "background": background,
                    "n": k,
                    "iou_mean": float(np.mean([r.get("iou", 0.0) for r in group])),
                    "iou_ok_pct": 100.0 * sum(r.get("iou", 0.0) >= IOU_TARGET for r in group) / k,
                    "corner_ok_pct": 100.0
                    * sum(f.get("corner_error_pct", math.inf) <= CORNER_TARGET_PCT for f in flats)
                    / k,
                    "orientation_ok_pct": 100.0
                    * sum(bool(f.get("orientation_right")) for f in flats)
                    / k,
                    "pose_pass_pct": 100.0
                    * sum(p["passed"] for ps in poses for p in ps)
                    / max(k * pose_count, 1),
                }
            )
    return rows


def _worst(records: list[dict], count: int = 6) -> dict[str, list[dict]]:
    """The worst photos per measure (seed and conditions, to reproduce them)."""

    def who(r: dict, value) -> dict:
        p = r["photo"]
        return {
            "index": p["index"],
            "seed": p["seed"],
            "difficulty": p["difficulty"],
            "background": p["background"],
            "rotation": p["rotation"],
            "body": f"{p['body_family']}/{p['body_motif']}",
            "has_border": p["has_border"],
            "has_pallu": p["has_pallu"],
            "value": value,
        }

    def colour(r: dict) -> float:
        value = (r.get("colour") or {}).get("de2000_plain")
        return value if value is not None and math.isfinite(value) else math.inf

    def band_max(r: dict) -> float:
        b = r.get("bands")
        return max(v["error_pct"] for v in b.values()) if b else math.inf

    ranked = {
        "iou": sorted(records, key=lambda r: r.get("iou", -1.0))[:count],
        "corner_error_pct": sorted(
            records, key=lambda r: -(r.get("flatten") or {}).get("corner_error_pct", math.inf)
        )[:count],
        "band_error_pct": sorted(records, key=lambda r: -band_max(r))[:count],
        "de2000_plain": sorted(records, key=lambda r: -colour(r))[:count],
    }
    out = {
        "iou": [who(r, r.get("iou")) for r in ranked["iou"]],
        "corner_error_pct": [
            who(r, (r.get("flatten") or {}).get("corner_error_pct"))
            for r in ranked["corner_error_pct"]
        ],
        "band_error_pct": [who(r, band_max(r)) for r in ranked["band_error_pct"]],
        "de2000_plain": [who(r, colour(r)) for r in ranked["de2000_plain"]],
        "orientation": [
            who(r, (r.get("flatten") or {}).get("relabelling"))
            for r in records
            if not (r.get("flatten") or {}).get("orientation_right")
        ],
        "crashes": [who(r, r["error"]) for r in records if r["error"]],
    }
    return out


# ----------------------------------------------------------------------------- table
def _f(value: float, digits: int = 2) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def format_table(summary: dict, config: dict) -> str:
    """The printed report."""
    s = summary
    lines = [
        f"Stage accuracy on {s['photos']} generated photos ({config['photo_size'][0]}x"
        f"{config['photo_size'][1]} px, seed {config['seed']}; {config['with_border']} with "
        f"border, {config['with_pallu']} with pallu; crashes: {dict(s['crashes']) or 'none'})",
        "",
        f"{'stage':<9} {'measure':<44} {'mean':>7} {'min':>7} {'max':>7} {'share':>8}  target",
    ]

    def row(stage: str, name: str, st: dict, share_label: str, digits: int = 3) -> None:
        share = st.get("share_pct", math.nan)
        lines.append(
            f"{stage:<9} {name:<44} {_f(st['mean'], digits):>7} {_f(st['min'], digits):>7} "
            f"{_f(st['max'], digits):>7} {_f(share, 1):>7}%  {share_label}"
        )

    row("isolate", "mask IoU", s["iou"], f"share IoU >= {IOU_TARGET}", 4)
    row("flatten", "corner error (% of cloth size)", s["corner_error_pct"],
        f"share <= {CORNER_TARGET_PCT:g} %")  # fmt: skip
    colour_names = {
        "de2000_plain": "colour ΔE2000, plain areas",
        "de2000_flat_lit": "colour ΔE2000, plain flat-lit areas",
        "de76_plain": "colour ΔE76, plain areas",
        "de76_flat_lit": "colour ΔE76, plain flat-lit areas",
    }
    for key, name in colour_names.items():
        row("flatten", name, s["colour"][key], f"share mean <= {DELTA_E_TARGET:g}", 2)
    for key, name in (("borders", "border boundary error (% of height)"),
                      ("pallu", "pallu boundary error (% of length)")):  # fmt: skip
        row("extract", name, s["bands"][key], f"share <= {BAND_TARGET_PCT:g} %", 3)
    o = s["orientation"]
    lines += [
        "",
        f"orientation (target >= {ORIENTATION_TARGET_PCT:g} %):",
        f"  with pallu: long side horizontal + pallu right  {_f(o['with_pallu']['pct'], 1):>6}%"
        f"  (n={o['with_pallu']['n']})",
        f"  without pallu: long side horizontal            "
        f"{_f(o['without_pallu_long_side_horizontal']['pct'], 1):>6}%"
        f"  (n={o['without_pallu_long_side_horizontal']['n']})",
        f"  all photos: long side horizontal               "
        f"{_f(o['all_long_side_horizontal']['pct'], 1):>6}%  (n={o['all_long_side_horizontal']['n']})",
        "",
        "band presence right: borders "
        f"{_f(s['bands']['borders']['presence_right_pct'], 1)}%, pallu "
        f"{_f(s['bands']['pallu']['presence_right_pct'], 1)}%",
        "",
        "first-attempt validation pass rate per pose:",
        "  " + "  ".join(f"{pid:>5}" for pid in s["poses"]),
        "  " + "  ".join(f"{_f(p['pass_pct'], 1):>5}" for p in s["poses"].values()),
        f"  all 12 poses passed on the first attempt: {_f(s['all_poses_pass_pct'], 1)}% of photos",
    ]
    failing = {pid: p["failures"] for pid, p in s["poses"].items() if p["failures"]}
    if failing:
        lines.append("  failure kinds: " + "; ".join(
            f"{pid}: " + ", ".join(f"{k} x{v}" for k, v in kinds.items())
            for pid, kinds in failing.items()
        ))  # fmt: skip
    lines += [
        "",
        f"{'difficulty':<10} {'backdrop':<9} {'n':>4} {'IoU':>7} {'IoU ok':>7} {'corner ok':>10}"
        f" {'orient ok':>10} {'pose pass':>10}",
    ]
    for c in s["by_condition"]:
        lines.append(
            f"{c['difficulty']:<10} {c['background']:<9} {c['n']:>4} {_f(c['iou_mean'], 4):>7} "
            f"{_f(c['iou_ok_pct'], 0):>6}% {_f(c['corner_ok_pct'], 0):>9}% "
            f"{_f(c['orientation_ok_pct'], 0):>9}% {_f(c['pose_pass_pct'], 1):>9}%"
        )
    worst = s["worst"]
    lines += ["", "worst cases (seed difficulty/backdrop/turn body: value):"]
    for key in (
        "iou",
        "corner_error_pct",
        "de2000_plain",
        "band_error_pct",
        "orientation",
        "crashes",
    ):
        items = worst[key][:6]
        if not items:
            continue
        lines.append(
            f"  {key}: "
            + "; ".join(
                f"{w['seed']} {w['difficulty']}/{w['background']}/{w['rotation']} {w['body']}"
                + ("" if w["has_border"] else " no-border")
                + ("" if w["has_pallu"] else " no-pallu")
                + (f": {_f(w['value'], 3)}" if isinstance(w["value"], float) else f": {w['value']}")
                for w in items
            )
        )
    t = config.get("timing") or {}
    if t:
        lines += [
            "",
            "mean seconds per photo: "
            + ", ".join(f"{k} {v:.2f}" for k, v in t["mean_s"].items())
            + f"; wall {t['wall_s']:.0f} s with {config['workers']} worker(s)"
            + f" (≈ {t['mean_s'].get('cpu_total', math.nan) * config['photos'] / 2 / 60:.1f} min"
            + " of CPU per core on 2 idle cores)",
        ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def run(count: int, seed: int, workers: int) -> list[dict]:
    """Measure ``count`` photos, in photo order, on ``workers`` processes."""
    specs = photo_specs(count, seed)
    if workers <= 1:
        _worker_init()
        return [measure_photo(spec) for spec in specs]
    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
        return list(pool.map(measure_photo, specs, chunksize=1))


def _json_safe(value):
    """NaN/inf to None and numpy scalars to Python, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, 5) if math.isfinite(value) else None
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=DEFAULT_PHOTOS, help="photos to generate")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the first photo")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_PHOTOS} photos: a CI smoke run"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes (1 = in-process)")
    parser.add_argument("--out", default="bench-out", help="directory of stages.json")
    args = parser.parse_args(argv)
    count = QUICK_PHOTOS if args.quick else args.photos
    if count < 1:
        parser.error("--photos must be at least 1")

    start = time.perf_counter()
    records = run(count, args.seed, args.workers)
    wall = time.perf_counter() - start
    summary = summarise(records)
    stage_names = sorted({k for r in records for k in r["timing"]})
    config = {
        "photos": count,
        "seed": args.seed,
        "photo_size": list(PHOTO_SIZE),
        "cloth_length_px": CLOTH_LENGTH_PX,
        "difficulties": list(DIFFICULTIES),
        "backgrounds": list(BACKGROUNDS),
        "with_border": sum(r["photo"]["has_border"] for r in records),
        "with_pallu": sum(r["photo"]["has_pallu"] for r in records),
        "workers": args.workers,
        "targets": {
            "iou": IOU_TARGET,
            "corner_error_pct": CORNER_TARGET_PCT,
            "orientation_pct": ORIENTATION_TARGET_PCT,
            "delta_e": DELTA_E_TARGET,
            "band_error_pct": BAND_TARGET_PCT,
        },
        "timing": {
            "wall_s": wall,
            "mean_s": {
                k: float(np.mean([r["timing"][k] for r in records if k in r["timing"]]))
                for k in stage_names
            },
        },
    }
    print(format_table(summary, config))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timing = {**config.pop("timing"), "per_photo": [r.pop("timing") for r in records]}
    payload = {"config": config, "summary": summary, "records": records, "timing": timing}
    (out / "stages.json").write_text(json.dumps(_json_safe(payload), indent=1, allow_nan=False))
    print(f"\nwrote {out / 'stages.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
