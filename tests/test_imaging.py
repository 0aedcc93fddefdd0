import io

import numpy as np
import pytest
from PIL import Image

from sareeflow.errors import InvalidInput
from sareeflow.imaging import decode_png, encode_png, normalize_upload
from sareeflow.settings import Settings


@pytest.fixture
def settings(tmp_path):
    return Settings(storage_root=tmp_path)


def _photo(mode="RGB", size=(120, 80)) -> Image.Image:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    base[:, : size[0] // 2] = (200, 30, 40)  # left half red: lets tests see orientation
    return Image.fromarray(base, "RGB").convert(mode)


def _bytes(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_accepted_formats_become_rgb_uint8(settings, fmt):
    upload = normalize_upload(_bytes(_photo(), fmt), settings=settings)
    assert upload.image.dtype == np.uint8 and upload.image.shape == (80, 120, 3)


def test_exif_orientation_is_applied(settings):
    image = _photo()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    upload = normalize_upload(_bytes(image, "JPEG", exif=exif), settings=settings)
    assert upload.image.shape == (120, 80, 3)
    top = upload.image[:10].reshape(-1, 3).mean(axis=0)
    assert top[0] > 150 and top[1] < 80  # the red half now on top


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA"])
def test_other_modes_are_normalised(settings, mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG" if mode != "LA" else "PNG"
    upload = normalize_upload(_bytes(_photo(mode), fmt), settings=settings)
    assert upload.image.dtype == np.uint8 and upload.image.shape[2] in (3, 4)


def test_16_bit_greyscale_is_scaled_not_truncated(settings):
    ramp = (np.linspace(0, 65535, 120 * 80).reshape(80, 120)).astype(np.uint16)
    upload = normalize_upload(_bytes(Image.fromarray(ramp), "PNG"), settings=settings)
    assert upload.image.max() >= 250 and upload.image.min() <= 5


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16_bit_colour_keeps_its_colour_at_8_bits(settings, ext):
    import cv2

    rgb16 = np.empty((80, 120, 3), np.uint16)
    rgb16[...] = (65535, 32768, 1000)
    ok, encoded = cv2.imencode(ext, rgb16[..., ::-1])  # OpenCV writes BGR
    upload = normalize_upload(encoded.tobytes(), settings=settings)
    assert upload.image.dtype == np.uint8
    assert np.abs(upload.image[0, 0].astype(int) - (255, 128, 4)).max() <= 1


def test_palette_grey_and_cmyk_keep_their_colours(settings):
    palette = Image.new("P", (80, 80))
    palette.putpalette([10, 200, 30] * 256)
    assert tuple(normalize_upload(_bytes(palette, "PNG"), settings=settings).image[0, 0]) == (
        10,
        200,
        30,
    )
    grey = normalize_upload(_bytes(Image.new("L", (80, 80), 77), "PNG"), settings=settings)
    assert tuple(grey.image[0, 0]) == (77, 77, 77)
    cyan_free = Image.new("CMYK", (80, 80), (0, 255, 255, 0))  # no cyan, full magenta+yellow
    red = normalize_upload(_bytes(cyan_free, "JPEG"), settings=settings).image[40, 40]
    assert red[0] > 230 and red[1] < 25 and red[2] < 25


def test_pixel_limit_is_checked_from_the_header_and_named(tmp_path):
    small_limit = Settings(storage_root=tmp_path, max_upload_pixels=5_000)
    with pytest.raises(InvalidInput, match="at most 0.005 megapixels"):
        normalize_upload(_bytes(_photo(), "PNG"), settings=small_limit)


def test_icc_profile_is_converted_to_srgb(settings):
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    upload = normalize_upload(_bytes(_photo(), "JPEG", icc_profile=srgb), settings=settings)
    assert upload.image.shape == (80, 120, 3)
    assert "converted to sRGB" in " ".join(upload.notes)


def test_unreadable_icc_profile_is_ignored_with_a_note(settings):
    odd = normalize_upload(_bytes(_photo(), "JPEG", icc_profile=b"garbage"), settings=settings)
    assert "ignored" in " ".join(odd.notes)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"hello world, not an image", "not a photo"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "not a photo"),
        (b"GIF89a" + b"\x00" * 100, "not a photo|damaged"),
    ],
)
def test_non_images_are_rejected_with_a_reason(settings, data, match):
    with pytest.raises(InvalidInput, match=match):
        normalize_upload(data, settings=settings)


def test_truncated_jpeg_is_rejected(settings):
    data = _bytes(_photo(size=(400, 300)), "JPEG")
    with pytest.raises(InvalidInput):
        normalize_upload(data[: len(data) // 3], settings=settings)


def test_tiny_image_is_rejected(settings):
    with pytest.raises(InvalidInput, match="too small"):
        normalize_upload(_bytes(_photo(size=(20, 20)), "PNG"), settings=settings)


def test_gif_is_not_accepted(settings):
    with pytest.raises(InvalidInput, match="JPEG, PNG, WebP and TIFF"):
        normalize_upload(_bytes(_photo(), "GIF"), settings=settings)


def test_animated_png_is_rejected(settings):
    frames = [_photo(), _photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(InvalidInput, match="Animated"):
        normalize_upload(buf.getvalue(), settings=settings)


def test_decompression_bomb_is_rejected(tmp_path):
    small_limit = Settings(storage_root=tmp_path, max_upload_pixels=5000)
    with pytest.raises(InvalidInput, match="too many pixels"):
        normalize_upload(_bytes(_photo(size=(200, 200)), "PNG"), settings=small_limit)


def test_oversized_file_is_rejected(tmp_path):
    tiny = Settings(storage_root=tmp_path, max_upload_bytes=100)
    with pytest.raises(InvalidInput, match="larger than"):
        normalize_upload(_bytes(_photo(), "PNG"), settings=tiny)


def test_png_round_trip_is_lossless_and_deterministic():
    image = np.random.default_rng(1).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    first, second = encode_png(image, compression=1), encode_png(image.copy(), compression=1)
    assert first == second
    assert np.array_equal(decode_png(first), image)
