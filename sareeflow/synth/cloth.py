"""Generated flat sarees with known part rectangles.

A real saree is one long cloth: a *body* with a small repeating motif, a *border* woven along
both long edges, and a *pallu* at one end (a denser, differently coloured panel, 15-25 % of the
length, often opened by cross-bands). :func:`make_cloth` draws one in the canonical orientation
that S_flat uses, so tests of every stage can compare against exact rectangles:

* long side horizontal; ``border_top`` along the top edge, ``border_bottom`` along the bottom
  edge, each running the **full length** (also past the pallu, as on a woven saree);
* the pallu at the **right** end, spanning the height **between** the borders;
* the body fills what is left: between the borders and left of the pallu.

With ``has_border=False`` the body (and pallu) run to the long edges; with ``has_pallu=False``
the body runs to the right end. Every region carries fine weave noise, so no region is flat.
Everything is deterministic in ``seed`` (``np.random.default_rng``).
"""

from __future__ import annotations

import colorsys
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, Field

from sareeflow.models import Rect

RGB = tuple[int, int, int]

# Ranges of the generated designs (fractions are of the cloth height unless said otherwise).
BORDER_FRAC_RANGE = (0.04, 0.14)
"""Each border band, as a fraction of the cloth height."""
PALLU_FRAC_RANGE = (0.15, 0.25)
"""Pallu length as a fraction of the cloth length."""
MOTIF_SPACING_RANGE = (0.06, 0.14)
"""Body motif spacing (centre to centre) as a fraction of the cloth height."""
WEAVE_NOISE_RANGE = (2.0, 5.0)
"""Std of the per-pixel weave noise, 8-bit levels."""
P_NO_BORDER = 0.12
P_NO_PALLU = 0.12
P_EQUAL_BORDERS = 0.7
"""Most sarees weave the same border on both edges."""

# Minimum CIELAB distances that make parts distinct from the body (ΔE76 units).
MIN_BORDER_CONTRAST = 28.0
MIN_PALLU_CONTRAST = 22.0
MIN_MOTIF_CONTRAST = 18.0
MAX_COLOUR_TRIES = 200

BodyFamily = Literal["dark", "cream", "saturated", "pastel"]
BodyMotif = Literal["buttis", "dots", "stripes", "checks", "paisley", "plain"]
BorderStyle = Literal["zari_lines", "motif_band", "temple"]
PalluDesign = Literal["stripes", "big_motifs", "dense_buttis"]

BODY_FAMILIES: tuple[BodyFamily, ...] = ("dark", "cream", "saturated", "pastel")
BODY_MOTIFS: tuple[BodyMotif, ...] = ("buttis", "dots", "stripes", "checks", "paisley", "plain")
BORDER_STYLES: tuple[BorderStyle, ...] = ("zari_lines", "motif_band", "temple")
PALLU_DESIGNS: tuple[PalluDesign, ...] = ("stripes", "big_motifs", "dense_buttis")


class ClothStyle(BaseModel):
    """The design of one generated saree (resolution independent: sizes are fractions)."""

    body_family: BodyFamily
    body_color: RGB
    body_motif: BodyMotif
    motif_color: RGB
    motif_spacing: float = Field(description="Motif spacing, fraction of cloth height.")
    stripe_orientation: Literal["along", "across"] = Field(
        "along", description="For stripes/checks: 'along' the length (horizontal) or 'across'."
    )
    has_border: bool = True
    border_top_frac: float = Field(description="Top border band, fraction of height (0 if none).")
    border_bottom_frac: float = Field(description="Bottom border band, fraction of height.")
    border_style: BorderStyle = "zari_lines"
    border_color: RGB
    zari_color: RGB
    has_pallu: bool = True
    pallu_frac: float = Field(description="Pallu length, fraction of cloth length (0 if none).")
    pallu_design: PalluDesign = "stripes"
    pallu_color: RGB
    pallu_accent: RGB
    pallu_cross_bands: int = Field(0, ge=0, description="Cross-bands at the pallu start.")
    weave_noise: float = Field(3.0, ge=0, description="Weave noise std, 8-bit levels.")


class ClothTruth(BaseModel):
    """Where each part lies in the generated cloth (``None`` when absent)."""

    size: tuple[int, int] = Field(description="(w, h) of the cloth image.")
    body: Rect
    border_top: Rect | None
    border_bottom: Rect | None
    pallu: Rect | None
    style: ClothStyle


# ----------------------------------------------------------------------------- colours
def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return (round(r * 255), round(g * 255), round(b * 255))


def rgb_to_lab(color: RGB) -> np.ndarray:
    """CIELAB (L in 0-100) of one sRGB colour."""
    px = np.array([[color]], dtype=np.float32) / 255.0
    return cv2.cvtColor(px, cv2.COLOR_RGB2Lab)[0, 0].astype(np.float64)


def lab_distance(a: RGB, b: RGB) -> float:
    """ΔE76 between two sRGB colours."""
    return float(np.linalg.norm(rgb_to_lab(a) - rgb_to_lab(b)))


def _family_color(rng: np.random.Generator, family: BodyFamily) -> RGB:
    hue = rng.uniform(0, 1)
    if family == "dark":
        return _hsv(hue, rng.uniform(0.4, 0.9), rng.uniform(0.16, 0.36))
    if family == "cream":
        return _hsv(rng.uniform(0.08, 0.16), rng.uniform(0.04, 0.16), rng.uniform(0.88, 0.97))
    if family == "saturated":
        return _hsv(hue, rng.uniform(0.7, 1.0), rng.uniform(0.6, 0.9))
    return _hsv(hue, rng.uniform(0.2, 0.4), rng.uniform(0.8, 0.95))


def _zari(rng: np.random.Generator) -> RGB:
    """Gold (mostly) or silver metallic thread colour."""
    if rng.uniform() < 0.8:
        return _hsv(rng.uniform(0.11, 0.14), rng.uniform(0.55, 0.75), rng.uniform(0.78, 0.9))
    grey = int(rng.integers(180, 205))
    return (grey, grey, min(255, grey + 6))


def _distinct_color(
    rng: np.random.Generator, avoid: list[RGB], min_distance: float, candidates: list[RGB]
) -> RGB:
    """A colour at least ``min_distance`` ΔE from every colour in ``avoid``.

    Tries the candidates first (so borders can be zari, pallus can match the border), then
    random colours of any family; the farthest colour seen is the fallback.
    """
    best, best_d = candidates[0] if candidates else (0, 0, 0), -1.0
    for i in range(MAX_COLOUR_TRIES):
        if i < len(candidates):
            color = candidates[i]
        else:
            color = _family_color(rng, BODY_FAMILIES[int(rng.integers(len(BODY_FAMILIES)))])
        d = min(lab_distance(color, a) for a in avoid)
        if d >= min_distance:
            return color
        if d > best_d:
            best, best_d = color, d
    return best


def random_style(rng: np.random.Generator) -> ClothStyle:
    """Draw a saree design: body colour family, motif, border and pallu."""
    family: BodyFamily = BODY_FAMILIES[int(rng.integers(len(BODY_FAMILIES)))]
    body = _family_color(rng, family)
    zari = _zari(rng)
    motif_kind: BodyMotif = BODY_MOTIFS[int(rng.integers(len(BODY_MOTIFS)))]
    motif_color = _distinct_color(rng, [body], MIN_MOTIF_CONTRAST, [zari])

    has_border = bool(rng.uniform() >= P_NO_BORDER)
    top = float(rng.uniform(*BORDER_FRAC_RANGE)) if has_border else 0.0
    if has_border and rng.uniform() >= P_EQUAL_BORDERS:
        bottom = float(rng.uniform(*BORDER_FRAC_RANGE))
    else:
        bottom = top
    border_candidates = [_family_color(rng, "dark"), _family_color(rng, "saturated"), zari]
    first = int(rng.integers(len(border_candidates)))  # kasavu-like gold borders too
    border_color = _distinct_color(
        rng, [body], MIN_BORDER_CONTRAST, border_candidates[first:] + border_candidates[:first]
    )
    # Zari must also stand out from the body, or zari-only border rows would look like body.
    if lab_distance(zari, body) < MIN_MOTIF_CONTRAST:
        zari = _distinct_color(rng, [body], MIN_MOTIF_CONTRAST, [(200, 170, 60), (190, 190, 196)])

    has_pallu = bool(rng.uniform() >= P_NO_PALLU)
    pallu_frac = float(rng.uniform(*PALLU_FRAC_RANGE)) if has_pallu else 0.0
    pallu_color = _distinct_color(
        rng,
        [body],
        MIN_PALLU_CONTRAST,
        [border_color] if rng.uniform() < 0.5 else [_family_color(rng, "saturated")],
    )
    accent = _distinct_color(rng, [pallu_color, body], MIN_MOTIF_CONTRAST, [zari, motif_color])
    return ClothStyle(
        body_family=family,
        body_color=body,
        body_motif=motif_kind,
        motif_color=motif_color,
        motif_spacing=float(rng.uniform(*MOTIF_SPACING_RANGE)),
        stripe_orientation="along" if rng.uniform() < 0.5 else "across",
        has_border=has_border,
        border_top_frac=top,
        border_bottom_frac=bottom,
        border_style=BORDER_STYLES[int(rng.integers(len(BORDER_STYLES)))],
        border_color=border_color,
        zari_color=zari,
        has_pallu=has_pallu,
        pallu_frac=pallu_frac,
        pallu_design=PALLU_DESIGNS[int(rng.integers(len(PALLU_DESIGNS)))],
        pallu_color=pallu_color,
        pallu_accent=accent,
        pallu_cross_bands=int(rng.integers(0, 4)),
        weave_noise=float(rng.uniform(*WEAVE_NOISE_RANGE)),
    )


# ----------------------------------------------------------------------------- motifs
def _fill(h: int, w: int, color: RGB) -> np.ndarray:
    out = np.empty((h, w, 3), np.uint8)
    out[:] = color
    return out


def _pt(x: float, y: float) -> tuple[int, int]:
    return (round(x), round(y))


def _draw_butti(img: np.ndarray, cx: float, cy: float, r: float, color: RGB, centre: RGB) -> None:
    """A small flower: six petals around a disc."""
    petal = max(1, round(r * 0.45))
    for k in range(6):
        ang = k * 60.0
        px = cx + 0.55 * r * np.cos(np.radians(ang))
        py = cy + 0.55 * r * np.sin(np.radians(ang))
        cv2.ellipse(
            img, _pt(px, py), (petal, max(1, petal // 2)), ang, 0, 360, color, -1, cv2.LINE_AA
        )
    cv2.circle(img, _pt(cx, cy), max(1, round(r * 0.28)), centre, -1, cv2.LINE_AA)


def _draw_paisley(
    img: np.ndarray, cx: float, cy: float, r: float, angle: float, color: RGB, ground: RGB
) -> None:
    """An asymmetric paisley: a teardrop body with a curled tail, hollow centre and dot."""
    a, b = max(2, round(r)), max(1, round(r * 0.62))
    cv2.ellipse(img, _pt(cx, cy), (a, b), angle, 0, 360, color, -1, cv2.LINE_AA)
    t = np.radians(angle)
    ux, uy = np.cos(t), np.sin(t)  # along the long axis
    vx, vy = -uy, ux
    tail = np.array(
        [
            (cx + ux * a * 0.55 + vx * b * 0.7, cy + uy * a * 0.55 + vy * b * 0.7),
            (cx + ux * a * 1.55 + vx * b * 1.1, cy + uy * a * 1.55 + vy * b * 1.1),
            (cx + ux * a * 0.95 - vx * b * 0.1, cy + uy * a * 0.95 - vy * b * 0.1),
        ]
    )
    cv2.fillPoly(img, [np.round(tail).astype(np.int32)], color, cv2.LINE_AA)
    inner = (max(1, round(a * 0.5)), max(1, round(b * 0.45)))
    cv2.ellipse(img, _pt(cx - ux * a * 0.1, cy - uy * a * 0.1), inner, angle, 0, 360, ground, -1)
    cv2.circle(img, _pt(cx - ux * a * 0.1, cy - uy * a * 0.1), max(1, round(b * 0.2)), color, -1)


def _grid(
    w: int, h: int, spacing: float, rng: np.random.Generator
) -> list[tuple[float, float, int]]:
    """Staggered (brick) grid of motif centres covering a w x h area: (x, y, row index)."""
    ox, oy = rng.uniform(0, spacing), rng.uniform(0, spacing)
    dy = spacing * 0.866
    pts = []
    rows = int(np.ceil((h + spacing) / dy)) + 1
    cols = int(np.ceil((w + spacing) / spacing)) + 1
    for j in range(rows):
        for i in range(cols):
            x = ox - spacing + i * spacing + (j % 2) * spacing / 2
            y = oy - spacing + j * dy
            pts.append((x, y, j))
    return pts


def _stripes(
    img: np.ndarray, period: float, width: float, color: RGB, along: bool, phase: float = 0.0
) -> None:
    """Parallel lines of one whole-pixel width; ``along`` = horizontal (the cloth's length).

    Every line has the same thickness, as woven lines do (a fractional width snapped per pixel
    would make some lines one pixel thicker at irregular intervals). ``phase`` in [0, 1) shifts
    the first line so it does not always touch the region's edge.
    """
    h, w = img.shape[:2]
    n = h if along else w
    thickness = max(1, round(width))
    on = np.zeros(n, bool)
    for start in np.round(np.arange(phase * period - period, n, period)).astype(int):
        on[max(start, 0) : max(start + thickness, 0)] = True
    if along:
        img[on, :] = color
    else:
        img[:, on] = color


def _render_body(
    rng: np.random.Generator, style: ClothStyle, w: int, h: int, ref_h: int
) -> np.ndarray:
    img = _fill(h, w, style.body_color)
    if w == 0 or h == 0:
        return img
    sp = max(4.0, style.motif_spacing * ref_h)
    kind = style.body_motif
    if kind in ("buttis", "dots", "paisley"):
        for x, y, j in _grid(w, h, sp, rng):
            if kind == "buttis":
                _draw_butti(img, x, y, sp * 0.3, style.motif_color, style.border_color)
            elif kind == "dots":
                cv2.circle(
                    img, _pt(x, y), max(1, round(sp * 0.12)), style.motif_color, -1, cv2.LINE_AA
                )
            else:
                ang = 35.0 if j % 2 == 0 else 215.0
                _draw_paisley(img, x, y, sp * 0.28, ang, style.motif_color, style.body_color)
    elif kind == "stripes":
        _stripes(
            img,
            sp * 0.6,
            max(1.0, sp * 0.12),
            style.motif_color,
            style.stripe_orientation == "along",
            rng.uniform(),
        )
    elif kind == "checks":
        width = max(1.0, sp * 0.08)
        _stripes(img, sp * 0.7, width, style.motif_color, True, rng.uniform())
        _stripes(img, sp * 0.7, width, style.motif_color, False, rng.uniform())
    return img


def _render_border(rng: np.random.Generator, style: ClothStyle, w: int, bh: int) -> np.ndarray:
    """A border band with its outer edge at row 0 and the body side at the last row."""
    img = _fill(bh, w, style.border_color)
    if bh == 0 or w == 0:
        return img
    zari = style.zari_color
    line = max(1, round(bh * 0.06))
    img[:line] = zari  # the selvedge line
    if style.border_style == "zari_lines":
        for frac in (0.62, 0.8):
            y0 = round(bh * frac)
            img[y0 : y0 + line] = zari
        img[bh - line :] = zari
    elif style.border_style == "motif_band":
        img[bh - 2 * line :] = zari
        period = max(4.0, bh * 1.1)
        ox = rng.uniform(0, period)
        cy = bh * 0.5
        r = max(1.0, bh * 0.22)
        for i in range(int(np.ceil(w / period)) + 2):
            cx = ox - period + i * period
            diamond = np.array([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)])
            cv2.fillPoly(img, [np.round(diamond).astype(np.int32)], zari, cv2.LINE_AA)
            cv2.circle(
                img, _pt(cx + period / 2, cy), max(1, round(r * 0.35)), zari, -1, cv2.LINE_AA
            )
    else:  # temple: triangles of border colour rising from a solid band into a zari ground
        base = round(bh * 0.5)
        img[base:] = zari
        period = max(4.0, bh * 0.7)
        ox = rng.uniform(0, period)
        for i in range(int(np.ceil(w / period)) + 2):
            x0 = ox - period + i * period
            tri = np.array([(x0, base), (x0 + period, base), (x0 + period / 2, bh - 1)])
            cv2.fillPoly(img, [np.round(tri).astype(np.int32)], style.border_color, cv2.LINE_AA)
        img[max(0, bh - line) :] = zari
    return img


def _render_pallu(
    rng: np.random.Generator, style: ClothStyle, w: int, h: int, ref_h: int
) -> np.ndarray:
    img = _fill(h, w, style.pallu_color)
    if w == 0 or h == 0:
        return img
    accent = style.pallu_accent
    if style.pallu_design == "stripes":
        x = 0.0
        palette = [
            style.pallu_color,
            accent,
            style.pallu_color,
            style.border_color,
            style.pallu_color,
        ]
        k = 0
        while x < w:
            sw = max(1.0, rng.uniform(0.02, 0.07) * w)
            img[:, round(x) : round(x + sw)] = palette[k % len(palette)]
            x += sw
            k += 1
    elif style.pallu_design == "big_motifs":
        sp = max(6.0, h * 0.5)
        for x, y, j in _grid(w, h, sp, rng):
            _draw_paisley(img, x, y, sp * 0.3, 60.0 if j % 2 else 240.0, accent, style.pallu_color)
            cv2.circle(img, _pt(x + sp / 2, y), max(1, round(sp * 0.05)), accent, -1, cv2.LINE_AA)
    else:  # dense buttis
        sp = max(4.0, style.motif_spacing * ref_h * 0.55)
        for x, y, _ in _grid(w, h, sp, rng):
            _draw_butti(img, x, y, sp * 0.34, accent, style.border_color)
    # Cross-bands open the pallu (at its start, i.e. its left side).
    band_w = max(1, round(0.025 * w))
    gap = max(1, round(0.015 * w))
    for i in range(style.pallu_cross_bands):
        x0 = gap + i * (band_w + gap)
        img[:, x0 : x0 + band_w] = accent if i % 2 == 0 else style.border_color
    return img


def _weave_noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Additive woven texture (float32 HxWx3): twill diagonal, thread slubs and pixel noise."""
    yy, xx = np.mgrid[0:h, 0:w]
    twill = (((xx + yy) % 4) < 2).astype(np.float32) * 2.0 - 1.0
    noise = np.repeat(twill[..., None] * np.float32(sigma * 0.5), 3, axis=2)
    noise += rng.standard_normal((h, 1, 1), dtype=np.float32) * np.float32(sigma * 0.3)
    noise += rng.standard_normal((1, w, 1), dtype=np.float32) * np.float32(sigma * 0.3)
    noise += rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(sigma)
    noise += rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(sigma * 0.3)
    return noise


def part_rects(style: ClothStyle, size: tuple[int, int]) -> dict[str, Rect | None]:
    """The part rectangles a style gives at a cloth size (w, h)."""
    w, h = size
    bt = round(style.border_top_frac * h) if style.has_border else 0
    bb = round(style.border_bottom_frac * h) if style.has_border else 0
    pw = round(style.pallu_frac * w) if style.has_pallu else 0
    inner_h = h - bt - bb
    return {
        "border_top": (0, 0, w, bt) if bt > 0 else None,
        "border_bottom": (0, h - bb, w, bb) if bb > 0 else None,
        "pallu": (w - pw, bt, pw, inner_h) if pw > 0 else None,
        "body": (0, bt, w - pw, inner_h),
    }


def make_cloth(
    seed: int, *, size: tuple[int, int] = (1800, 400), style: ClothStyle | None = None
) -> tuple[np.ndarray, ClothTruth]:
    """A flat saree in canonical orientation (RGB uint8, ``size`` = (w, h)) and its truth.

    The style is drawn from ``seed`` when not given; rendering details (motif phase, stripe
    widths, weave noise) also come from ``seed``, so the same call gives identical bytes.
    """
    w, h = int(size[0]), int(size[1])
    if w < 8 or h < 8:
        raise ValueError(f"cloth size {size} is too small (minimum 8 x 8 px)")
    rng = np.random.default_rng(seed)
    if style is None:
        style = random_style(rng)
    render_rng = np.random.default_rng([seed, 1])
    rects = part_rects(style, (w, h))
    img = np.empty((h, w, 3), np.uint8)
    bx, by, bw, bh = rects["body"]  # type: ignore[misc]
    img[by : by + bh, bx : bx + bw] = _render_body(render_rng, style, bw, bh, h)
    if rects["pallu"] is not None:
        px, py, pw, ph = rects["pallu"]
        img[py : py + ph, px : px + pw] = _render_pallu(render_rng, style, pw, ph, h)
    if rects["border_top"] is not None:
        t = rects["border_top"][3]
        img[:t] = _render_border(render_rng, style, w, t)
    if rects["border_bottom"] is not None:
        b = rects["border_bottom"][3]
        img[h - b :] = np.flipud(_render_border(render_rng, style, w, b))
    noisy = img.astype(np.float32) + _weave_noise(render_rng, h, w, style.weave_noise)
    out = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    truth = ClothTruth(
        size=(w, h),
        body=rects["body"],  # type: ignore[arg-type]
        border_top=rects["border_top"],
        border_bottom=rects["border_bottom"],
        pallu=rects["pallu"],
        style=style,
    )
    return out, truth


def simulate_flat(
    cloth: np.ndarray,
    seed: int,
    *,
    shading: float = 0.06,
    noise_sigma: float = 2.0,
    blur_sigma: float = 0.6,
) -> np.ndarray:
    """What a flatten stage plausibly returns for ``cloth``: mild shading, blur and noise.

    ``shading`` is the peak-to-peak amplitude of a smooth multiplicative gradient (0.06 = ±3 %),
    ``noise_sigma`` the std of added sensor noise in 8-bit levels, ``blur_sigma`` a resampling
    blur in px. Used by extract/compose tests that need a realistic, imperfect S_flat.
    """
    rng = np.random.default_rng([seed, 2])
    h, w = cloth.shape[:2]
    img = cloth.astype(np.float32)
    if blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur_sigma)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(ang) * (xx / max(w - 1, 1) - 0.5) + np.sin(ang) * (yy / max(h - 1, 1) - 0.5)
    field = 1.0 + shading * ramp / max(float(np.abs(ramp).max()), 1e-6) * 0.5
    img *= field[..., None]
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(noise_sigma)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
