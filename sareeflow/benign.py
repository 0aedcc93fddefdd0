"""Benign changes to a rendered pose image: what validation must *not* flag.

The counterpart of :mod:`sareeflow.defects` for the validation benchmark (DESIGN §8): a
faithful image that went through a JPEG re-encode, picked up mild sensor noise, moved by one
pixel or came out a little brighter or darker is still faithful to the cloth. Each variant is
sized to what a remote adapter or a photo pipeline plausibly does without anyone calling it a
different saree, and each is deterministic in ``seed`` (``np.random.default_rng(seed)``).

Unlike defects these change the whole canvas: they do not know about regions.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from sareeflow.errors import InvalidInput

BenignFn = Callable[[np.ndarray, np.random.Generator], np.ndarray]
"""``(RGB uint8 image, rng) -> changed copy``."""

JPEG_QUALITY = 85
"""libjpeg quality of the re-encode (4:2:0 chroma subsampling, OpenCV's default): the quality
image services commonly deliver."""
NOISE_SIGMA_LEVELS = 3.0
"""Std of the added Gaussian noise, 8-bit levels per channel: a clean camera at base ISO."""
SHIFT_PX = 1
"""Whole-pixel translation of the canvas, in one of the 8 directions (seeded)."""
EXPOSURE_STOPS = 0.1
"""Exposure change in stops (EV), brighter or darker (seeded), applied to linear light: about
7 % more or less light, ~1.5 L* at mid-grey."""


def apply_benign(name: str, image: np.ndarray, *, seed: int) -> np.ndarray:
    """Return a benignly changed copy of ``image`` (RGB uint8, ``H x W x 3``).

    Raises :class:`InvalidInput` for an unknown name (listing the known ones) or an image that
    is not RGB uint8.
    """
    if name not in BENIGN:
        raise InvalidInput(f"Unknown benign change {name!r}; known: {', '.join(sorted(BENIGN))}.")
    if not (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
    ):
        raise InvalidInput(f"Benign change {name!r} needs an RGB uint8 image.")
    return BENIGN[name](image.copy(), np.random.default_rng(seed))


def jpeg_q85(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Encode as JPEG at ``JPEG_QUALITY`` and decode again."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # OpenCV returns False only for an unusable image, which was checked above
        raise InvalidInput("The image could not be JPEG-encoded.")
    return cv2.cvtColor(cv2.imdecode(buffer, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def mild_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise of ``NOISE_SIGMA_LEVELS`` per pixel and channel."""
    noise = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(NOISE_SIGMA_LEVELS)
    return np.clip(np.rint(image.astype(np.float32) + noise), 0, 255).astype(np.uint8)


def shift_1px(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Translate the canvas by ``SHIFT_PX`` in a seeded one of 8 directions (edges replicated)."""
    directions = [(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dx, dy) != (0, 0)]
    dx, dy = directions[int(rng.integers(len(directions)))]
    h, w = image.shape[:2]
    matrix = np.float32([[1, 0, dx * SHIFT_PX], [0, 1, dy * SHIFT_PX]])
    return cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE
    )


def exposure(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale linear light by ``2 ** ±EXPOSURE_STOPS`` (sign seeded), clipping at white."""
    gain = 2.0 ** (EXPOSURE_STOPS * float(rng.choice([-1.0, 1.0])))
    levels = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(levels <= 0.04045, levels / 12.92, ((levels + 0.055) / 1.055) ** 2.4)
    scaled = np.clip(linear * gain, 0.0, 1.0)
    encoded = np.where(
        scaled <= 0.0031308, 12.92 * scaled, 1.055 * np.power(scaled, 1 / 2.4) - 0.055
    )
    table = np.clip(np.rint(encoded * 255.0), 0, 255).astype(np.uint8)
    return cv2.LUT(image, table)


BENIGN: dict[str, BenignFn] = {
    "jpeg_q85": jpeg_q85,
    "mild_noise": mild_noise,
    "shift_1px": shift_1px,
    "exposure": exposure,
}
"""Every benign change, by name (the validation benchmark's false-alarm rows)."""
