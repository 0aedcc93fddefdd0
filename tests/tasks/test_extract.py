"""Extract stage: part rectangles found in S_flat against generated ground truth.

Accuracy target (issue 5): each band boundary within 1.5 % of its dimension. The S_flat inputs
are generated cloth with the imperfections a flatten stage leaves (``simulate_flat``: mild
shading, blur, sensor noise).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sareeflow.errors import InvalidInput
from sareeflow.synth.cloth import ClothTruth, make_cloth, random_style, simulate_flat
from tasks.extract import MIN_FLAT_SIDE_PX, crop_parts, extract_parts

TOLERANCE = 0.015
"""Largest boundary error, fraction of the dimension (issue 5)."""
PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "photos" / "dev"


def _errors(info, truth: ClothTruth) -> dict[str, float | None]:
    """Boundary error per part as a fraction of its dimension; None when presence is wrong."""
    w, h = truth.size
    out: dict[str, float | None] = {}
    for name in ("border_top", "border_bottom", "pallu"):
        want, got = getattr(truth, name), info.rect(name)
        if (want is None) != (got is None):
            out[name] = None
        elif want is None:
            out[name] = 0.0
        elif name == "pallu":
            out[name] = abs(got[0] - want[0]) / w
        elif name == "border_top":
            out[name] = abs(got[3] - want[3]) / h
        else:
            out[name] = abs(got[1] - want[1]) / h
    return out


def _assert_tiles(info, shape) -> None:
    """Present parts cover the image exactly once; confidences and reasons are sane."""
    h, w = shape[:2]
    assert tuple(info.flat_size) == (w, h)
    cover = np.zeros((h, w), np.int32)
    for name, part in info.parts.items():
        assert part.name == name and 0.0 <= part.confidence <= 1.0
        if part.rect is None:
            assert part.reason and part.reason.endswith(".")
            continue
        x, y, rw, rh = part.rect
        assert rw > 0 and rh > 0 and x >= 0 and y >= 0 and x + rw <= w and y + rh <= h
        cover[y : y + rh, x : x + rw] += 1
    assert info.present("body")
    assert (cover == 1).all()


def _flat(seed: int, size=(1800, 400), **style_changes):
    style = None
    if style_changes:
        style = random_style(np.random.default_rng(seed)).model_copy(update=style_changes)
    cloth, truth = make_cloth(seed, size=size, style=style)
    return simulate_flat(cloth, seed), truth


def test_boundaries_within_tolerance_on_generated_cloth():
    worst: dict[str, float] = {}
    for seed in range(24):
        flat, truth = _flat(seed)
        info = extract_parts(flat)
        _assert_tiles(info, flat.shape)
        for name, err in _errors(info, truth).items():
            assert err is not None, f"seed {seed}: {name} presence wrong"
            worst[name] = max(worst.get(name, 0.0), err)
    assert max(worst.values()) <= TOLERANCE, worst


def test_absent_borders_are_reported_and_body_takes_their_rows():
    flat, truth = _flat(3, has_border=False, border_top_frac=0.0, border_bottom_frac=0.0)
    info = extract_parts(flat)
    _assert_tiles(info, flat.shape)
    assert info.rect("border_top") is None and info.rect("border_bottom") is None
    assert (
        info.parts["border_top"].reason == "No distinct border band was found along the top edge."
    )
    assert info.rect("body")[1] == 0 and info.rect("body")[3] == flat.shape[0]
    assert _errors(info, truth)["pallu"] <= TOLERANCE


def test_absent_pallu_is_reported_and_body_runs_to_the_end():
    flat, truth = _flat(8, has_pallu=False, pallu_frac=0.0, has_border=True)
    info = extract_parts(flat)
    _assert_tiles(info, flat.shape)
    assert info.rect("pallu") is None and "pallu" in info.parts["pallu"].reason
    assert info.rect("body")[2] == flat.shape[1]
    errs = _errors(info, truth)
    assert errs["border_top"] <= TOLERANCE and errs["border_bottom"] <= TOLERANCE


def test_gold_border_on_gold_striped_body():
    """A band of the same colour as the body's stripes is found by its thickness."""
    gold = (214, 178, 70)
    flat, truth = _flat(
        40,
        body_motif="stripes",
        stripe_orientation="along",
        motif_spacing=0.14,
        motif_color=gold,
        border_color=gold,
        zari_color=gold,
        body_color=(245, 238, 220),
        has_border=True,
        border_top_frac=0.08,
        border_bottom_frac=0.08,
    )
    info = extract_parts(flat)
    errs = _errors(info, truth)
    assert errs["border_top"] is not None and errs["border_top"] <= TOLERANCE
    assert errs["border_bottom"] is not None and errs["border_bottom"] <= TOLERANCE


def test_large_input_is_analysed_downscaled_with_full_size_rects():
    flat, truth = _flat(6, size=(4200, 1000))
    info = extract_parts(flat)
    _assert_tiles(info, flat.shape)
    assert all(e is not None and e <= TOLERANCE for e in _errors(info, truth).values())


def test_plain_cloth_has_only_a_body():
    rng = np.random.default_rng(0)
    plain = np.clip(rng.normal((120, 30, 40), 3.0, (300, 1200, 3)), 0, 255).astype(np.uint8)
    info = extract_parts(plain)
    _assert_tiles(info, plain.shape)
    assert [n for n in info.parts if info.present(n)] == ["body"]
    assert info.parts["pallu"].confidence > 0.8


@pytest.mark.parametrize(
    "shape",
    [(16, 16), (MIN_FLAT_SIDE_PX, 400), (20, 1800), (1800, 400), (400, 400), (33, 47)],
)
def test_odd_sizes_never_crash(shape):
    cloth, _ = make_cloth(11, size=(max(shape[1], 8), max(shape[0], 8)))
    img = np.ascontiguousarray(cloth[: shape[0], : shape[1]])
    info = extract_parts(img)
    _assert_tiles(info, img.shape)
    crops = crop_parts(img, info)
    assert sum(c.shape[0] * c.shape[1] for c in crops.values()) == shape[0] * shape[1]


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((MIN_FLAT_SIDE_PX - 1, 400, 3), np.uint8),
        np.zeros((400, 10, 3), np.uint8),
        np.zeros((100, 400), np.uint8),
        np.zeros((100, 400, 4), np.uint8),
        np.zeros((100, 400, 3), np.float32),
    ],
)
def test_invalid_input(bad):
    with pytest.raises(InvalidInput):
        extract_parts(bad)


def test_deterministic():
    flat, _ = _flat(13)
    assert extract_parts(flat) == extract_parts(flat.copy())


def test_crop_parts_returns_copies_of_present_parts():
    flat, _ = _flat(2, has_pallu=False, pallu_frac=0.0, has_border=True)
    info = extract_parts(flat)
    crops = crop_parts(flat, info)
    assert set(crops) == {n for n in info.parts if info.present(n)}
    for name, crop in crops.items():
        x, y, w, h = info.rect(name)
        assert crop.shape == (h, w, 3) and crop.dtype == np.uint8
        assert (crop == flat[y : y + h, x : x + w]).all()
    crops["body"][:] = 0
    assert flat.any()
    with pytest.raises(InvalidInput):
        crop_parts(flat[:, :-1], info)


@pytest.mark.photos
def test_real_photo_crops_never_crash():
    """Real photos are not flattened; they only show extract copes with arbitrary cloth."""
    if not PHOTOS.is_dir():
        pytest.skip(f"real photos not present at {PHOTOS}")
    paths = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        pytest.skip(f"no photos in {PHOTOS}")
    rng = np.random.default_rng(0)
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert bgr is not None, path
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        scale = 800 / max(img.shape[:2])
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
        crops = [img]
        for _ in range(3):
            cw, ch = int(rng.integers(16, w + 1)), int(rng.integers(16, h + 1))
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            crops.append(np.ascontiguousarray(img[y : y + ch, x : x + cw]))
        for crop in crops:
            info = extract_parts(crop)
            _assert_tiles(info, crop.shape)
