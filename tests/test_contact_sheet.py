"""The contact sheet: every pose placed where the layout says, badges in the right colour,
labels drawn, and the same input giving the same bytes."""

from __future__ import annotations

import numpy as np
import pytest

from sareeflow.contact_sheet import (
    BACKGROUND,
    BADGE_MARGIN_PX,
    FAIL_RED,
    PASS_GREEN,
    PLACEHOLDER,
    SheetTile,
    ascii_text,
    cell_width,
    contact_sheet_png,
    render_contact_sheet,
    tile_rects,
)
from sareeflow.imaging import decode_png

COLOURS = [(200, 30, 60), (20, 120, 40), (30, 60, 200), (230, 200, 40), (90, 20, 120)]


def _tile(index: int, *, passed: bool = True, size=(400, 600), image: bool = True) -> SheetTile:
    w, h = size
    picture = np.empty((h, w, 3), np.uint8)
    picture[:] = COLOURS[index % len(COLOURS)]
    return SheetTile(
        pose=f"{index + 1:02d}",
        label=f"Pose number {index + 1}",
        passed=passed,
        attempts=1 if passed else 4,
        image=picture if image else None,
        note="" if passed else "color shift",
    )


def _count(region: np.ndarray, colour) -> int:
    return int(np.all(region == np.array(colour, np.uint8), axis=-1).sum())


def test_each_pose_image_fills_its_cell_with_its_own_colour():
    tiles = [_tile(i) for i in range(4)]
    sheet = render_contact_sheet(tiles, title="Generation 0001")
    rects = tile_rects(len(tiles), cell_width(tiles))
    for tile, (x, y, w, h) in zip(tiles, rects, strict=True):
        centre = sheet[y + h // 2, x + w // 2]
        assert tuple(centre) == COLOURS[int(tile.pose) - 1]
    # The cell is 2:3 like the pictures, so a picture covers most of its cell.
    x, y, w, h = rects[0]
    assert _count(sheet[y : y + h, x : x + w], COLOURS[0]) > 0.85 * w * h


def test_badges_are_green_for_pass_and_red_for_fail():
    tiles = [_tile(0), _tile(1, passed=False)]
    sheet = render_contact_sheet(tiles, title="t")
    rects = tile_rects(2, cell_width(tiles))
    badge = (
        slice(BADGE_MARGIN_PX, BADGE_MARGIN_PX + 20),
        slice(BADGE_MARGIN_PX, BADGE_MARGIN_PX + 50),
    )

    def corner(rect):
        x, y, _, _ = rect
        return sheet[y : y + 40, x : x + 70][badge]

    assert _count(corner(rects[0]), PASS_GREEN) > 100 and _count(corner(rects[0]), FAIL_RED) == 0
    assert _count(corner(rects[1]), FAIL_RED) > 100 and _count(corner(rects[1]), PASS_GREEN) == 0


def test_labels_are_drawn_under_each_picture():
    tiles = [_tile(0), _tile(1)]
    sheet = render_contact_sheet(tiles, title="t")
    for x, y, w, h in tile_rects(2, cell_width(tiles)):
        caption = sheet[y + h + 5 : y + h + 30, x : x + w]
        dark = (caption.astype(int).sum(axis=-1) < 300).sum()
        assert dark > 50, "no label text under the picture"


def test_title_is_drawn_and_more_poses_wrap_onto_a_second_row():
    tiles = [_tile(i) for i in range(8)]
    sheet = render_contact_sheet(tiles, title="Generation 0002 - extend - 8/8 poses passed")
    rects = tile_rects(8, cell_width(tiles))
    assert rects[4][1] > rects[0][1] and rects[4][0] == rects[0][0]
    assert sheet.shape[0] > rects[7][1] + rects[7][3]
    header = sheet[: rects[0][1]]
    assert (header.astype(int).sum(axis=-1) < 200).sum() > 200, "no title text"


def test_a_pose_without_image_shows_a_placeholder():
    tiles = [_tile(0), _tile(1, passed=False, image=False)]
    sheet = render_contact_sheet(tiles, title="t")
    x, y, w, h = tile_rects(2, cell_width(tiles))[1]
    assert _count(sheet[y : y + h, x : x + w], PLACEHOLDER) > 0.8 * w * h


def test_wide_images_are_letterboxed_not_stretched():
    tiles = [_tile(0, size=(1200, 300))]
    sheet = render_contact_sheet(tiles, title="t")
    x, y, w, h = tile_rects(1, cell_width(tiles))[0]
    column = sheet[y : y + h, x + w // 2]
    rows = np.all(column == np.array(COLOURS[0], np.uint8), axis=-1).sum()
    assert rows == pytest.approx(w * 300 / 1200, abs=2)  # aspect kept
    assert tuple(sheet[y + 2, x + w // 2]) != COLOURS[0]


def test_same_input_gives_identical_png_bytes_and_round_trips():
    tiles = [_tile(i, passed=i != 2) for i in range(4)]
    first = contact_sheet_png(tiles, title="Generation 0001", compression=1)
    second = contact_sheet_png(
        [_tile(i, passed=i != 2) for i in range(4)], title="Generation 0001", compression=1
    )
    assert first == second
    decoded = decode_png(first)
    assert decoded.dtype == np.uint8 and decoded.ndim == 3 and decoded.shape[2] == 3
    assert np.array_equal(decoded, render_contact_sheet(tiles, title="Generation 0001"))
    assert tuple(decoded[2, 2]) == BACKGROUND


def test_text_is_made_drawable_and_empty_sheets_are_refused():
    assert ascii_text("ΔE Pallū") == "?E Pallu"
    with pytest.raises(ValueError):
        render_contact_sheet([], title="t")
