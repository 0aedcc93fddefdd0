"""pattern_similarity on generated textures with known ground truth.

Faithful renderings (1-3 px shifts, fold shading, JPEG q85, mild noise) must score >= 0.9;
pattern loss (strong blur), a 20 % rescale, another motif and a mirrored asymmetric motif must
drop clearly (< 0.6; most land far lower).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from metrics import pattern_similarity

SHAPE = (256, 320)  # (h, w)
FAITHFUL = 0.9
CLEAR_DROP = 0.6

Texture = Callable[[tuple[int, int]], np.ndarray]


def stripes(shape: tuple[int, int], period: float = 14.0, angle_deg: float = 20.0) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    theta = np.deg2rad(angle_deg)
    phase = (xx * np.cos(theta) + yy * np.sin(theta)) * (2 * np.pi / period)
    on = cv2.GaussianBlur((np.sin(phase) > 0).astype(np.float32), (0, 0), 0.7)[..., None]
    return two_colours(on, (200, 30, 40), (240, 220, 180))


def checks(shape: tuple[int, int], period: int = 24) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    on = ((yy // (period // 2) + xx // (period // 2)) % 2).astype(np.float32)
    return two_colours(cv2.GaussianBlur(on, (0, 0), 0.7)[..., None], (30, 60, 150), (230, 200, 90))


def two_colours(on: np.ndarray, ink: tuple[int, ...], ground: tuple[int, ...]) -> np.ndarray:
    mixed = np.array(ink, np.float32) * on + np.array(ground, np.float32) * (1 - on)
    return mixed.round().astype(np.uint8)


def motif_tile(kind: str, size: int = 48) -> np.ndarray:
    """One repeat of a printed motif: an asymmetric paisley-like teardrop, or a cross."""
    ink, ground = (180, 40, 60), (235, 210, 150)
    tile = np.empty((size, size, 3), np.uint8)
    tile[:] = ground
    c = size // 2
    if kind == "paisley":
        cv2.ellipse(tile, (c - 3, c + 4), (13, 9), 30, 0, 360, ink, -1, cv2.LINE_AA)
        tail = np.array([[c + 6, c - 2], [c + 14, c - 12], [c + 19, c - 20], [c + 12, c - 8]])
        cv2.fillPoly(tile, [tail.astype(np.int32)], ink, cv2.LINE_AA)
        cv2.circle(tile, (c - 6, c + 6), 3, ground, -1, cv2.LINE_AA)
    else:
        cv2.line(tile, (c - 14, c), (c + 14, c), ink, 4, cv2.LINE_AA)
        cv2.line(tile, (c, c - 14), (c, c + 14), ink, 4, cv2.LINE_AA)
        cv2.circle(tile, (c, c), 6, ink, -1, cv2.LINE_AA)
    return tile


def tiled(kind: str) -> Texture:
    def make(shape: tuple[int, int]) -> np.ndarray:
        tile = motif_tile(kind)
        reps = (shape[0] // tile.shape[0] + 1, shape[1] // tile.shape[1] + 1, 1)
        return np.ascontiguousarray(np.tile(tile, reps)[: shape[0], : shape[1]])

    return make


def noise_texture(shape: tuple[int, int]) -> np.ndarray:
    field = np.random.default_rng(3).normal(0, 1, shape).astype(np.float32)
    field = cv2.GaussianBlur(field, (0, 0), 2.5)
    field /= field.std()
    colour = np.array((150, 90, 60), np.float32)
    return np.clip(colour * (1 + 0.35 * field[..., None]), 0, 255).round().astype(np.uint8)


TEXTURES: dict[str, Texture] = {
    "stripes": stripes,
    "checks": checks,
    "paisley": tiled("paisley"),
    "noise": noise_texture,
}


# ---------------------------------------------------------------- faithful renderings


def crop(texture: Texture, dy: int = 0, dx: int = 0) -> np.ndarray:
    """The texture seen through a SHAPE window moved by (dy, dx) px."""
    big = texture((SHAPE[0] + 8, SHAPE[1] + 8))
    return np.ascontiguousarray(big[4 + dy : 4 + dy + SHAPE[0], 4 + dx : 4 + dx + SHAPE[1]])


def fold_shading(image: np.ndarray, low: float = 0.6, high: float = 1.1) -> np.ndarray:
    """Luminance times a smooth field in [low, high] (folds ~90-150 px apart)."""
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float32)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * xx / 150) * np.cos(2 * np.pi * yy / 250)
    field = low + (high - low) * wave
    return np.clip(image * field[..., None], 0, 255).round().astype(np.uint8)


def jpeg(image: np.ndarray, quality: int = 85) -> np.ndarray:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def mild_noise(image: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    noise = np.random.default_rng(7).normal(0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).round().astype(np.uint8)


FAITHFUL_RENDERINGS: dict[str, Callable[[Texture], np.ndarray]] = {
    "shift_1px": lambda t: crop(t, dy=1),
    "shift_3px": lambda t: crop(t, dy=3, dx=-3),
    "fold_shading": lambda t: fold_shading(crop(t)),
    "jpeg_q85": lambda t: jpeg(crop(t)),
    "mild_noise": lambda t: mild_noise(crop(t)),
    "all_at_once": lambda t: mild_noise(jpeg(fold_shading(crop(t, dy=2, dx=2))), 3.0),
}


@pytest.mark.parametrize("rendering", FAITHFUL_RENDERINGS)
@pytest.mark.parametrize("texture", TEXTURES)
def test_faithful_renderings_score_high(texture: str, rendering: str) -> None:
    expected = crop(TEXTURES[texture])
    output = FAITHFUL_RENDERINGS[rendering](TEXTURES[texture])
    assert pattern_similarity(expected, output) >= FAITHFUL


def test_plain_cloth_stays_plain_under_shading_and_noise() -> None:
    plain = np.full(SHAPE + (3,), (170, 60, 80), np.uint8)
    assert pattern_similarity(plain, fold_shading(plain)) >= FAITHFUL
    assert pattern_similarity(plain, mild_noise(jpeg(plain))) >= FAITHFUL


# ---------------------------------------------------------------- pattern damage


def rescaled(texture: Texture, factor: float) -> np.ndarray:
    """The same texture drawn ``factor`` times larger."""
    height, width = SHAPE
    source = texture((int(height / factor) + 2, int(width / factor) + 2))
    interpolation = cv2.INTER_LINEAR if factor > 1 else cv2.INTER_AREA
    larger = cv2.resize(source, None, fx=factor, fy=factor, interpolation=interpolation)
    return np.ascontiguousarray(larger[:height, :width])


@pytest.mark.parametrize("texture", TEXTURES)
def test_strong_blur_drops(texture: str) -> None:
    expected = crop(TEXTURES[texture])
    blurred = cv2.GaussianBlur(expected, (0, 0), 3.0)
    assert pattern_similarity(expected, blurred) < CLEAR_DROP


@pytest.mark.parametrize("factor", [1.2, 1 / 1.2])
@pytest.mark.parametrize("texture", TEXTURES)
def test_rescaled_pattern_drops(texture: str, factor: float) -> None:
    expected = rescaled(TEXTURES[texture], 1.0)
    assert pattern_similarity(expected, rescaled(TEXTURES[texture], factor)) < CLEAR_DROP


@pytest.mark.parametrize(
    ("expected", "other"),
    [
        ("paisley", "cross"),
        ("stripes", "checks"),
        ("noise", "paisley"),
    ],
)
def test_another_motif_drops(expected: str, other: str) -> None:
    textures = {**TEXTURES, "cross": tiled("cross")}
    assert pattern_similarity(crop(textures[expected]), crop(textures[other])) < CLEAR_DROP


def test_mirrored_asymmetric_motif_drops() -> None:
    expected = crop(TEXTURES["paisley"])
    mirrored = np.ascontiguousarray(expected[:, ::-1])
    assert pattern_similarity(expected, mirrored) < CLEAR_DROP
    # A symmetric motif mirrored is the same cloth.
    checked = crop(TEXTURES["checks"])
    assert pattern_similarity(checked, np.ascontiguousarray(checked[:, ::-1])) >= FAITHFUL


def test_local_damage_lowers_the_score() -> None:
    expected = crop(TEXTURES["paisley"])
    damaged = expected.copy()
    damaged[40:168, 60:220] = crop(tiled("cross"))[40:168, 60:220]  # a quarter of the area
    assert pattern_similarity(expected, damaged) < 0.8


# ---------------------------------------------------------------- properties and errors


def test_identity_and_symmetry() -> None:
    expected = crop(TEXTURES["noise"])
    output = jpeg(fold_shading(expected))
    assert pattern_similarity(expected, expected) == 1.0
    assert pattern_similarity(expected, output) == pytest.approx(
        pattern_similarity(output, expected), abs=1e-9
    )


def polygon_mask() -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    corners = np.array([[40, 20], [300, 50], [260, 240], [20, 190]], np.int32)
    cv2.fillPoly(mask, [corners], 255)
    return mask


@pytest.mark.parametrize("as_bool", [False, True])
def test_mask_ignores_everything_outside_it(as_bool: bool) -> None:
    mask = polygon_mask()
    given = mask.astype(bool) if as_bool else mask
    expected = crop(TEXTURES["paisley"])
    output = jpeg(crop(TEXTURES["paisley"], dy=1))
    score = pattern_similarity(expected, output, mask=given)
    assert score >= FAITHFUL
    scribbled = output.copy()
    scribbled[mask == 0] = crop(tiled("cross"))[mask == 0]
    assert pattern_similarity(expected, scribbled, mask=given) == score
    mirrored = np.ascontiguousarray(expected[:, ::-1])
    assert pattern_similarity(expected, mirrored, mask=given) < CLEAR_DROP


def test_small_mask_is_widened_to_a_usable_window() -> None:
    expected = crop(TEXTURES["stripes"])
    mask = np.zeros(SHAPE, bool)
    mask[100:108, 150:160] = True
    assert pattern_similarity(expected, expected, mask=mask) == 1.0


@pytest.mark.parametrize(
    ("im1", "im2", "mask", "message"),
    [
        (np.zeros((32, 32, 3), np.uint8), np.zeros((32, 33, 3), np.uint8), None, "same dimensions"),
        (np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint8), None, "RGB uint8"),
        (np.zeros((32, 32, 3)), np.zeros((32, 32, 3)), None, "RGB uint8"),
        (np.zeros((8, 32, 3), np.uint8), np.zeros((8, 32, 3), np.uint8), None, "16 x 16"),
        (
            np.zeros((32, 32, 3), np.uint8),
            np.zeros((32, 32, 3), np.uint8),
            np.ones((32, 31), bool),
            "Mask must have the same",
        ),
        (
            np.zeros((32, 32, 3), np.uint8),
            np.zeros((32, 32, 3), np.uint8),
            np.zeros((32, 32), bool),
            "at least one pixel",
        ),
    ],
)
def test_invalid_input(im1, im2, mask, message) -> None:
    with pytest.raises(ValueError, match=message):
        pattern_similarity(im1, im2, mask=mask)


def test_repeatable_to_the_last_bit() -> None:
    """Same inputs, same score, whatever the allocator hands out (some OpenCV/IPP kernels
    round differently depending on the output buffer's address)."""
    mask = polygon_mask()
    expected = crop(TEXTURES["paisley"])
    output = jpeg(crop(TEXTURES["paisley"], dy=1))
    rng = np.random.default_rng(11)
    scores = set()
    ballast = []
    for _ in range(8):
        ballast.append(np.empty(int(rng.integers(1, 200_000)), np.uint8))
        scores.add(pattern_similarity(expected, output, mask=mask))
    assert len(scores) == 1
