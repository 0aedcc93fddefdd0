"""border_continuity on generated border bands with known geometry.

Faithful bands (identical, 1 px shifts, JPEG q85, fold shading) must stay intact; a band bent
sideways, broken by a gap, missing or recoloured must show it in the matching field.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from metrics import BorderContinuity, border_continuity

SHAPE = (120, 600)  # (h, w)
WIDTH = 20.0  # band width, px
MAROON, GOLD, BODY = (120, 20, 40), (220, 180, 60), (60, 110, 150)
PATH_X = (10.0, 590.0)


def centre_y(x: np.ndarray | float) -> np.ndarray | float:
    """The band's centre line: a gentle wave, so normals are not all vertical."""
    return 60.0 + 6.0 * np.sin(2 * np.pi * np.asarray(x) / 400.0)


def body_cloth(shape: tuple[int, int] = SHAPE, seed: int = 5) -> np.ndarray:
    field = np.random.default_rng(seed).normal(0, 1, shape).astype(np.float32)
    field = cv2.GaussianBlur(field, (0, 0), 2.0)
    field /= field.std()
    colour = np.array(BODY, np.float32)
    return np.clip(colour * (1 + 0.35 * field[..., None]), 0, 255)


def paint_band(
    across: np.ndarray,
    along: np.ndarray,
    *,
    width: float = WIDTH,
    base: tuple[int, int, int] = MAROON,
    accent: tuple[int, int, int] = GOLD,
    body: np.ndarray | None = None,
) -> np.ndarray:
    """Body cloth with a border band: ``across`` is the signed distance from the band's
    centre line, ``along`` the position along it (both px, per pixel). The band has a gold
    line near each edge and gold diamonds every 24 px."""
    image = body_cloth(across.shape) if body is None else body.astype(np.float32)
    half = width / 2
    inside = np.clip(half + 0.5 - np.abs(across), 0, 1)[..., None]
    band = np.empty_like(image)
    band[:] = base
    lines = np.clip(1.5 - np.abs(np.abs(across) - (half - 3)), 0, 1)[..., None]
    diamonds = np.clip(4.5 - (np.abs(along % 24 - 12) + 1.2 * np.abs(across)), 0, 1)[..., None]
    for accent_share in (lines, diamonds):
        band = band * (1 - accent_share) + np.array(accent, np.float32) * accent_share
    return np.clip(image * (1 - inside) + band * inside, 0, 255).round().astype(np.uint8)


def wave_band(bend: tuple[float, float, float] | None = None, **kwargs) -> np.ndarray:
    """The band along ``centre_y``; ``bend = (x0, x1, px)`` pushes it sideways by up to
    ``px`` between x0 and x1 (a smooth bump)."""
    yy, xx = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]].astype(np.float32)
    centre = centre_y(xx)
    if bend is not None:
        x0, x1, amount = bend
        centre = centre + amount * np.sin(np.pi * np.clip((xx - x0) / (x1 - x0), 0, 1)) ** 2
    return paint_band(yy - centre, xx, **kwargs)


def wave_path(step: float = 20.0) -> list[tuple[float, float]]:
    xs = np.arange(PATH_X[0], PATH_X[1] + 1, step)
    return [(float(x), float(centre_y(x))) for x in xs]


def fold_shading(image: np.ndarray) -> np.ndarray:
    xx = np.arange(image.shape[1], dtype=np.float32)
    field = 0.6 + 0.5 * (0.5 + 0.5 * np.sin(2 * np.pi * xx / 150))  # 0.6 .. 1.1
    return np.clip(image * field[None, :, None], 0, 255).round().astype(np.uint8)


def jpeg(image: np.ndarray, quality: int = 85) -> np.ndarray:
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def shift(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    return np.roll(np.roll(image, dy, axis=0), dx, axis=1)


# ---------------------------------------------------------------- faithful bands

FAITHFUL: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identical": lambda image: image,
    "shift_1px_across": lambda image: shift(image, 1, 0),
    "shift_1px_along": lambda image: shift(image, 0, 1),
    "shift_1px_diagonal": lambda image: shift(image, -1, 1),
    "jpeg_q85": jpeg,
    "fold_shading": fold_shading,
    "all_at_once": lambda image: jpeg(fold_shading(shift(image, 1, -1))),
}


@pytest.mark.parametrize("rendering", FAITHFUL)
def test_faithful_band_is_intact(rendering: str) -> None:
    expected = wave_band()
    result = border_continuity(FAITHFUL[rendering](expected), expected, wave_path(), width=WIDTH)
    assert result.continuity >= 0.97
    assert result.breaks == 0
    assert result.max_offset_px <= 1.5


def test_identical_band_is_perfect() -> None:
    expected = wave_band()
    result = border_continuity(expected, expected, wave_path(), width=WIDTH)
    assert result == BorderContinuity(
        continuity=1.0, breaks=0, max_offset_px=result.max_offset_px, mean_delta_e=0.0
    )
    assert result.max_offset_px < 0.1


# ---------------------------------------------------------------- defects


@pytest.mark.parametrize("amount", [4.0, 6.0, -8.0])
def test_band_bent_sideways_reports_the_offset(amount: float) -> None:
    expected = wave_band()
    bent = wave_band(bend=(200.0, 360.0, amount))
    result = border_continuity(bent, expected, wave_path(), width=WIDTH)
    assert result.max_offset_px == pytest.approx(abs(amount), abs=0.75)
    assert result.continuity >= 0.9  # displaced, not broken


@pytest.mark.parametrize(
    ("filler", "start", "stop"),
    [("body", 250, 330), ("background", 400, 440)],
)
def test_gap_breaks_the_band(filler: str, start: int, stop: int) -> None:
    expected = wave_band()
    output = expected.copy()
    if filler == "body":
        output[:, start:stop] = body_cloth()[:, start:stop].round().astype(np.uint8)
    else:
        output[:, start:stop] = 235
    result = border_continuity(output, expected, wave_path(), width=WIDTH)
    gap_share = (stop - start) / (PATH_X[1] - PATH_X[0])
    assert result.breaks >= 1
    assert result.continuity == pytest.approx(1 - gap_share, abs=0.04)
    assert result.continuity < 0.95


def test_missing_band_has_no_continuity() -> None:
    expected = wave_band()
    missing = body_cloth().round().astype(np.uint8)
    result = border_continuity(missing, expected, wave_path(), width=WIDTH)
    assert result.continuity < 0.1
    assert result.mean_delta_e > 20


def test_another_band_is_not_this_band() -> None:
    expected = wave_band()
    other = wave_band(base=(200, 200, 210), accent=(40, 40, 40))
    other = np.roll(other, 7, axis=1)
    assert border_continuity(other, expected, wave_path(), width=WIDTH).continuity < 0.2


def test_recoloured_band_shows_in_delta_e() -> None:
    expected = wave_band()
    recoloured = wave_band(base=(30, 90, 40))
    faithful = border_continuity(jpeg(expected), expected, wave_path(), width=WIDTH)
    result = border_continuity(recoloured, expected, wave_path(), width=WIDTH)
    assert faithful.mean_delta_e < 6
    assert result.mean_delta_e > 20


# ---------------------------------------------------------------- geometry, masks, errors


def arc_band(radius: float) -> np.ndarray:
    """A band bent around a circle centred below the crop (a hem seen from the front)."""
    yy, xx = np.mgrid[0:200, 0:400].astype(np.float32)
    distance = np.hypot(xx - 200, yy - 420)
    return paint_band(
        distance - radius, np.arctan2(xx - 200, 420 - yy) * 380, body=body_cloth((200, 400))
    )


def arc_path(radius: float = 380.0) -> list[tuple[float, float]]:
    angles = np.linspace(-0.45, 0.45, 12)
    return [(float(200 + radius * np.sin(a)), float(420 - radius * np.cos(a))) for a in angles]


def test_curved_band_uses_its_normals() -> None:
    expected = arc_band(380.0)
    faithful = border_continuity(jpeg(expected), expected, arc_path(), width=WIDTH)
    assert faithful.continuity >= 0.97 and faithful.max_offset_px <= 1.5
    displaced = border_continuity(arc_band(385.0), expected, arc_path(), width=WIDTH)
    assert displaced.max_offset_px == pytest.approx(5.0, abs=0.75)


def test_mask_limits_what_is_compared() -> None:
    """At a hem the cloth ends below the band: what lies there in the output is not judged."""
    expected = wave_band()
    mask = np.zeros(SHAPE, np.uint8)
    yy, xx = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    mask[yy <= centre_y(xx) + WIDTH / 2 + 3] = 255
    output = expected.copy()
    output[mask == 0] = 235
    masked = border_continuity(output, expected, wave_path(), width=WIDTH, mask=mask)
    assert masked.continuity >= 0.97 and masked.breaks == 0 and masked.max_offset_px <= 1.5
    gap = output.copy()
    gap[:, 250:330] = 235
    broken = border_continuity(gap, expected, wave_path(), width=WIDTH, mask=mask.astype(bool))
    assert broken.breaks >= 1 and broken.continuity < 0.95


def test_path_partly_outside_the_crop_counts_only_what_is_inside() -> None:
    expected = wave_band()
    path = [(-200.0, float(centre_y(-200.0)))] + wave_path()
    result = border_continuity(jpeg(expected), expected, path, width=WIDTH)
    assert result.continuity >= 0.97 and result.breaks == 0


def test_repeatable_to_the_last_bit() -> None:
    expected = wave_band()
    output = jpeg(wave_band(bend=(200.0, 360.0, 5.0)))
    first = border_continuity(output, expected, wave_path(), width=WIDTH)
    ballast = [np.empty(size, np.uint8) for size in (1000, 77777, 123456)]
    assert border_continuity(output, expected, wave_path(), width=WIDTH) == first
    assert ballast


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output": np.zeros((50, 60, 3), np.uint8)}, "same dimensions"),
        (
            {"output": np.zeros((*SHAPE, 3)), "expected": np.zeros((*SHAPE, 3))},
            "RGB uint8",
        ),
        ({"width": 0.0}, "width must be positive"),
        ({"path": [(10.0, 60.0)]}, "at least 2"),
        ({"path": [(10.0, 60.0), (10.0, 60.0)]}, "positive length"),
        ({"mask": np.ones((10, 10), bool)}, "Mask must have the same"),
        ({"mask": np.zeros(SHAPE, bool)}, "inside the images and the mask"),
        ({"path": [(-500.0, -500.0), (-400.0, -500.0)]}, "inside the images and the mask"),
    ],
)
def test_invalid_input(kwargs: dict, message: str) -> None:
    expected = wave_band()
    arguments = {"output": expected, "expected": expected, "path": wave_path(), "width": WIDTH}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        border_continuity(
            arguments.pop("output"), arguments.pop("expected"), arguments.pop("path"), **arguments
        )


def test_result_model_rejects_impossible_values() -> None:
    with pytest.raises(ValidationError):
        BorderContinuity(continuity=1.2, breaks=0, max_offset_px=0.0, mean_delta_e=0.0)
    with pytest.raises(ValidationError):
        BorderContinuity(continuity=0.5, breaks=-1, max_offset_px=0.0, mean_delta_e=0.0)
