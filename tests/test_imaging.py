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


# Adobe RGB (1998): primaries adapted to D50 and its 563/256 gamma, as in Adobe's own profile.
ADOBE_RGB_D50 = np.array(
    [[0.6097, 0.2053, 0.1492], [0.3111, 0.6257, 0.0632], [0.0195, 0.0609, 0.7446]]
)
ADOBE_GAMMA = 563 / 256
SRGB_D50 = np.array(
    [[0.4360747, 0.3850649, 0.1430804], [0.2225045, 0.7168786, 0.0606169],
     [0.0139322, 0.0971045, 0.7141733]]
)  # fmt: skip
D50 = (0.9642, 1.0, 0.8249)


def _matrix_trc_profile(primaries: np.ndarray, gamma: float) -> bytes:
    """A minimal ICC v2 RGB display profile (matrix + gamma curves), built from the spec: the
    camera or editor profiles sellers' photos carry are of this kind."""
    import struct

    def s15(values) -> bytes:
        return b"".join(struct.pack(">i", round(v * 65536)) for v in values)

    text = b"Adobe RGB (1998) test profile\0"
    tags = {
        b"desc": b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 3 + 67),
        b"cprt": b"text" + bytes(4) + b"none\0",
        b"wtpt": b"XYZ " + bytes(4) + s15(D50),
        **{tag: b"XYZ " + bytes(4) + s15(primaries[:, i])
           for i, tag in enumerate((b"rXYZ", b"gXYZ", b"bXYZ"))},
        **{tag: b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
           for tag in (b"rTRC", b"gTRC", b"bTRC")},
    }  # fmt: skip
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags.items():
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size) + bytes(4) + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + bytes(24) + struct.pack(">I", 0)
        + s15(D50) + bytes(4) + bytes(44)
    )  # fmt: skip
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def _adobe_to_srgb(rgb: np.ndarray) -> np.ndarray:
    """The textbook conversion: decode Adobe's gamma, to XYZ (D50), to linear sRGB, encode."""
    xyz = (rgb / 255.0) ** ADOBE_GAMMA @ ADOBE_RGB_D50.T
    linear = np.clip(xyz @ np.linalg.inv(SRGB_D50).T, 0, 1)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return encoded * 255.0


def test_a_non_srgb_profile_is_converted_to_the_right_srgb_colours(settings):
    """An Adobe RGB photo's greens and reds are more saturated than the same numbers in sRGB:
    stored as they came, they would be dull; converted, they match the textbook values."""
    colours = np.array(
        [[60, 140, 70], [170, 40, 50], [40, 60, 150], [128, 128, 128], [230, 200, 150]],
        dtype=np.uint8,
    )
    image = Image.fromarray(np.repeat(np.repeat(colours[None], 64, 0), 64, 1))  # 64x320
    profile = _matrix_trc_profile(ADOBE_RGB_D50, ADOBE_GAMMA)
    upload = normalize_upload(_bytes(image, "PNG", icc_profile=profile), settings=settings)
    stored = upload.image[32, 32::64].astype(float)
    expected = _adobe_to_srgb(colours.astype(float))
    assert "converted to sRGB" in " ".join(upload.notes)
    assert np.abs(stored - expected).max() <= 2, (stored, expected)
    # The conversion did something a user would see: saturated colours moved, grey stayed put.
    assert np.abs(stored[:3] - colours[:3]).max() >= 15
    assert np.abs(stored[3] - 128).max() <= 2


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
