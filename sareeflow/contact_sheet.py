"""A generation's contact sheet: every pose of the generation on one image (issue 5, item 6).

A person checks a whole generation at a glance: each pose's latest image (a failed pose shows
its last, rejected attempt), its id and catalogue label, a PASS/FAIL badge, the number of
attempts and, for a failure, what validation found. Stored as
``generations/NNNN/contact_sheet.png`` (kind ``contact_sheet``).

Pure drawing with OpenCV (Hershey fonts are ASCII only, so text is transliterated). Nothing
depends on time or ids: the same images and facts give byte-identical PNGs.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from sareeflow.imaging import encode_png

# ------------------------------------------------------------------ layout (px)
IMAGE_HEIGHT_PX = 360
"""Height of each pose's picture on the sheet (px); catalogue images are scaled down to it."""
MAX_ASPECT = 1.5
"""Widest picture cell, as width / height: wider catalogue images are letterboxed."""
MAX_COLUMNS = 4
"""Poses per row; a standard job (4 poses) fits one row, an extend job (8) two."""
PADDING_PX = 16
"""Gap between cards and around the sheet (px)."""
HEADER_HEIGHT_PX = 52
CAPTION_HEIGHT_PX = 62
"""Room under each picture for the label line and the attempts / failure line (px)."""
MIN_CELL_WIDTH_PX = 200
"""Narrowest card (px), so a short label like "04 Pallu close-up" shows in full."""
BADGE_MARGIN_PX = 8
BADGE_PAD_PX = 6

# ------------------------------------------------------------------ colours (RGB)
BACKGROUND = (244, 242, 238)
CARD = (255, 255, 255)
PLACEHOLDER = (226, 224, 220)
TEXT = (34, 34, 34)
MUTED = (112, 112, 112)
PASS_GREEN = (30, 126, 52)
FAIL_RED = (196, 36, 36)
WHITE = (255, 255, 255)

# ------------------------------------------------------------------ type
FONT = cv2.FONT_HERSHEY_SIMPLEX
TITLE_SCALE, LABEL_SCALE, NOTE_SCALE, BADGE_SCALE = 0.8, 0.55, 0.45, 0.55
TITLE_THICKNESS, LABEL_THICKNESS, NOTE_THICKNESS, BADGE_THICKNESS = 2, 1, 1, 2


@dataclass(frozen=True)
class SheetTile:
    """One pose on the sheet."""

    pose: str
    label: str
    passed: bool
    attempts: int
    image: np.ndarray | None
    """The pose's latest image (RGB uint8), or None when no attempt produced one."""
    note: str = ""
    """A short line under a failed pose, e.g. its failure kinds."""


def render_contact_sheet(
    tiles: Sequence[SheetTile],
    *,
    title: str,
    image_height: int = IMAGE_HEIGHT_PX,
    max_columns: int = MAX_COLUMNS,
) -> np.ndarray:
    """The sheet as an RGB uint8 array: a title line, then the tiles in rows of ``max_columns``."""
    if not tiles:
        raise ValueError("a contact sheet needs at least one pose")
    cell_w = cell_width(tiles, image_height)
    columns = min(len(tiles), max_columns)
    rows = math.ceil(len(tiles) / columns)
    card_h = image_height + CAPTION_HEIGHT_PX
    width = PADDING_PX + columns * (cell_w + PADDING_PX)
    height = HEADER_HEIGHT_PX + rows * (card_h + PADDING_PX) + PADDING_PX
    sheet = np.empty((height, width, 3), np.uint8)
    sheet[:] = BACKGROUND
    _text(sheet, _fit(title, width - 2 * PADDING_PX, TITLE_SCALE, TITLE_THICKNESS),
          (PADDING_PX, HEADER_HEIGHT_PX - 18), TITLE_SCALE, TEXT, TITLE_THICKNESS)  # fmt: skip
    for index, tile in enumerate(tiles):
        row, col = divmod(index, columns)
        x = PADDING_PX + col * (cell_w + PADDING_PX)
        y = HEADER_HEIGHT_PX + row * (card_h + PADDING_PX)
        _draw_tile(sheet, tile, x, y, cell_w, image_height)
    return sheet


def contact_sheet_png(
    tiles: Sequence[SheetTile], *, title: str, compression: int, **layout: int
) -> bytes:
    """:func:`render_contact_sheet` encoded as deterministic PNG bytes."""
    return encode_png(render_contact_sheet(tiles, title=title, **layout), compression=compression)


def tile_rects(
    count: int, cell_w: int, *, image_height: int = IMAGE_HEIGHT_PX, max_columns: int = MAX_COLUMNS
) -> list[tuple[int, int, int, int]]:
    """Picture rectangles (x, y, w, h) of ``count`` tiles on a sheet, in tile order."""
    columns = min(count, max_columns)
    rects = []
    for index in range(count):
        row, col = divmod(index, columns)
        x = PADDING_PX + col * (cell_w + PADDING_PX)
        y = HEADER_HEIGHT_PX + row * (image_height + CAPTION_HEIGHT_PX + PADDING_PX)
        rects.append((x, y, cell_w, image_height))
    return rects


def cell_width(tiles: Sequence[SheetTile], image_height: int = IMAGE_HEIGHT_PX) -> int:
    """Width (px) of every card: the widest picture's, at most ``MAX_ASPECT`` × height."""
    aspects = [t.image.shape[1] / t.image.shape[0] for t in tiles if t.image is not None]
    aspect = min(max(aspects, default=2 / 3), MAX_ASPECT)
    return max(int(round(image_height * aspect)), MIN_CELL_WIDTH_PX)


# ------------------------------------------------------------------ drawing


def _draw_tile(sheet: np.ndarray, tile: SheetTile, x: int, y: int, w: int, h: int) -> None:
    sheet[y : y + h + CAPTION_HEIGHT_PX, x : x + w] = CARD
    if tile.image is None:
        sheet[y : y + h, x : x + w] = PLACEHOLDER
        _text(sheet, "no image", (x + w // 2 - 40, y + h // 2), LABEL_SCALE, MUTED, LABEL_THICKNESS)
    else:
        picture = _fit_image(tile.image, w, h)
        ph, pw = picture.shape[:2]
        ox, oy = x + (w - pw) // 2, y + (h - ph) // 2
        sheet[oy : oy + ph, ox : ox + pw] = picture
    colour = PASS_GREEN if tile.passed else FAIL_RED
    _badge(
        sheet, "PASS" if tile.passed else "FAIL", x + BADGE_MARGIN_PX, y + BADGE_MARGIN_PX, colour
    )
    # A status stripe along the card's bottom edge, readable even at thumbnail size.
    sheet[y + h + CAPTION_HEIGHT_PX - 4 : y + h + CAPTION_HEIGHT_PX, x : x + w] = colour
    label = _fit(f"{tile.pose} {tile.label}", w - 16, LABEL_SCALE, LABEL_THICKNESS)
    _text(sheet, label, (x + 8, y + h + 22), LABEL_SCALE, TEXT, LABEL_THICKNESS)
    detail = f"{tile.attempts} attempt{'s' if tile.attempts != 1 else ''}"
    if not tile.passed and tile.note:
        detail += f" - {tile.note}"
    _text(sheet, _fit(detail, w - 16, NOTE_SCALE, NOTE_THICKNESS), (x + 8, y + h + 44),
          NOTE_SCALE, MUTED if tile.passed else FAIL_RED, NOTE_THICKNESS)  # fmt: skip


def _fit_image(image: np.ndarray, w: int, h: int) -> np.ndarray:
    """The image scaled (aspect kept) to fit inside w × h; area averaging when shrinking."""
    ih, iw = image.shape[:2]
    scale = min(w / iw, h / ih)
    size = (max(1, int(round(iw * scale))), max(1, int(round(ih * scale))))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    rgb = image[..., :3] if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    return cv2.resize(np.ascontiguousarray(rgb), size, interpolation=interpolation)


def _badge(sheet: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int]) -> None:
    (tw, th), baseline = cv2.getTextSize(text, FONT, BADGE_SCALE, BADGE_THICKNESS)
    w, h = tw + 2 * BADGE_PAD_PX, th + baseline + 2 * BADGE_PAD_PX
    sheet[y : y + h, x : x + w] = colour
    _text(
        sheet, text, (x + BADGE_PAD_PX, y + BADGE_PAD_PX + th), BADGE_SCALE, WHITE, BADGE_THICKNESS
    )


def _text(
    sheet: np.ndarray,
    text: str,
    origin: tuple[int, int],
    scale: float,
    colour: tuple[int, int, int],
    thickness: int,
) -> None:
    cv2.putText(sheet, ascii_text(text), origin, FONT, scale, colour, thickness, cv2.LINE_AA)


def _fit(text: str, max_width: int, scale: float, thickness: int) -> str:
    """``text`` cut with '...' so it is at most ``max_width`` px wide when drawn."""
    text = ascii_text(text)
    if cv2.getTextSize(text, FONT, scale, thickness)[0][0] <= max_width:
        return text
    while text and cv2.getTextSize(text + "...", FONT, scale, thickness)[0][0] > max_width:
        text = text[:-1]
    return text.rstrip() + "..."


def ascii_text(text: str) -> str:
    """What Hershey fonts can draw: accents dropped, other non-ASCII characters replaced."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(
        c if 32 <= ord(c) < 127 else ("" if unicodedata.combining(c) else "?") for c in decomposed
    )
