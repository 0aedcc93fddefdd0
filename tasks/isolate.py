"""Isolate stage: cut the saree out of its upload (DESIGN §2).

``isolate(image, *, settings) -> (s_clean_rgba, mask, IsolateInfo)``

Two ways to a mask:

* **alpha** — the seller uploaded a cut-out (an alpha channel that is not all opaque): use it.
* **background model** — product photos show the cloth on a backdrop (floor, table, sheet) that
  is visible along the image margin. The margin is split into short segments; segments whose
  colour/texture agree are grouped, and the largest group that yields a plausible cloth is taken
  as the backdrop (segments where the cloth itself reaches the image edge are thereby left out).
  A small Gaussian mixture over Lab colour + local texture describes the backdrop; every pixel
  far from it (Mahalanobis) is cloth. A second pass refits the backdrop from everything outside
  the first mask, with a smooth position-dependent mean, so uneven light across the backdrop
  does not leak into the mask. The mask is cleaned (largest component, holes filled) at
  ``settings.segmentation_max_side_px`` and snapped to the image at full working resolution in
  a thin band around its outline.

GrabCut was measured at 4.7 s for 1024×768 and cut away patterned borders (DESIGN §12); this
whole stage stays around a tenth of a second for a 12 MP upload on 2 cores (see the report in
``tests/tasks/test_isolate.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sareeflow.errors import InvalidInput
from sareeflow.models import IsolateInfo
from sareeflow.settings import Settings

# ---------------------------------------------------------------- alpha uploads
ALPHA_OPAQUE_LEVEL = 250
"""Alpha values at or above this count as opaque (0-255)."""
ALPHA_MIN_TRANSPARENT_FRACTION = 0.005
"""An alpha channel is meaningful when at least this fraction of pixels is not opaque."""
ALPHA_CUT_LEVEL = 128
"""Alpha level (0-255) at which a soft cut-out edge becomes cloth."""

# ---------------------------------------------------------------- features
FEATURE_BLUR_SIGMA_PX = 1.0
"""Gaussian blur before Lab conversion at segmentation size (px): suppresses JPEG/sensor noise."""
TEXTURE_WINDOW_PX = 7
"""Window (px at segmentation size) of the local standard deviation of L used as texture."""
TEXTURE_WEIGHT = 1.0
"""Scale of the texture feature relative to Lab units."""

# ---------------------------------------------------------------- margin segments
MARGIN_STRIP_FRACTION = 0.012
"""Width of the margin strip as a fraction of the short side: thin, so a backdrop visible as a
narrow sliver beside a frame-filling cloth still counts."""
MIN_MARGIN_STRIP_PX = 3
SEGMENTS_PER_SIDE = 8
SEGMENT_LINK_DISTANCE = 8.0
"""Segments whose median Lab(+texture) differ by less than this (ΔE76 units) join one group."""
MIN_GROUP_COVERAGE = 0.12
"""Groups covering less of the margin than this are never taken as the whole backdrop."""
BACKDROP_MAJORITY = 0.5
"""A group covering at least this share of the margin is accepted without the centre check."""
CENTRE_BOX_FRACTION = 0.2
"""Side of the central box (fraction of the image) a minority backdrop's cloth must cover."""
CENTRE_MIN_COVER = 0.5

# ---------------------------------------------------------------- background model
BG_CLUSTERS = 4
KMEANS_ITERATIONS = 10
MAX_MODEL_SAMPLES = 8000
FEATURE_NOISE_FLOOR = np.array([1.2, 0.8, 0.8, 0.6], dtype=np.float32)
"""Std floor (Lab units, texture units) added to every backdrop cluster: keeps a perfectly flat
backdrop from making every faint noise pixel look like cloth."""
FOREGROUND_D2 = 25.0
"""Squared Mahalanobis distance from the backdrop beyond which a pixel is cloth
(χ²₄ ≈ 0.99997 quantile)."""
MIN_CLUSTER_WEIGHT = 0.03
"""Backdrop clusters holding less than this share of the samples are dropped as stray cloth."""
REFIT_EXCLUSION_PX = 4
"""Pixels within this distance of the first mask are kept out of the second backdrop fit."""

# ---------------------------------------------------------------- clean-up and refinement
OPEN_RADIUS_PX = 1
CLOSE_RADIUS_PX = 2
REFINE_BAND_SEG_PX = 5.0
"""Half width of the refinement band, in segmentation pixels: covers the blur and the texture
window that push the coarse outline outwards."""
REFINE_BLUR_SIGMA_PX = 1.0
"""Blur (px at working size) before the band's colour decision."""
REFINE_CLUSTERS = 3
REFINE_SMOOTH_RADIUS_PX = 2
"""Opening/closing radius (px at working size) that smooths the refined outline."""

# ---------------------------------------------------------------- decision
MIN_FOREGROUND_FRACTION = 0.05
MAX_FOREGROUND_FRACTION = 0.995

NO_CLOTH_MESSAGE = (
    "We could not find a saree in this photo. Please photograph the saree laid flat on a plain "
    "surface that differs from the cloth, with a little space around it."
)


@dataclass(frozen=True)
class BackdropModel:
    """Gaussian clusters describing the backdrop in feature space, after removing a smooth
    position-dependent mean (``trend``, coefficients per Lab channel; zero on the first pass)."""

    means: np.ndarray  # (K, D)
    inv_covs: np.ndarray  # (K, D, D)
    trend: np.ndarray  # (6, 3) quadratic surface coefficients in normalised x, y


# ================================================================ public API
def isolate(image: np.ndarray, *, settings: Settings) -> tuple[np.ndarray, np.ndarray, IsolateInfo]:
    """Cut the cloth out of a normalised upload.

    Parameters
    ----------
    image : RGB or RGBA ``uint8`` array, ``H x W x 3|4``.
    settings : the one Settings object (``work_max_side_px``, ``segmentation_max_side_px``).

    Returns
    -------
    s_clean : RGBA ``uint8``, long side ≤ ``settings.work_max_side_px``; alpha is the mask.
    mask : ``uint8`` 0/255, same size.
    info : :class:`IsolateInfo`.

    Raises
    ------
    InvalidInput : when no cloth can be told apart from its surroundings.
    """
    rgb, alpha = _split_upload(image)
    work_rgb = _resize_long_side(rgb, settings.work_max_side_px)
    notes: list[str] = []
    if alpha is not None and _alpha_is_meaningful(alpha):
        work_alpha = _resize_long_side(alpha, settings.work_max_side_px)
        mask = np.where(work_alpha >= ALPHA_CUT_LEVEL, 255, 0).astype(np.uint8)
        method = "alpha"
        confidence = 1.0
        notes.append("The upload's own transparency was used as the cut-out.")
    else:
        mask, confidence, notes = segment_cloth(work_rgb, settings=settings)
        method = "background_model"
    fraction = float(np.count_nonzero(mask)) / mask.size
    if not MIN_FOREGROUND_FRACTION <= fraction <= MAX_FOREGROUND_FRACTION:
        raise InvalidInput(
            NO_CLOTH_MESSAGE, detail=f"isolate: foreground fraction {fraction:.4f} ({method})"
        )
    s_clean = np.dstack([work_rgb, mask])
    info = IsolateInfo(
        method=method,
        foreground_fraction=round(fraction, 6),
        confidence=round(float(confidence), 4),
        notes=notes,
    )
    return s_clean, mask, info


def segment_cloth(rgb: np.ndarray, *, settings: Settings) -> tuple[np.ndarray, float, list[str]]:
    """Mask (``uint8`` 0/255, size of ``rgb``) of the cloth against a backdrop seen in the margin.

    Returns the mask, a confidence in [0, 1] and plain notes. Raises :class:`InvalidInput` when
    no backdrop hypothesis gives a plausible cloth.
    """
    small = _resize_long_side(rgb, settings.segmentation_max_side_px)
    feats = _features(small)
    segments = _margin_segments(small.shape[:2])
    groups = _group_segments(feats, segments)
    n_seg = len(segments)
    best: tuple[np.ndarray, BackdropModel, float] | None = None
    for group in groups:
        coverage = len(group) / n_seg
        if coverage < MIN_GROUP_COVERAGE:
            break
        samples = np.concatenate([feats[segments[i]].reshape(-1, feats.shape[-1]) for i in group])
        model = _fit_backdrop(samples, trend=np.zeros((6, 3), np.float32))
        if model is None:
            continue
        coarse = _clean_mask(_distance2(feats, model) > FOREGROUND_D2)
        if not _plausible(coarse, coverage):
            continue
        best = (coarse, model, coverage)
        break
    if best is None:
        raise InvalidInput(NO_CLOTH_MESSAGE, detail="isolate: no plausible backdrop hypothesis")
    coarse, model, coverage = best
    refined_model = _refit_backdrop(feats, coarse)
    if refined_model is not None:
        second = _clean_mask(_distance2(feats, refined_model) > FOREGROUND_D2)
        if _plausible(second, coverage):
            coarse, model = second, refined_model
    d2_small = _distance2(feats, model)
    mask = _refine_to_full(rgb, coarse)
    notes: list[str] = []
    if coverage < 1.0:
        notes.append(
            f"The cloth reaches the photo's edge along about {100 * (1 - coverage):.0f}% of the "
            "margin; there the cut-out follows the photo's edge."
        )
    confidence = _confidence(d2_small, coarse, coverage)
    return mask, confidence, notes


# ================================================================ upload handling
def _split_upload(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise InvalidInput("The photo could not be read as an 8-bit image.")
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise InvalidInput("The photo must be a colour image (RGB or RGBA).")
    if image.shape[2] == 4:
        return np.ascontiguousarray(image[..., :3]), np.ascontiguousarray(image[..., 3])
    return image, None


def _alpha_is_meaningful(alpha: np.ndarray) -> bool:
    """True when the alpha channel marks something transparent (a cut-out), not all opaque."""
    transparent = np.count_nonzero(alpha < ALPHA_OPAQUE_LEVEL)
    return transparent >= ALPHA_MIN_TRANSPARENT_FRACTION * alpha.size


def _resize_long_side(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink (INTER_AREA) so the long side is at most ``max_side``; never enlarge."""
    h, w = image.shape[:2]
    long_side = max(h, w)
    if long_side <= max_side:
        return image
    scale = max_side / long_side
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


# ================================================================ features
def _lab(rgb: np.ndarray, blur_sigma: float) -> np.ndarray:
    """CIELAB float32 (L 0-100) of a lightly blurred RGB image."""
    f = rgb.astype(np.float32) * np.float32(1 / 255)
    if blur_sigma > 0:
        f = cv2.GaussianBlur(f, (0, 0), blur_sigma)
    return cv2.cvtColor(f, cv2.COLOR_RGB2Lab)


def _features(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel features ``(L, a, b, texture)`` float32, ``H x W x 4``.

    Texture is the local standard deviation of L: a woven or printed cloth and a plain backdrop
    of the same colour still differ in it.
    """
    lab = _lab(rgb, FEATURE_BLUR_SIGMA_PX)
    lum = lab[..., 0]
    k = (TEXTURE_WINDOW_PX, TEXTURE_WINDOW_PX)
    mean = cv2.blur(lum, k)
    mean_sq = cv2.blur(lum * lum, k)
    texture = np.sqrt(np.maximum(mean_sq - mean * mean, 0)) * np.float32(TEXTURE_WEIGHT)
    return np.dstack([lab, texture]).astype(np.float32)


# ================================================================ margin hypotheses
def _margin_segments(shape: tuple[int, int]) -> list[tuple[slice, slice]]:
    """Short pieces of a thin strip along the image edge, in order around the perimeter."""
    h, w = shape
    strip = max(MIN_MARGIN_STRIP_PX, round(MARGIN_STRIP_FRACTION * min(h, w)))
    segments: list[tuple[slice, slice]] = []
    xs = np.linspace(0, w, SEGMENTS_PER_SIDE + 1).round().astype(int)
    ys = np.linspace(0, h, SEGMENTS_PER_SIDE + 1).round().astype(int)
    for i in range(SEGMENTS_PER_SIDE):
        segments.append((slice(0, strip), slice(xs[i], xs[i + 1])))
    for i in range(SEGMENTS_PER_SIDE):
        segments.append((slice(ys[i], ys[i + 1]), slice(w - strip, w)))
    for i in reversed(range(SEGMENTS_PER_SIDE)):
        segments.append((slice(h - strip, h), slice(xs[i], xs[i + 1])))
    for i in reversed(range(SEGMENTS_PER_SIDE)):
        segments.append((slice(ys[i], ys[i + 1]), slice(0, strip)))
    return segments


def _group_segments(feats: np.ndarray, segments: list[tuple[slice, slice]]) -> list[list[int]]:
    """Single-linkage groups of margin segments by their median features, largest first.

    Medians, not means: a segment half backdrop half cloth then sides with its majority instead
    of forming a bridge between the two.
    """
    medians = np.array([np.median(feats[s].reshape(-1, 4), axis=0) for s in segments])
    n = len(segments)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    dist = np.linalg.norm(medians[:, None, :] - medians[None, :, :], axis=2)
    for i in range(n):
        for j in range(i + 1, n):
            if dist[i, j] < SEGMENT_LINK_DISTANCE:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def _plausible(mask: np.ndarray, coverage: float) -> bool:
    """Whether a coarse mask looks like a cloth on this backdrop hypothesis."""
    fraction = float(np.count_nonzero(mask)) / mask.size
    if not MIN_FOREGROUND_FRACTION <= fraction <= MAX_FOREGROUND_FRACTION:
        return False
    if coverage >= BACKDROP_MAJORITY:
        return True
    h, w = mask.shape
    bh, bw = max(1, round(h * CENTRE_BOX_FRACTION)), max(1, round(w * CENTRE_BOX_FRACTION))
    y0, x0 = (h - bh) // 2, (w - bw) // 2
    centre = mask[y0 : y0 + bh, x0 : x0 + bw]
    return float(np.count_nonzero(centre)) / centre.size >= CENTRE_MIN_COVER


# ================================================================ backdrop model
def _kmeans(samples: np.ndarray, k: int) -> np.ndarray:
    """Deterministic k-means labels: farthest-point initialisation, Lloyd iterations."""
    centres = [samples[np.argmin(np.linalg.norm(samples - np.median(samples, 0), axis=1))]]
    for _ in range(1, k):
        d = np.min(
            np.linalg.norm(samples[:, None, :] - np.array(centres)[None], axis=2), axis=1
        )
        centres.append(samples[int(np.argmax(d))])
    c = np.array(centres, dtype=np.float32)
    labels = np.zeros(len(samples), dtype=np.int64)
    for _ in range(KMEANS_ITERATIONS):
        d = np.linalg.norm(samples[:, None, :] - c[None], axis=2)
        labels = np.argmin(d, axis=1)
        for j in range(k):
            members = samples[labels == j]
            if len(members):
                c[j] = members.mean(0)
    return labels


def _subsample(samples: np.ndarray) -> np.ndarray:
    if len(samples) <= MAX_MODEL_SAMPLES:
        return samples
    step = len(samples) / MAX_MODEL_SAMPLES
    return samples[(np.arange(MAX_MODEL_SAMPLES) * step).astype(np.int64)]


def _fit_backdrop(samples: np.ndarray, *, trend: np.ndarray) -> BackdropModel | None:
    """Gaussian clusters of backdrop samples (already detrended)."""
    samples = _subsample(samples.reshape(-1, samples.shape[-1]).astype(np.float32))
    if len(samples) < BG_CLUSTERS * 10:
        return None
    labels = _kmeans(samples, BG_CLUSTERS)
    means, inv_covs = [], []
    floor = np.diag(FEATURE_NOISE_FLOOR.astype(np.float64) ** 2)
    for j in range(BG_CLUSTERS):
        members = samples[labels == j].astype(np.float64)
        if len(members) < MIN_CLUSTER_WEIGHT * len(samples) or len(members) < 5:
            continue
        cov = np.cov(members, rowvar=False) + floor
        means.append(members.mean(0))
        inv_covs.append(np.linalg.inv(cov))
    if not means:
        return None
    return BackdropModel(
        means=np.array(means, np.float32), inv_covs=np.array(inv_covs, np.float32), trend=trend
    )


def _trend_basis(shape: tuple[int, int]) -> np.ndarray:
    """Quadratic polynomial basis in normalised coordinates, ``H x W x 6``."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x = x / max(w - 1, 1) - 0.5
    y = y / max(h - 1, 1) - 0.5
    return np.dstack([np.ones_like(x), x, y, x * x, x * y, y * y])


def _detrended(feats: np.ndarray, trend: np.ndarray) -> np.ndarray:
    if not np.any(trend):
        return feats
    surface = _trend_basis(feats.shape[:2]) @ trend  # H x W x 3
    out = feats.copy()
    out[..., :3] -= surface
    return out


def _refit_backdrop(feats: np.ndarray, mask: np.ndarray) -> BackdropModel | None:
    """Backdrop model from everything outside the first mask, with a smooth Lab trend."""
    size = 2 * REFIT_EXCLUSION_PX + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    outside = cv2.dilate(mask, kernel) == 0
    if np.count_nonzero(outside) < BG_CLUSTERS * 50:
        return None
    basis = _trend_basis(feats.shape[:2])[outside]
    values = feats[outside][:, :3]
    idx = (np.arange(min(len(values), 4 * MAX_MODEL_SAMPLES)) * (len(values) / min(len(values), 4 * MAX_MODEL_SAMPLES))).astype(np.int64)
    trend, *_ = np.linalg.lstsq(basis[idx].astype(np.float64), values[idx].astype(np.float64), rcond=None)
    trend = trend.astype(np.float32)
    detrended = _detrended(feats, trend)
    return _fit_backdrop(detrended[outside], trend=trend)


def _distance2(feats: np.ndarray, model: BackdropModel) -> np.ndarray:
    """Smallest squared Mahalanobis distance of each pixel to a backdrop cluster, ``H x W``."""
    x = _detrended(feats, model.trend).reshape(-1, feats.shape[-1])
    best = np.full(len(x), np.inf, dtype=np.float32)
    for mean, inv in zip(model.means, model.inv_covs, strict=True):
        diff = x - mean
        d2 = np.einsum("ij,jk,ik->i", diff, inv, diff, optimize=True)
        np.minimum(best, d2, out=best)
    return best.reshape(feats.shape[:2])


# ================================================================ clean-up
def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _solid_largest(mask: np.ndarray) -> np.ndarray:
    """The largest connected piece of a 0/255 mask with its holes filled.

    Drawn from its outer contour: one pass, much cheaper than labelling plus a fill-holes
    dilation at working resolution.
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros_like(mask)
    if not contours:
        return out
    areas = [cv2.contourArea(c) for c in contours]
    cv2.drawContours(out, contours, int(np.argmax(areas)), 255, thickness=cv2.FILLED)
    return out


def _clean_mask(fg: np.ndarray) -> np.ndarray:
    """Open away speckle, close small gaps, keep the largest piece, fill its holes."""
    mask = np.where(fg, 255, 0).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _disk(OPEN_RADIUS_PX))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _disk(CLOSE_RADIUS_PX))
    return _solid_largest(mask)


def _refine_to_full(rgb: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Upsample the coarse mask and re-decide every pixel in a band around its outline.

    The coarse mask sits a few segmentation pixels off the true edge (blur and the texture window
    reach across it). In the band, two small colour mixtures are fitted at full resolution, one
    to the cloth just inside the band and one to the backdrop just outside, and each band pixel
    goes to the likelier one: the edge lands where the colour changes, to about a pixel.
    """
    h, w = rgb.shape[:2]
    scale = max(h / coarse.shape[0], w / coarse.shape[1])
    up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    up = np.where(up >= 128, 255, 0).astype(np.uint8)
    band_r = max(2, int(np.ceil(REFINE_BAND_SEG_PX * scale)))
    # distances to the outline (px) instead of large structuring elements: far cheaper
    dist_in = cv2.distanceTransform(up, cv2.DIST_L2, 3)
    dist_out = cv2.distanceTransform(255 - up, cv2.DIST_L2, 3)
    band = (dist_in <= band_r) & (dist_out <= band_r)
    if not np.any(band):
        return up
    ys, xs = np.nonzero(dist_out <= 2 * band_r)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = (slice(y0, y1), slice(x0, x1))
    lab = _lab(rgb[crop], REFINE_BLUR_SIGMA_PX)
    d_in, d_out, band_c = dist_in[crop], dist_out[crop], band[crop]
    cloth_ring = (d_in > band_r) & (d_in <= 2 * band_r)
    back_ring = (d_out > band_r) & (d_out <= 2 * band_r)
    cloth_model = _fit_mixture(lab[cloth_ring])
    back_model = _fit_mixture(lab[back_ring])
    if cloth_model is None or back_model is None:
        return up
    pixels = lab[band_c]
    is_cloth = _log_likelihood(pixels, cloth_model) > _log_likelihood(pixels, back_model)
    decided = d_in > band_r
    decided[band_c] = is_cloth
    local = np.where(decided, 255, 0).astype(np.uint8)
    local = cv2.morphologyEx(local, cv2.MORPH_OPEN, _disk(REFINE_SMOOTH_RADIUS_PX))
    local = cv2.morphologyEx(local, cv2.MORPH_CLOSE, _disk(REFINE_SMOOTH_RADIUS_PX))
    mask = np.zeros_like(up)
    mask[crop] = _solid_largest(local)
    return mask


@dataclass(frozen=True)
class Mixture:
    """Gaussian mixture in Lab: weights, means, inverse covariances, log-determinants."""

    log_weights: np.ndarray
    means: np.ndarray
    inv_covs: np.ndarray
    log_dets: np.ndarray


def _fit_mixture(samples: np.ndarray) -> Mixture | None:
    """Hard-assignment Gaussian mixture (k-means clusters) of Lab samples."""
    samples = _subsample(samples.astype(np.float32))
    if len(samples) < REFINE_CLUSTERS * 10:
        return None
    labels = _kmeans(samples, REFINE_CLUSTERS)
    floor = np.diag(FEATURE_NOISE_FLOOR[:3].astype(np.float64) ** 2)
    log_w, means, invs, dets = [], [], [], []
    for j in range(REFINE_CLUSTERS):
        members = samples[labels == j].astype(np.float64)
        if len(members) < 5:
            continue
        cov = np.cov(members, rowvar=False) + floor
        log_w.append(np.log(len(members) / len(samples)))
        means.append(members.mean(0))
        invs.append(np.linalg.inv(cov))
        dets.append(np.linalg.slogdet(cov)[1])
    return Mixture(
        np.array(log_w, np.float32),
        np.array(means, np.float32),
        np.array(invs, np.float32),
        np.array(dets, np.float32),
    )


def _log_likelihood(x: np.ndarray, mix: Mixture) -> np.ndarray:
    """Largest component log-density (up to a shared constant) of each sample."""
    best = np.full(len(x), -np.inf, dtype=np.float32)
    for lw, mean, inv, ld in zip(mix.log_weights, mix.means, mix.inv_covs, mix.log_dets, strict=True):
        diff = x - mean
        d2 = np.einsum("ij,jk,ik->i", diff, inv, diff, optimize=True)
        np.maximum(best, lw - 0.5 * (d2 + ld), out=best)
    return best


def _confidence(d2: np.ndarray, mask: np.ndarray, coverage: float) -> float:
    """How cleanly the cloth stands apart from the backdrop, in [0, 1].

    The share of the outline where the cloth is clearly (≥ 4× the threshold) away from the
    backdrop just inside the edge, scaled down when the cloth reaches the photo's edge.
    """
    ring = (cv2.erode(mask, _disk(2)) > 0) & ~(cv2.erode(mask, _disk(4)) > 0)
    if not np.any(ring):
        return 0.0
    clear = float(np.mean(d2[ring] > 4 * FOREGROUND_D2))
    return float(np.clip(clear * (0.5 + 0.5 * coverage), 0.0, 1.0))
