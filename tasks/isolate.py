"""Isolate stage: cut the saree out of its upload (DESIGN §2).

``isolate(image, *, settings) -> (s_clean_rgba, mask, IsolateInfo)``

Two ways to a mask:

* **alpha** — the seller uploaded a cut-out (an alpha channel that is not all opaque): use it.
* **background model** — a product photo shows the cloth on a backdrop (floor, table, sheet)
  that is visible along the image margin. At ``settings.segmentation_max_side_px``:

  1. The margin is cut into short segments. The backdrop is the margin's majority: segments
     that look like the margin's medoid, extended along the perimeter in small steps (so a
     gradual fall-off of light follows along, a jump onto cloth does not). Segments where the
     cloth reaches the photo's edge are left out. When no surface shows along most of the
     margin, the cloth is taken to fill the frame (close-up shots).
  2. A few Gaussian clusters over (L, a, b, local texture) describe the backdrop. Each cluster
     may be lit more or less brightly than in the margin (uneven light, the cloth's soft drop
     shadow): scaling the light scales ``(L + 16, a, b)`` of CIELAB by one factor, so a cluster
     is a short *ray* in colour space, not a point. Pixels far from every ray are cloth.
  3. Clean-up: small speckle opened away; the convex hull of the large pieces is taken when the
     area it adds is itself unlike the backdrop (a plain body close to the backdrop's colour,
     framed by borders and pallu), else the largest piece with its holes filled. A second pass
     refits the backdrop from everything outside that first mask.

  The mask is then upsampled to working size and, in a thin band around its outline, every
  pixel is decided again at full resolution between a colour mixture of the cloth just inside
  and one of the backdrop just outside; the edge lands where the colour changes.

GrabCut took 5-20 s here and cut away patterned borders (DESIGN §2/§12). This stage measured
0.35-0.45 s of CPU (0.4-0.7 s wall on the shared 2-core machine) for a 12 MP upload, a sixth of
it the INTER_AREA resize to working size; about 0.15-0.3 s for a 1600x1200 photo. On 100
generated photos (normal and hard) the mask IoU was 0.987-0.999 (mean 0.992).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from sareeflow.errors import InvalidInput
from sareeflow.models import IsolateInfo
from sareeflow.prepared import write_prepared
from sareeflow.settings import Settings
from sareeflow.store import ArtifactRecord, Store

# ---------------------------------------------------------------- alpha uploads
ALPHA_OPAQUE_LEVEL = 250
"""Alpha values at or above this count as opaque (0-255)."""
ALPHA_MIN_TRANSPARENT_FRACTION = 0.005
"""An alpha channel is meaningful when at least this fraction of its pixels is not opaque."""
ALPHA_CUT_LEVEL = 128
"""Alpha level (0-255) from which a soft cut-out edge counts as cloth."""

# ---------------------------------------------------------------- features
FEATURE_BLUR_SIGMA_PX = 1.0
"""Gaussian blur (px at segmentation size) before Lab conversion: suppresses JPEG/sensor noise."""
TEXTURE_DETAIL_SIGMA_PX = 2.0
"""Blur (px at segmentation size) whose residual is L's fine detail."""
TEXTURE_WINDOW_PX = 5
"""Window (px at segmentation size) over which the fine detail's RMS is the texture."""
LAB_BLACK_OFFSET = 16.0
"""CIELAB's L = 116 f(Y) - 16: scaling the light scales ``(L + 16, a, b)`` by one factor."""

# ---------------------------------------------------------------- margin segments
MARGIN_STRIP_FRACTION = 0.012
"""Width of the margin strip, fraction of the short side: thin, so a backdrop that shows only
as a narrow sliver beside a large cloth still counts."""
MIN_MARGIN_STRIP_PX = 3
SEGMENTS_PER_SIDE = 8
DESCRIPTOR_WEIGHTS = np.array([1.5, 1.5, 0.15, 2.0], dtype=np.float32)
"""Weights of the light-invariant segment descriptor ``(100 a/(L+16), 100 b/(L+16),
100 ln(L+16), texture)``: hue ratios dominate (a shadow or uneven light changes the brightness of
a backdrop, not its hue ratios); a 20 % brightness change costs about 2.7 units."""
SEGMENT_LINK_DISTANCE = 6.0
"""Segments whose descriptor medians differ by less than this look alike."""
SEGMENT_STEP_DISTANCE = 4.0
"""Largest step between perimeter neighbours when following the backdrop around the margin."""
SEGMENT_CORRELATED_PX = 10.0
"""Pixels per independent sample in a segment (the feature blur and texture window correlate
neighbours)."""
SEGMENT_SIGNIFICANCE = 3.0
"""Segment differences below this many standard errors of their medians are ignored."""
SAMPLE_TRIM_DISTANCE = 10.0
"""Backdrop samples whose descriptor is farther than this from their segment's median are
dropped (the cloth's pixels in a segment its edge crosses)."""
BACKDROP_MAJORITY = 0.5
"""The backdrop must show along more than this share of the margin; otherwise the cloth is
taken to fill the frame."""
FULL_FRAME_CONFIDENCE = 0.3
"""Confidence of a full-frame result at best: nothing confirms where the cloth ends."""

# ---------------------------------------------------------------- backdrop model
BG_CLUSTERS = 4
KMEANS_ITERATIONS = 10
MAX_MODEL_SAMPLES = 6000
FEATURE_NOISE_FLOOR = np.array([0.8, 0.5, 0.5, 0.3], dtype=np.float32)
"""Std floor added to every cluster (L, a, b in ΔE units, texture in L units): keeps a flat
synthetic backdrop from turning every faint noise pixel into cloth."""
MIN_CLUSTER_SHARE = 0.03
"""Backdrop clusters holding less than this share of the samples are dropped as strays."""
LIGHT_SCALE_RANGE = (0.6, 1.15)
"""Factor by which ``(L + 16, a, b)`` of a backdrop colour may scale: down to 0.6 covers soft
shadows and light falling off to about half the margin's brightness (sRGB values × ~0.5), up to
1.15 a hot spot about 20 % brighter than the margin."""
FOREGROUND_D2 = 25.0
"""Squared Mahalanobis distance from the backdrop beyond which a pixel is cloth
(χ² with 4 degrees of freedom: p ≈ 3e-5 for a true backdrop pixel)."""
REFIT_EXCLUSION_PX = 4
"""Pixels within this distance (segmentation px) of the first mask stay out of the refit."""

# ---------------------------------------------------------------- clean-up and refinement
OPEN_RADIUS_PX = 1
CLOSE_RADIUS_PX = 2
HULL_PIECE_MIN_FRACTION = 0.01
"""Pieces of the mask at least this share of the image join the convex-hull candidate."""
HULL_FILL_MIN_RATIO = 4.0
"""The hull's added area must have its lower quartile of backdrop distance above this multiple
of the backdrop's own median..."""
HULL_FILL_MIN_D2 = 2.0
"""...and above this absolute squared distance."""
REFINE_BAND_SEG_PX = 5.0
"""Half width of the refinement band in segmentation pixels: covers the blur and the texture
window that push the coarse outline outwards."""
REFINE_BLUR_SIGMA_PX = 1.0
"""Blur (px at working size) before the band's colour decision."""
REFINE_CLUSTERS = 3
REFINE_SMOOTH_RADIUS_PX = 2
"""Opening/closing radius (px at working size) that smooths the refined outline."""
CONFIDENT_D2_FACTOR = 4.0
"""An outline pixel is surely cloth when its backdrop distance reaches this × FOREGROUND_D2."""

# ---------------------------------------------------------------- decision
MIN_FOREGROUND_FRACTION = 0.05
MAX_FOREGROUND_FRACTION = 0.995

NO_CLOTH_MESSAGE = (
    "We could not find a saree in this photo. Please photograph the saree laid flat on a plain "
    "surface that differs from the cloth, with a little space around it."
)


@dataclass(frozen=True)
class Mixture:
    """Hard-assignment Gaussian mixture. With ``light_range`` each cluster is a ray: its mean
    may scale (``(L+16, a, b)`` by a factor in the range) before the distance is taken."""

    log_weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, D)
    inv_covs: np.ndarray  # (K, D, D)
    log_dets: np.ndarray  # (K,)
    light_range: tuple[float, float] | None


# ================================================================ public API
def isolate(image: np.ndarray, *, settings: Settings) -> tuple[np.ndarray, np.ndarray, IsolateInfo]:
    """Cut the cloth out of a normalised upload.

    Parameters
    ----------
    image : RGB or RGBA ``uint8`` array, ``H x W x 3|4``.
    settings : the one Settings object (``work_max_side_px``, ``segmentation_max_side_px``).

    Returns
    -------
    s_clean : RGBA ``uint8``, long side ≤ ``settings.work_max_side_px`` (INTER_AREA); its alpha
        is the mask, its colour the untouched upload (also outside the cloth).
    mask : ``uint8`` 0/255, same size.
    info : :class:`IsolateInfo`.

    Raises
    ------
    InvalidInput : when no cloth can be told apart from its surroundings.
    """
    rgb, alpha = _split_upload(image)
    work_rgb = _resize_long_side(rgb, settings.work_max_side_px)
    full_frame = False
    mask = None
    if alpha is not None and _alpha_is_meaningful(alpha):
        work_alpha = _resize_long_side(alpha, settings.work_max_side_px)
        mask = np.where(work_alpha >= ALPHA_CUT_LEVEL, 255, 0).astype(np.uint8)
        if not _plausible(mask):  # e.g. only faintly transparent: not a cut-out after all
            mask = None
    if mask is not None:
        method = "alpha"
        confidence = 1.0
        notes = ["The upload's own transparency was used as the cut-out."]
    else:
        mask, confidence, notes = segment_cloth(work_rgb, settings=settings)
        method = "background_model"
        full_frame = bool(np.all(mask))
    fraction = float(np.count_nonzero(mask)) / mask.size
    plausible = MIN_FOREGROUND_FRACTION <= fraction <= MAX_FOREGROUND_FRACTION
    if not (plausible or full_frame):
        raise InvalidInput(
            NO_CLOTH_MESSAGE, detail=f"isolate: foreground fraction {fraction:.4f} ({method})"
        )
    s_clean = np.dstack([work_rgb, mask])
    info = IsolateInfo(
        method=method,
        foreground_fraction=round(fraction, 6),
        confidence=round(float(np.clip(confidence, 0.0, 1.0)), 4),
        notes=notes,
    )
    return s_clean, mask, info


def segment_cloth(rgb: np.ndarray, *, settings: Settings) -> tuple[np.ndarray, float, list[str]]:
    """Mask (``uint8`` 0/255, size of ``rgb``) of the cloth against a backdrop seen in the margin.

    Returns the mask, a confidence in [0, 1] and plain notes. When no single surface shows along
    most of the margin the whole frame is returned (close-up product shots). Raises
    :class:`InvalidInput` when the margin is one surface and nothing stands apart from it (a
    blank or uniform picture).
    """
    small = _resize_long_side(rgb, settings.segmentation_max_side_px)
    feats = _features(small)
    desc = _descriptors(feats)
    segments = _margin_segments(small.shape[:2])
    medians, scatter = _segment_statistics(desc, segments)
    chosen = _backdrop_segments(medians, scatter)
    coverage = len(chosen) / len(segments)
    if coverage <= BACKDROP_MAJORITY:
        return _full_frame(rgb.shape[:2], coverage)

    samples = _backdrop_samples(feats, desc, segments, medians, chosen)
    model = _fit_mixture(samples, BG_CLUSTERS, FEATURE_NOISE_FLOOR, LIGHT_SCALE_RANGE)
    if model is None:
        raise InvalidInput(NO_CLOTH_MESSAGE, detail="isolate: too few backdrop samples")
    d2 = _distance2(feats, model)
    typical = float(np.median(_distance2(samples[:, None, :], model)))
    coarse = _clean_mask(d2, typical)
    if not _plausible(coarse):
        raise InvalidInput(NO_CLOTH_MESSAGE, detail="isolate: nothing stands apart from the margin")
    outside = cv2.dilate(coarse, _disk(REFIT_EXCLUSION_PX)) == 0
    refit = _fit_mixture(feats[outside], BG_CLUSTERS, FEATURE_NOISE_FLOOR, LIGHT_SCALE_RANGE)
    if refit is not None:
        d2_refit = _distance2(feats, refit)
        second = _clean_mask(d2_refit, float(np.median(d2_refit[outside])))
        if _plausible(second):
            coarse, d2 = second, d2_refit

    mask = _refine_to_full(rgb, coarse)
    notes: list[str] = []
    if coverage < 1.0:
        notes.append(
            f"About {100 * (1 - coverage):.0f}% of the photo's edge did not look like the "
            "backdrop (the cloth may reach the edge there); the cut-out follows the photo's edge "
            "where the cloth does."
        )
    return mask, _confidence(d2, coarse, coverage), notes


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
    if max(h, w) <= max_side:
        return image
    scale = max_side / max(h, w)
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
    """Per-pixel ``(L, a, b, texture)`` float32, ``H x W x 4``.

    Texture is the local RMS of L's fine detail (L minus a blurred L): a woven or printed cloth
    and a plain backdrop of the same colour still differ in it, while the smooth ramp of a soft
    shadow or of uneven light has none.
    """
    lab = _lab(rgb, FEATURE_BLUR_SIGMA_PX)
    lum = lab[..., 0]
    detail = lum - cv2.GaussianBlur(lum, (0, 0), TEXTURE_DETAIL_SIGMA_PX)
    k = (TEXTURE_WINDOW_PX, TEXTURE_WINDOW_PX)
    texture = np.sqrt(cv2.blur(detail * detail, k))
    return np.dstack([lab, texture]).astype(np.float32)


def _descriptors(feats: np.ndarray) -> np.ndarray:
    """Light-invariant weighted descriptors ``H x W x 4`` (see ``DESCRIPTOR_WEIGHTS``)."""
    base = feats[..., 0] + np.float32(LAB_BLACK_OFFSET)
    desc = np.dstack(
        [100 * feats[..., 1] / base, 100 * feats[..., 2] / base, 100 * np.log(base), feats[..., 3]]
    )
    return (desc * DESCRIPTOR_WEIGHTS).astype(np.float32)


# ================================================================ the backdrop in the margin
def _margin_segments(shape: tuple[int, int]) -> list[tuple[slice, slice]]:
    """Short pieces of a thin strip along the image edge, in order around the perimeter."""
    h, w = shape
    strip = max(MIN_MARGIN_STRIP_PX, round(MARGIN_STRIP_FRACTION * min(h, w)))
    xs = np.linspace(0, w, SEGMENTS_PER_SIDE + 1).round().astype(int)
    ys = np.linspace(0, h, SEGMENTS_PER_SIDE + 1).round().astype(int)
    top = [(slice(0, strip), slice(xs[i], xs[i + 1])) for i in range(SEGMENTS_PER_SIDE)]
    right = [(slice(ys[i], ys[i + 1]), slice(w - strip, w)) for i in range(SEGMENTS_PER_SIDE)]
    bottom = [(slice(h - strip, h), slice(xs[i], xs[i + 1])) for i in range(SEGMENTS_PER_SIDE)]
    left = [(slice(ys[i], ys[i + 1]), slice(0, strip)) for i in range(SEGMENTS_PER_SIDE)]
    return top + right + bottom[::-1] + left[::-1]


def _segment_statistics(
    desc: np.ndarray, segments: list[tuple[slice, slice]]
) -> tuple[np.ndarray, np.ndarray]:
    """Per margin segment: the median descriptor and the standard error of that median.

    The standard error (robust spread / √ effective samples) keeps a very noisy surface from
    looking like many different ones just because its medians wander.
    """
    medians, scatter = [], []
    for sl in segments:
        values = desc[sl].reshape(-1, desc.shape[-1])
        med = np.median(values, axis=0)
        spread = 1.4826 * np.median(np.abs(values - med), axis=0)
        n_eff = max(len(values) / SEGMENT_CORRELATED_PX, 1.0)
        medians.append(med)
        scatter.append(1.2533 * float(np.linalg.norm(spread)) / np.sqrt(n_eff))
    return np.array(medians), np.array(scatter)


def _backdrop_segments(medians: np.ndarray, scatter: np.ndarray) -> list[int]:
    """Indices of the margin segments that show the backdrop.

    The seed is the margin's medoid (smallest median distance to the other segments): typical of
    the majority, never a transition segment. Segments within ``SEGMENT_LINK_DISTANCE`` of it
    join, then neighbours along the perimeter join in steps below ``SEGMENT_STEP_DISTANCE``.
    No chaining through far look-alikes: a segment half cloth half backdrop cannot bridge them.
    """
    dist = np.linalg.norm(medians[:, None, :] - medians[None, :, :], axis=2)
    # a difference to the seed only counts beyond the medians' own uncertainty; the steadier of
    # the two sets it, so a segment straddling a cloth edge cannot widen its own link
    noise = SEGMENT_SIGNIFICANCE * np.sqrt(2.0) * np.minimum(scatter[:, None], scatter[None, :])
    significant = np.maximum(dist - noise, 0.0)
    seed = int(np.argmin(np.median(significant, axis=1)))
    member = significant[seed] < SEGMENT_LINK_DISTANCE
    n = len(medians)
    changed = True
    while changed:
        changed = False
        for i in np.flatnonzero(~member):
            if any(
                member[j] and dist[i, j] < SEGMENT_STEP_DISTANCE for j in ((i - 1) % n, (i + 1) % n)
            ):
                member[i] = True
                changed = True
    return [int(i) for i in np.flatnonzero(member)]


def _backdrop_samples(
    feats: np.ndarray,
    desc: np.ndarray,
    segments: list[tuple[slice, slice]],
    medians: np.ndarray,
    chosen: list[int],
) -> np.ndarray:
    """Feature vectors of the chosen segments' pixels that resemble their segment's median.

    Drops the cloth pixels of a segment the cloth's edge crosses, so they never teach the
    backdrop model a cloth colour.
    """
    parts = []
    for i in chosen:
        d = np.linalg.norm(desc[segments[i]] - medians[i], axis=-1)
        parts.append(feats[segments[i]][d < SAMPLE_TRIM_DISTANCE])
    return np.concatenate(parts)


def _full_frame(shape: tuple[int, int], coverage: float) -> tuple[np.ndarray, float, list[str]]:
    """The whole photo as cloth: no backdrop shows along most of its edge."""
    note = (
        "No plain backdrop shows along most of the photo's edge, so the cloth was taken to fill "
        "the whole frame. For a clean cut-out, photograph the whole saree laid flat with a "
        "little space around it."
    )
    confidence = FULL_FRAME_CONFIDENCE * coverage / BACKDROP_MAJORITY
    return np.full(shape, 255, np.uint8), confidence, [note]


def _plausible(mask: np.ndarray) -> bool:
    """Whether a coarse mask covers a believable share of the photo."""
    fraction = float(np.count_nonzero(mask)) / mask.size
    return MIN_FOREGROUND_FRACTION <= fraction <= MAX_FOREGROUND_FRACTION


# ================================================================ mixtures
def _subsample(samples: np.ndarray) -> np.ndarray:
    """At most ``MAX_MODEL_SAMPLES`` rows, evenly strided (deterministic)."""
    if len(samples) <= MAX_MODEL_SAMPLES:
        return samples
    idx = (np.arange(MAX_MODEL_SAMPLES) * (len(samples) / MAX_MODEL_SAMPLES)).astype(np.int64)
    return samples[idx]


def _kmeans(samples: np.ndarray, k: int) -> np.ndarray:
    """Deterministic k-means labels: farthest-point initialisation from the medoid-ish sample."""
    first = np.argmin(np.linalg.norm(samples - np.median(samples, axis=0), axis=1))
    centres = [samples[first]]
    nearest = np.linalg.norm(samples - centres[0], axis=1)
    for _ in range(1, k):
        centres.append(samples[int(np.argmax(nearest))])
        nearest = np.minimum(nearest, np.linalg.norm(samples - centres[-1], axis=1))
    c = np.array(centres, dtype=np.float32)
    labels = np.zeros(len(samples), dtype=np.int64)
    for _ in range(KMEANS_ITERATIONS):
        d = ((samples[:, None, :] - c[None]) ** 2).sum(axis=2)
        labels = np.argmin(d, axis=1)
        for j in range(k):
            members = samples[labels == j]
            if len(members):
                c[j] = members.mean(axis=0)
    return labels


def _fit_mixture(
    samples: np.ndarray,
    k: int,
    noise_floor: np.ndarray,
    light_range: tuple[float, float] | None = None,
) -> Mixture | None:
    """Hard-assignment Gaussian mixture of feature rows (k-means clusters + covariances)."""
    samples = _subsample(samples.reshape(-1, samples.shape[-1]).astype(np.float32))
    if len(samples) < k * 10:
        return None
    labels = _kmeans(samples, k)
    floor = np.diag(noise_floor[: samples.shape[1]].astype(np.float64) ** 2)
    log_w, means, invs, dets = [], [], [], []
    for j in range(k):
        members = samples[labels == j].astype(np.float64)
        if len(members) < max(5, MIN_CLUSTER_SHARE * len(samples)):
            continue
        cov = np.cov(members, rowvar=False) + floor
        log_w.append(np.log(len(members) / len(samples)))
        means.append(members.mean(axis=0))
        invs.append(np.linalg.inv(cov))
        dets.append(np.linalg.slogdet(cov)[1])
    if not means:
        return None
    return Mixture(
        np.array(log_w, np.float32),
        np.array(means, np.float32),
        np.array(invs, np.float32),
        np.array(dets, np.float32),
        light_range,
    )


def _cluster_d2(
    x: np.ndarray, mean: np.ndarray, inv: np.ndarray, light: tuple | None
) -> np.ndarray:
    """Squared Mahalanobis distance of rows ``x`` to one cluster (or to its light ray).

    On a ray the mean moves to ``mean + u * v`` with ``v = (L+16, a, b, 0...)`` of the mean and
    ``u`` in ``light - 1``; the best ``u`` has a closed form (the distance is quadratic in it).
    """
    diff = x - mean
    # cv2.transform: a per-row 4x4 product without BLAS threading overhead on thin matrices
    q = cv2.transform(diff[:, None, :], inv.T)[:, 0, :]
    d2 = np.einsum("ij,ij->i", q, diff)
    if light is None:
        return d2
    v = np.zeros_like(mean)
    v[0] = mean[0] + LAB_BLACK_OFFSET
    v[1:3] = mean[1:3]
    vpv = float(v @ inv @ v)
    if vpv <= 0:
        return d2
    qv = q @ v
    u = np.clip(qv / vpv, light[0] - 1.0, light[1] - 1.0)
    return np.maximum(d2 - 2 * u * qv + u * u * vpv, 0)


def _distance2(feats: np.ndarray, mix: Mixture) -> np.ndarray:
    """Smallest squared distance of each pixel to a backdrop cluster, ``H x W``."""
    x = feats.reshape(-1, feats.shape[-1])
    best = np.full(len(x), np.inf, dtype=np.float32)
    for mean, inv in zip(mix.means, mix.inv_covs, strict=True):
        np.minimum(best, _cluster_d2(x, mean, inv, mix.light_range), out=best)
    return best.reshape(feats.shape[:2])


def _log_likelihood(x: np.ndarray, mix: Mixture) -> np.ndarray:
    """Log-density (up to a shared constant) of the best cluster for each row."""
    best = np.full(len(x), -np.inf, dtype=np.float32)
    for lw, mean, inv, ld in zip(
        mix.log_weights, mix.means, mix.inv_covs, mix.log_dets, strict=True
    ):
        d2 = _cluster_d2(x, mean, inv, mix.light_range)
        np.maximum(best, lw - 0.5 * (d2 + ld), out=best)
    return best


# ================================================================ clean-up and refinement
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


def _clean_mask(d2: np.ndarray, typical_d2: float) -> np.ndarray:
    """The cloth's mask from backdrop distances: speckle opened away, gaps closed, then the
    most convincing of three shapes.

    A saree laid flat is one convex piece, but where its plain body is close in colour to the
    backdrop only its borders or pallu may clear the threshold: a U-shape, or separate bands.
    The convex hull of the large pieces (then of the largest alone) is taken when the area it
    adds is mostly unlike the backdrop: its lower quartile of backdrop distance is well above
    that of the backdrop itself (``typical_d2``, the backdrop samples' median). Otherwise the
    largest piece with its holes filled.
    """
    mask = np.where(d2 > FOREGROUND_D2, 255, 0).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _disk(OPEN_RADIUS_PX))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _disk(CLOSE_RADIUS_PX))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    areas = stats[1:, cv2.CC_STAT_AREA]
    largest = 1 + int(np.argmax(areas))
    large = 1 + np.flatnonzero(areas >= HULL_PIECE_MIN_FRACTION * mask.size)
    fill_evidence = max(HULL_FILL_MIN_RATIO * typical_d2, HULL_FILL_MIN_D2)
    for pieces in (large, np.array([largest])):
        if len(pieces) == 0:
            continue
        union = np.where(np.isin(labels, pieces), 255, 0).astype(np.uint8)
        contours, _ = cv2.findContours(union, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hull = np.zeros_like(union)
        cv2.fillPoly(hull, [cv2.convexHull(np.concatenate(contours))], 255)
        added = (hull > 0) & (mask == 0)
        if not np.any(added) or np.percentile(d2[added], 25) > fill_evidence:
            return hull
    return _solid_largest(np.where(labels == largest, 255, 0).astype(np.uint8))


def _refine_to_full(rgb: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Upsample the coarse mask and decide every pixel again in a band around its outline.

    The coarse outline sits a few segmentation pixels off the true edge (the blur and the
    texture window reach across it). In the band two colour mixtures are fitted at full
    resolution, one to the cloth just inside the band and one (with the light ray) to the
    backdrop just outside, and each band pixel goes to the likelier: the edge lands where the
    colour changes, to about a pixel.
    """
    h, w = rgb.shape[:2]
    scale = max(h / coarse.shape[0], w / coarse.shape[1])
    up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    up = np.where(up >= 128, 255, 0).astype(np.uint8)
    band_r = max(2, int(np.ceil(REFINE_BAND_SEG_PX * scale)))
    # distances to the outline instead of large structuring elements: far cheaper
    dist_in = cv2.distanceTransform(up, cv2.DIST_L2, 3)
    dist_out = cv2.distanceTransform(255 - up, cv2.DIST_L2, 3)
    band = (dist_in <= band_r) & (dist_out <= band_r)
    if not np.any(band):
        return up
    x0, y0, bw, bh = cv2.boundingRect((dist_out <= 2 * band_r).view(np.uint8))
    crop = (slice(y0, y0 + bh), slice(x0, x0 + bw))
    lab = _lab(rgb[crop], REFINE_BLUR_SIGMA_PX)
    d_in, d_out, band_c = dist_in[crop], dist_out[crop], band[crop]
    cloth_ring = (d_in > band_r) & (d_in <= 2 * band_r)
    back_ring = (d_out > band_r) & (d_out <= 2 * band_r)
    cloth_model = _fit_mixture(lab[cloth_ring], REFINE_CLUSTERS, FEATURE_NOISE_FLOOR)
    back_model = _fit_mixture(
        lab[back_ring], REFINE_CLUSTERS, FEATURE_NOISE_FLOOR, LIGHT_SCALE_RANGE
    )
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


def _confidence(d2: np.ndarray, mask: np.ndarray, coverage: float) -> float:
    """How cleanly the cloth stands apart from the backdrop, in [0, 1].

    How far a thin ring just inside the outline stands from the backdrop: 0 at the threshold,
    1 from ``CONFIDENT_D2_FACTOR`` × the threshold (log scale), averaged, and scaled down when
    the cloth reaches the photo's edge.
    """
    ring = (cv2.erode(mask, _disk(2)) > 0) & ~(cv2.erode(mask, _disk(4)) > 0)
    if not np.any(ring):
        return 0.0
    ratio = np.log(np.maximum(d2[ring], 1e-6) / FOREGROUND_D2) / np.log(CONFIDENT_D2_FACTOR)
    clear = float(np.mean(np.clip(ratio, 0.0, 1.0)))
    return float(np.clip(clear * (0.5 + 0.5 * coverage), 0.0, 1.0))


# ---------------------------------------------------------------- Prefect shell
@task(name="isolate", cache_policy=NO_CACHE)
def isolate_task(
    settings: Settings, saree_id: str, generation: int, image: np.ndarray
) -> tuple[np.ndarray, dict[str, ArtifactRecord]]:
    """Cut the saree out of the upload; stores S_clean (RGBA), its mask and isolate.json."""
    s_clean, mask, info = isolate(image, settings=settings)
    store = Store(settings.storage_root)
    common = {
        "saree_id": saree_id,
        "generation": generation,
        "png_compression": settings.png_compression,
    }
    records = {
        "s_clean": write_prepared(
            store, filename="s_clean.png", payload=s_clean, kind="s_clean", **common
        ),
        "mask": write_prepared(store, filename="mask.png", payload=mask, kind="mask", **common),
        "isolate": write_prepared(
            store, filename="isolate.json", payload=info, kind="isolate_info", **common
        ),
    }
    get_run_logger().info(
        "isolate: %s, foreground %.1f %%", info.method, 100 * info.foreground_fraction
    )
    return s_clean, records
