"""The bundled demo sample: a maroon-and-gold saree photographed on a wooden floor.

``python -m sareeflow.synth.sample [OUT_DIR]`` writes ``sample_saree.jpg`` (2000 x 1500, JPEG
quality 90) and ``sample_saree.truth.json`` (its :class:`~sareeflow.synth.photo.PhotoTruth`)
into ``OUT_DIR`` (default: the package's ``sareeflow/samples``). The result is byte-identical
run to run (cv2's JPEG encoder is deterministic for the same pixels and quality).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from sareeflow.synth.cloth import ClothStyle, make_cloth
from sareeflow.synth.photo import PhotoTruth, make_photo

SAMPLE_SEED = 20240611
SAMPLE_PHOTO_SIZE = (2000, 1500)
SAMPLE_CLOTH_SIZE = (2200, 820)
SAMPLE_JPEG_QUALITY = 90
SAMPLE_COVERAGE = 0.45
SAMPLE_NAME = "sample_saree"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "samples"

SAMPLE_STYLE = ClothStyle(
    body_family="dark",
    body_color=(118, 18, 36),
    body_motif="buttis",
    motif_color=(214, 172, 74),
    motif_spacing=0.11,
    has_border=True,
    border_top_frac=0.11,
    border_bottom_frac=0.11,
    border_style="temple",
    border_color=(28, 70, 44),
    zari_color=(222, 184, 84),
    has_pallu=True,
    pallu_frac=0.2,
    pallu_design="big_motifs",
    pallu_color=(150, 24, 40),
    pallu_accent=(226, 188, 90),
    pallu_cross_bands=3,
    weave_noise=2.0,
)


def make_sample() -> tuple[np.ndarray, PhotoTruth]:
    """The demo photo (RGB uint8) and its ground truth."""
    cloth, truth = make_cloth(SAMPLE_SEED, size=SAMPLE_CLOTH_SIZE, style=SAMPLE_STYLE)
    return make_photo(
        cloth,
        truth,
        SAMPLE_SEED,
        size=SAMPLE_PHOTO_SIZE,
        difficulty="easy",
        rotation=0,
        background="wood",
        jpeg_quality=SAMPLE_JPEG_QUALITY,
        coverage=SAMPLE_COVERAGE,
    )


def write_sample(out_dir: Path = DEFAULT_OUT) -> tuple[Path, Path]:
    """Write the sample JPEG and its truth JSON; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    photo, truth = make_sample()
    ok, buf = cv2.imencode(
        ".jpg",
        cv2.cvtColor(photo, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, SAMPLE_JPEG_QUALITY],
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    jpg = out_dir / f"{SAMPLE_NAME}.jpg"
    meta = out_dir / f"{SAMPLE_NAME}.truth.json"
    jpg.write_bytes(buf.tobytes())
    meta.write_text(truth.model_dump_json(indent=2) + "\n")
    return jpg, meta


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else DEFAULT_OUT
    jpg, meta = write_sample(out)
    print(f"wrote {jpg} ({jpg.stat().st_size // 1024} KB) and {meta}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
