"""Image bytes in and out: upload checking and normalisation, deterministic PNG encoding.

Uploads are decoded with Pillow (it knows EXIF orientation, ICC profiles, CMYK, 16-bit, palette
and animated files); stored artifacts are encoded with OpenCV, whose PNG writer is fast at low
zlib levels and writes no timestamps, so the same pixels always give the same bytes.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from sareeflow.errors import InvalidInput
from sareeflow.settings import Settings

ACCEPTED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "TIFF": "tif", "MPO": "jpg"}
"""Pillow format name → file extension of the stored original. MPO is a multi-picture JPEG
(phone cameras); its first picture is used."""

_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True)
class NormalizedUpload:
    """An accepted upload: the pixels every stage starts from, and facts about the original."""

    image: np.ndarray
    """RGB or RGBA ``uint8``, EXIF orientation applied, in sRGB."""
    format: str
    extension: str
    original_size: tuple[int, int]
    notes: tuple[str, ...] = ()


def normalize_upload(data: bytes, *, settings: Settings) -> NormalizedUpload:
    """Check an uploaded file and turn it into sRGB pixels, or raise :class:`InvalidInput`.

    Every rejection says what a seller can do about it; nothing here touches the store. The
    format, frame count and pixel count are checked from the file's header, before a single
    pixel is decoded.
    """
    if not data:
        raise InvalidInput("The uploaded file is empty.")
    if len(data) > settings.max_upload_bytes:
        limit_mb = settings.max_upload_bytes // (1024 * 1024)
        raise InvalidInput(f"The photo is larger than {limit_mb} MB; please upload a smaller file.")
    image = _open(data, settings=settings)
    notes: list[str] = []
    fmt = image.format or ""
    width, height = image.size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on odd EXIF; it is not fatal
            image = ImageOps.exif_transpose(image)
            image = _to_srgb(image, notes)
            pixels = _to_uint8_array(image)
    except InvalidInput:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InvalidInput("The photo could not be read; the file may be damaged.") from exc
    return NormalizedUpload(
        image=pixels,
        format=fmt,
        extension=ACCEPTED_FORMATS[fmt],
        original_size=(width, height),
        notes=tuple(notes),
    )


def _open(data: bytes, *, settings: Settings) -> Image.Image:
    """Open, check the header against our limits, then decode the (first) frame.

    Pillow's own bomb guard (``Image.MAX_IMAGE_PIXELS``) is a process-wide global; changing it
    per call would race between concurrent uploads, so it is left alone and our limit is
    checked from the header instead. Pillow still refuses images over twice its own limit
    (about 179 megapixels) before we see them, which caps ``max_upload_pixels`` in practice.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns about odd metadata (corrupt EXIF, oversized tags) while parsing, and
            # about images past its own pixel limit; a warning is not a verdict (our limit is
            # checked below), and under a strict warnings filter it would escape as a 500.
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            _check_header(image, settings)
            image.load()
        return image
    except InvalidInput:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidInput(_too_many_pixels(settings)) from exc
    except UnidentifiedImageError as exc:
        raise InvalidInput(
            "The file is not a photo in a supported format (JPEG, PNG, WebP, TIFF)."
        ) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidInput(
            "The photo could not be read; the file may be damaged or incomplete."
        ) from exc


def _check_header(image: Image.Image, settings: Settings) -> None:
    """Format, frames and size, all known from the header: refuse before decoding pixels."""
    fmt = image.format or ""
    if fmt not in ACCEPTED_FORMATS:
        raise InvalidInput("Only JPEG, PNG, WebP and TIFF photos are accepted.")
    if getattr(image, "n_frames", 1) > 1 and fmt != "MPO":
        raise InvalidInput("Animated or multi-page images are not accepted; upload a single photo.")
    width, height = image.size
    if width * height > settings.max_upload_pixels:
        raise InvalidInput(_too_many_pixels(settings))
    if min(width, height) < settings.min_upload_side_px:
        raise InvalidInput(
            f"The photo is too small ({width}x{height}); please upload at least "
            f"{settings.min_upload_side_px} pixels on each side."
        )


def _too_many_pixels(settings: Settings) -> str:
    megapixels = settings.max_upload_pixels / 1_000_000
    return f"The photo has too many pixels; please upload at most {megapixels:g} megapixels."


def _to_srgb(image: Image.Image, notes: list[str]) -> Image.Image:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits by value range, not by truncation.
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
        notes.append("16-bit greyscale converted to 8 bits.")
    if image.mode == "F":
        raise InvalidInput("Floating-point images are not accepted; upload a normal photo.")
    icc = image.info.get("icc_profile")
    target_mode = "RGBA" if has_alpha else "RGB"
    if icc and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if image.mode == "RGBA":
                alpha = image.getchannel("A")
                rgb = ImageCms.profileToProfile(
                    image.convert("RGB"), source, _SRGB, outputMode="RGB"
                )
                rgb.putalpha(alpha)
                notes.append("Colour profile converted to sRGB.")
                return rgb
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
            notes.append("Colour profile converted to sRGB.")
            return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            notes.append("The embedded colour profile was unreadable and was ignored.")
    return image.convert(target_mode)


def _to_uint8_array(image: Image.Image) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise InvalidInput("The photo's pixel format is not supported.")
    return np.ascontiguousarray(array)


def has_meaningful_alpha(image: np.ndarray) -> bool:
    """True when an RGBA image's alpha actually cuts something out."""
    return image.ndim == 3 and image.shape[2] == 4 and bool((image[..., 3] < 250).any())


def encode_png(image: np.ndarray, *, compression: int) -> bytes:
    """PNG bytes of an RGB/RGBA/grey ``uint8`` image; identical pixels give identical bytes."""
    if image.ndim == 3 and image.shape[2] == 3:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    else:
        bgr = image
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_png` (RGB, RGBA or grey ``uint8``)."""
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ValueError("not a decodable image")
    if array.ndim == 3 and array.shape[2] == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA)
    return array


def decode_any(data: bytes) -> np.ndarray:
    """Decode a candidate image file (any OpenCV format) to RGB ``uint8``."""
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if array is None:
        raise InvalidInput("The image could not be read.")
    return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
