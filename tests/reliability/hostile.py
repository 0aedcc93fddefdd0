"""Generated hostile uploads (issue 6): bad files and multipart tricks as raw HTTP requests.

Every case is a complete request body plus its ``Content-Type``, built byte by byte, so the
same bytes go through FastAPI's TestClient and through a real uvicorn socket. Cases are
deterministic for a seed (``np.random.default_rng``), and each names the statuses it may get:

* :func:`hostile_corpus` — files and forms the API must refuse: every one a 4xx with a
  category, nothing stored. Families: empty, truncated, corrupt, wrong_magic, unsupported,
  tiny, declared_huge, metadata, animated, polyglot, disguised, multipart, oversized.
* :func:`tolerated_corpus` — real photos carrying hostile extras (trailing ZIP/HTML, junk
  EXIF, broken ICC, traversal filenames, lying content types). A photo is still a photo: the
  API may accept it (201) or refuse it (422), but never 5xx, and what it stores must be whole.

Why raw bytes: the interesting failures live below the level a client library lets you
express (two ``file`` parts, a boundary that does not match, no closing delimiter, a chunked
body with no length).
"""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

BOUNDARY = "sareeflowhostile7d1f"
REJECT_IMAGE = (422,)
"""A well-formed form whose file is not an acceptable photo."""
REJECT_FORM = (400, 422)
"""A form the multipart parser or the request validation refuses."""
TOO_LARGE = (413,)
ACCEPT_OR_REJECT = (201, 422)
"""Tolerated oddities on real photos."""

UPLOAD_CAP_BYTES = 2 * 1024 * 1024
"""Upload cap (bytes) of every app under these tests: big enough for the sample photo (0.5 MB)
and the metadata bombs, small enough that oversized bodies stay cheap."""
PHOTO_SIZE = (96, 72)
"""(w, h) of the generated base photos: over the 64 px minimum, small enough to be fast."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DECLARED_HUGE_SIDES = (60000, 65535, 100000, 2**31 - 1)
"""Header-declared image sides (px) far past the 60-megapixel limit."""

Maker = Callable[[np.random.Generator], list["HostileRequest"]]


@dataclass(frozen=True)
class HostileRequest:
    """One POST /api/v1/sarees request: raw body, its content type, the statuses allowed."""

    name: str
    family: str
    content_type: str | None
    body: bytes
    expect: tuple[int, ...]
    chunked: bool = False
    """Send the body as a chunked stream with no Content-Length."""
    payload: bytes | None = None
    """The file inside the form, when the form is a correct one."""

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        for start in range(0, len(self.body), size):
            yield self.body[start : start + size]

    def headers(self) -> dict[str, str]:
        return {"content-type": self.content_type} if self.content_type is not None else {}


@dataclass(frozen=True)
class Part:
    """One multipart part; ``head`` replaces the generated header block when given."""

    name: str | None
    data: bytes
    filename: str | None = "photo.jpg"
    content_type: str | None = "image/jpeg"
    head: bytes | None = None


def multipart(
    parts: list[Part], boundary: str = BOUNDARY, *, newline: bytes = b"\r\n", close: bool = True
) -> bytes:
    """A multipart/form-data body, with room for every way of getting it wrong."""
    out = bytearray()
    for part in parts:
        out += b"--" + boundary.encode() + newline
        if part.head is not None:
            out += part.head
        else:
            disposition = b"Content-Disposition: form-data"
            if part.name is not None:
                disposition += b'; name="' + part.name.encode("utf-8", "surrogateescape") + b'"'
            if part.filename is not None:
                disposition += b'; filename="' + part.filename.encode("utf-8") + b'"'
            out += disposition + newline
            if part.content_type is not None:
                out += b"Content-Type: " + part.content_type.encode() + newline
        out += newline + part.data + newline
    if close:
        out += b"--" + boundary.encode() + b"--" + newline
    return bytes(out)


def form_type(boundary: str = BOUNDARY) -> str:
    return f"multipart/form-data; boundary={boundary}"


def upload(
    name: str,
    family: str,
    data: bytes,
    *,
    filename: str = "photo.jpg",
    ctype: str = "image/jpeg",
    expect: tuple[int, ...] = REJECT_IMAGE,
) -> HostileRequest:
    """A correct form carrying ``data`` as the field ``file``."""
    body = multipart([Part("file", data, filename, ctype)])
    return HostileRequest(name, family, form_type(), body, expect, payload=data)


# ------------------------------------------------------------------------------ base images
def base_photo(rng: np.random.Generator, size: tuple[int, int] = PHOTO_SIZE) -> np.ndarray:
    """A photo-like RGB image: smooth colour ramps plus sensor-like noise."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = rng.uniform(40, 200, size=3)
    slope = rng.uniform(-1.0, 1.0, size=(3, 2))
    channels = [base[c] + slope[c, 0] * xx + slope[c, 1] * yy for c in range(3)]
    image = np.stack(channels, axis=-1) + rng.normal(0, 6, size=(h, w, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def encode(image: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, fmt, **options)
    return buffer.getvalue()


def photo_bytes(rng: np.random.Generator, fmt: str, **options) -> bytes:
    """A valid, acceptable photo in ``fmt`` (JPEG, PNG, WEBP or TIFF)."""
    return encode(base_photo(rng), fmt, **options)


ACCEPTED = ("JPEG", "PNG", "WEBP", "TIFF")
EXTENSION = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "TIFF": "tif"}
MEDIA = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff"}


# ------------------------------------------------------------------------------ format surgery
def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk of a PNG."""
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def png_build(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return PNG_SIGNATURE + b"".join(png_chunk(kind, payload) for kind, payload in chunks)


def ihdr(width: int, height: int, depth: int = 8, colour: int = 2, interlace: int = 0) -> bytes:
    return struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)


def jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """(marker, payload) of every header segment up to and including SOS, then the scan."""
    segments, pos = [], 2
    while pos < len(data):
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segments.append((marker, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
        if marker == 0xDA:
            break
    return segments, data[pos:]


def jpeg_build(segments: list[tuple[int, bytes]], scan: bytes) -> bytes:
    out = bytearray(b"\xff\xd8")
    for marker, payload in segments:
        out += bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return bytes(out + scan)


def jpeg_with_sof(data: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    segments, scan = jpeg_segments(data)
    return jpeg_build([(m, edit(p) if m in (0xC0, 0xC2) else p) for m, p in segments], scan)


def sof_dimensions(width: int, height: int) -> Callable[[bytes], bytes]:
    return lambda p: p[:1] + struct.pack(">HH", height, width) + p[5:]


def tiff_build(entries: list[tuple[int, int, int, int]], tail: bytes = b"") -> bytes:
    """Little-endian TIFF: one IFD of (tag, type, count, value) entries, then ``tail``."""
    entries = sorted(entries)
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    ifd += struct.pack("<I", 0)
    return b"II*\0" + struct.pack("<I", 8) + ifd + tail


def tiff_grey(
    width: int, height: int, *, data_len: int, overrides: dict[int, int] | None = None
) -> bytes:
    """An uncompressed 8-bit grey TIFF header declaring ``width x height`` over ``data_len``
    bytes of pixels (which may be far fewer than declared)."""
    fields = {256: width, 257: height, 258: 8, 259: 1, 262: 1, 277: 1, 278: height}
    fields.update(overrides or {})
    n_entries = len(fields) + 2
    data_offset = 8 + 2 + 12 * n_entries + 4
    entries = [(tag, 4 if tag in (256, 257, 278) else 3, 1, v) for tag, v in fields.items()]
    entries += [(273, 4, 1, data_offset), (279, 4, 1, min(max(width * height, 1), 0xFFFFFFFF))]
    return tiff_build(entries, bytes(data_len))


def riff(fourcc: bytes, chunks: list[tuple[bytes, bytes]], size_delta: int = 0) -> bytes:
    body = b"".join(
        k + struct.pack("<I", len(d)) + d + (b"\0" if len(d) % 2 else b"") for k, d in chunks
    )
    return b"RIFF" + struct.pack("<I", len(body) + 4 + size_delta) + fourcc + body


def vp8x(width: int, height: int, flags: int = 0) -> bytes:
    return (
        bytes([flags, 0, 0, 0])
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )


def exif_app1(tiff: bytes) -> tuple[int, bytes]:
    return 0xE1, b"Exif\0\0" + tiff


def with_app_segments(jpeg: bytes, extra: list[tuple[int, bytes]]) -> bytes:
    """Insert header segments right after SOI (before the JFIF/quantisation tables)."""
    segments, scan = jpeg_segments(jpeg)
    return jpeg_build(extra + segments, scan)


# ------------------------------------------------------------------------------ families
def empty_files(rng: np.random.Generator) -> list[HostileRequest]:
    contents = [b"", b"\0", b"\0" * 4096, b" ", b"\r\n\r\n", b"\xff", b"\xff\xd8", PNG_SIGNATURE]
    names = [
        ("photo.jpg", "image/jpeg"),
        ("photo.png", "image/png"),
        ("", "application/octet-stream"),
    ]
    return [
        upload(f"empty/{i}-{j}", "empty", data, filename=fn, ctype=ct)
        for i, data in enumerate(contents)
        for j, (fn, ct) in enumerate(names)
    ]


def truncated_images(rng: np.random.Generator) -> list[HostileRequest]:
    """Valid photos cut short, inside the header or inside the pixel data."""
    cases = []
    variants = [
        ("JPEG", {"quality": 90}),
        ("JPEG", {"quality": 60, "progressive": True}),
        ("PNG", {}),
        ("PNG", {"optimize": True}),
        ("WEBP", {"quality": 80}),
        ("WEBP", {"lossless": True}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_deflate"}),
    ]
    for v, (fmt, options) in enumerate(variants):
        data = photo_bytes(rng, fmt, **options)
        cuts = [8, 16, 33, 64, 100] + sorted(
            {int(f * len(data)) for f in rng.uniform(0.1, 0.85, size=20)}
        )
        for cut in cuts:
            cases.append(
                upload(
                    f"truncated/{fmt.lower()}{v}/{cut}",
                    "truncated",
                    data[:cut],
                    filename=f"photo.{EXTENSION[fmt]}",
                    ctype=MEDIA[fmt],
                )
            )
    return cases


def _corrupt_png(rng: np.random.Generator) -> list[tuple[str, bytes]]:
    chunks = png_chunks(photo_bytes(rng, "PNG"))
    header, idat = chunks[0][1], b"".join(p for k, p in chunks if k == b"IDAT")
    w, h = struct.unpack(">II", header[:8])
    raw_crc_broken = bytearray(png_build(chunks))
    raw_crc_broken[29] ^= 0xFF  # IHDR's CRC
    out = [
        ("ihdr_crc", bytes(raw_crc_broken)),
        (
            "zlib_header",
            png_build([(b"IHDR", header), (b"IDAT", b"\0\0" + idat[2:]), (b"IEND", b"")]),
        ),
        (
            "zlib_garbage",
            png_build([(b"IHDR", header), (b"IDAT", b"\x78\x01" + rng.bytes(600)), (b"IEND", b"")]),
        ),
        ("no_idat", png_build([(b"IHDR", header), (b"IEND", b"")])),
        ("iend_only", PNG_SIGNATURE + png_chunk(b"IEND", b"")),
        (
            "bit_depth_3",
            png_build([(b"IHDR", ihdr(w, h, depth=3)), (b"IDAT", idat), (b"IEND", b"")]),
        ),
        (
            "colour_type_5",
            png_build([(b"IHDR", ihdr(w, h, colour=5)), (b"IDAT", idat), (b"IEND", b"")]),
        ),
        ("width_0", png_build([(b"IHDR", ihdr(0, h)), (b"IDAT", idat), (b"IEND", b"")])),
        ("height_0", png_build([(b"IHDR", ihdr(w, 0)), (b"IDAT", idat), (b"IEND", b"")])),
        (
            "short_idat",
            png_build([(b"IHDR", header), (b"IDAT", zlib.compress(bytes(h))), (b"IEND", b"")]),
        ),
        (
            "huge_chunk_length",
            PNG_SIGNATURE
            + png_chunk(b"IHDR", header)
            + struct.pack(">I", 0xFFFFFFF0)
            + b"IDAT"
            + idat[:64],
        ),
        (
            "bad_chunk_type",
            png_build([(b"IHDR", header), (b"\0\0\0\0", b"x"), (b"IDAT", idat), (b"IEND", b"")]),
        ),
        (
            "filter_type_9",
            png_build(
                [
                    (b"IHDR", header),
                    (b"IDAT", zlib.compress(bytes([9]) * ((3 * w + 1) * h))),
                    (b"IEND", b""),
                ]
            ),
        ),
    ]
    return out


def _corrupt_jpeg(rng: np.random.Generator) -> list[tuple[str, bytes]]:
    data = photo_bytes(rng, "JPEG", quality=85)
    segments, scan = jpeg_segments(data)
    without = lambda marker: jpeg_build([s for s in segments if s[0] != marker], scan)  # noqa: E731
    edit_sof = lambda f: jpeg_with_sof(data, f)  # noqa: E731
    return [
        ("no_sof", without(0xC0)),
        ("no_sos", jpeg_build([s for s in segments if s[0] != 0xDA], b"\xff\xd9")),
        ("no_dqt", without(0xDB)),
        ("sof_width_0", edit_sof(sof_dimensions(0, PHOTO_SIZE[1]))),
        ("sof_precision_3", edit_sof(lambda p: b"\x03" + p[1:])),
        ("sof_components_0", edit_sof(lambda p: p[:5] + b"\x00")),
        ("sof_components_5", edit_sof(lambda p: p[:5] + b"\x05" + p[6:])),
        ("sof_component_id_clash", edit_sof(lambda p: p[:6] + bytes([p[6], p[7], p[8]]) * 3)),
        (
            "dht_overfull",
            jpeg_build(
                [(m, p[:1] + b"\xff" * 16 + p[17:] if m == 0xC4 else p) for m, p in segments], scan
            ),
        ),
        (
            "dqt_table_id_7",
            jpeg_build([(m, b"\x07" + p[1:] if m == 0xDB else p) for m, p in segments], scan),
        ),
        ("segment_length_overflow", data[:4] + b"\xff\xff" + data[6:]),
        ("marker_soup", b"\xff\xd8" + rng.bytes(2000)),
        ("soi_eoi", b"\xff\xd8\xff\xd9"),
        (
            "sos_before_sof",
            jpeg_build(
                [s for s in segments if s[0] == 0xDA] + [s for s in segments if s[0] != 0xDA], scan
            ),
        ),
    ]


def _corrupt_webp(rng: np.random.Generator) -> list[tuple[str, bytes]]:
    data = photo_bytes(rng, "WEBP", quality=80)
    payload = data[20:]
    return [
        ("riff_size_huge", data[:4] + struct.pack("<I", 0x7FFFFFF0) + data[8:]),
        ("riff_size_tiny", data[:4] + struct.pack("<I", 4) + data[8:]),
        ("vp8_garbage", riff(b"WEBP", [(b"VP8 ", rng.bytes(len(payload)))])),
        ("vp8l_garbage", riff(b"WEBP", [(b"VP8L", b"\x2f" + rng.bytes(400))])),
        ("vp8x_alone", riff(b"WEBP", [(b"VP8X", vp8x(*PHOTO_SIZE))])),
        ("unknown_chunk", riff(b"WEBP", [(b"ABCD", payload)])),
        ("vp8_chunk_overrun", data[:16] + struct.pack("<I", len(payload) * 50) + data[20:]),
    ]


def _corrupt_tiff(rng: np.random.Generator) -> list[tuple[str, bytes]]:
    w, h = PHOTO_SIZE
    return [
        ("ifd_offset_past_end", b"II*\0" + struct.pack("<I", 10_000_000) + bytes(64)),
        ("ifd_count_65535", b"II*\0" + struct.pack("<I", 8) + b"\xff\xff" + bytes(120)),
        ("strips_past_end", tiff_grey(w, h, data_len=0)),
        ("bits_per_sample_0", tiff_grey(w, h, data_len=w * h, overrides={258: 0})),
        ("bits_per_sample_33", tiff_grey(w, h, data_len=w * h, overrides={258: 33})),
        ("compression_unknown", tiff_grey(w, h, data_len=w * h, overrides={259: 12345})),
        ("photometric_unknown", tiff_grey(w, h, data_len=w * h, overrides={262: 99})),
        ("samples_per_pixel_0", tiff_grey(w, h, data_len=w * h, overrides={277: 0})),
        ("no_width", tiff_build([(257, 4, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1)])),
        ("big_endian_garbage", b"MM\0*" + rng.bytes(300)),
        ("ifd_loop", b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 0) + struct.pack("<I", 8)),
    ]


def corrupt_images(rng: np.random.Generator) -> list[HostileRequest]:
    """Structurally broken files: each break is fatal to a decoder, not just ugly pixels."""
    cases = []
    for round_ in range(4):  # four base photos per break, so no break is tested only once
        for fmt, maker in (
            ("PNG", _corrupt_png),
            ("JPEG", _corrupt_jpeg),
            ("WEBP", _corrupt_webp),
            ("TIFF", _corrupt_tiff),
        ):
            for label, data in maker(rng):
                cases.append(
                    upload(
                        f"corrupt/{fmt.lower()}/{label}/{round_}",
                        "corrupt",
                        data,
                        filename=f"photo.{EXTENSION[fmt]}",
                        ctype=MEDIA[fmt],
                    )
                )
    return cases


def wrong_magic(rng: np.random.Generator) -> list[HostileRequest]:
    """Valid photos whose signature bytes were overwritten or swapped for another format's."""
    foreign = [b"\xff\xd8\xff\xe0", PNG_SIGNATURE, b"RIFF", b"II*\0", b"GIF89a", b"BM", b"%PDF-"]
    cases = []
    for fmt in ACCEPTED:
        data = photo_bytes(rng, fmt)
        own = {"JPEG": 3, "PNG": 8, "WEBP": 12, "TIFF": 4}[fmt]
        for k in range(10):
            broken = bytearray(data)
            position = int(rng.integers(0, own))
            broken[position] ^= int(rng.integers(1, 256))
            cases.append(upload(f"wrong_magic/{fmt.lower()}/flip{k}", "wrong_magic", bytes(broken)))
        for magic in foreign:
            if data.startswith(magic[:2]):
                continue
            swapped = magic + data[len(magic) :]
            cases.append(
                upload(f"wrong_magic/{fmt.lower()}/as-{magic[:4]!r}", "wrong_magic", swapped)
            )
            cases.append(
                upload(
                    f"wrong_magic/{fmt.lower()}/prefixed-{magic[:4]!r}", "wrong_magic", magic + data
                )
            )
    return cases


UNSUPPORTED_FORMATS = (
    "BMP", "GIF", "ICO", "PPM", "TGA", "PCX", "JPEG2000", "AVIF", "SGI", "DDS", "QOI",
    "SPIDER", "EPS", "DIB",
)  # fmt: skip
"""Formats Pillow reads but the API does not accept (JPEG, PNG, WebP and TIFF only)."""


def unsupported_formats(rng: np.random.Generator) -> list[HostileRequest]:
    cases = []
    for fmt in UNSUPPORTED_FORMATS:
        for k, size in enumerate(((96, 72), (128, 128), (200, 90))):
            image = base_photo(rng, size)
            data = encode(image, fmt)
            for fn, ct in (
                (f"photo.{fmt.lower()}", "application/octet-stream"),
                ("photo.jpg", "image/jpeg"),
            ):
                cases.append(
                    upload(
                        f"unsupported/{fmt.lower()}/{k}/{fn}",
                        "unsupported",
                        data,
                        filename=fn,
                        ctype=ct,
                    )
                )
    for mode in ("1", "L"):  # monochrome-only formats
        image = Image.fromarray(base_photo(rng)).convert(mode)
        for fmt in ("XBM", "MSP") if mode == "1" else ("PPM", "SGI"):
            buffer = io.BytesIO()
            image.save(buffer, fmt)
            cases.append(
                upload(f"unsupported/{fmt.lower()}/{mode}", "unsupported", buffer.getvalue())
            )
    return cases


TINY_SIZES = (
    (1, 1), (2, 2), (3, 1), (1, 64), (64, 1), (63, 63), (63, 64), (64, 63), (63, 2000),
    (2000, 3), (16, 16), (10, 400), (32, 48), (1, 1000),
)  # fmt: skip
"""(w, h) with at least one side under the 64 px minimum."""


def tiny_images(rng: np.random.Generator) -> list[HostileRequest]:
    cases = []
    for size in TINY_SIZES:
        image = base_photo(rng, size)
        for fmt in ACCEPTED:
            data = encode(image, fmt)
            cases.append(
                upload(
                    f"tiny/{fmt.lower()}/{size[0]}x{size[1]}",
                    "tiny",
                    data,
                    filename=f"p.{EXTENSION[fmt]}",
                )
            )
    return cases


def declared_huge(rng: np.random.Generator) -> list[HostileRequest]:
    """Headers claiming tens of thousands of pixels a side, with almost no data behind them."""
    cases = []
    tiny_idat = zlib.compress(bytes(256))
    jpeg = photo_bytes(rng, "JPEG", quality=70)
    for side in DECLARED_HUGE_SIDES:
        for w, h in ((side, side), (side, 64), (64, side)):
            tag = f"{w}x{h}"
            if max(w, h) <= 0xFFFFFFFF >> 1:
                for colour in (0, 2, 6):
                    png = png_build(
                        [(b"IHDR", ihdr(w, h, colour=colour)), (b"IDAT", tiny_idat), (b"IEND", b"")]
                    )
                    cases.append(upload(f"declared_huge/png{colour}/{tag}", "declared_huge", png))
            if max(w, h) <= 0xFFFF and w == h:  # a thin JPEG is a few MP: libjpeg may pad it
                cases.append(
                    upload(
                        f"declared_huge/jpeg/{tag}",
                        "declared_huge",
                        jpeg_with_sof(jpeg, sof_dimensions(w, h)),
                    )
                )
                progressive = photo_bytes(rng, "JPEG", progressive=True)
                cases.append(
                    upload(
                        f"declared_huge/jpeg_prog/{tag}",
                        "declared_huge",
                        jpeg_with_sof(progressive, sof_dimensions(w, h)),
                    )
                )
            if max(w, h) <= 0xFFFFFFFF:
                cases.append(
                    upload(
                        f"declared_huge/tiff/{tag}", "declared_huge", tiff_grey(w, h, data_len=4096)
                    )
                )
    for w, h in ((16384, 16384), (16384, 64), (9000, 9000)):
        webp = riff(b"WEBP", [(b"VP8X", vp8x(w, h)), (b"VP8L", b"\x2f" + rng.bytes(64))])
        cases.append(upload(f"declared_huge/webp/{w}x{h}", "declared_huge", webp))
    for w, h in ((7747, 7747), (8000, 7500), (60001, 1001)):  # just past 60 MP
        png = png_build([(b"IHDR", ihdr(w, h, colour=0)), (b"IDAT", tiny_idat), (b"IEND", b"")])
        cases.append(upload(f"declared_huge/png_over_limit/{w}x{h}", "declared_huge", png))
    return cases


def _exif_tiff(entries: list[tuple[int, int, int, int]], next_ifd: int = 0) -> bytes:
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value)
    return b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", next_ifd)


def metadata_bombs(rng: np.random.Generator) -> list[HostileRequest]:
    """Huge or looping EXIF/ICC/text metadata wrapped around pixels that cannot be decoded,
    and PNG text/ICC chunks whose decompressed size is a bomb."""
    cases = []
    jpeg = photo_bytes(rng, "JPEG")
    segments, scan = jpeg_segments(jpeg)
    cut_scan = scan[: len(scan) // 3]
    for k, (n_segments, marker) in enumerate(
        ((4, 0xE1), (16, 0xE1), (8, 0xE2), (24, 0xED), (30, 0xFE))
    ):
        extra = []
        for i in range(n_segments):
            if marker == 0xE2:
                payload = b"ICC_PROFILE\0" + bytes([i + 1, n_segments]) + rng.bytes(65_000)
            elif marker == 0xE1:
                payload = b"Exif\0\0" + rng.bytes(65_000)
            else:
                payload = rng.bytes(65_000)
            extra.append((marker, payload))
        for label, body in (("cut_scan", cut_scan), ("no_scan", b"")):
            data = jpeg_build(extra + segments, body)
            cases.append(
                upload(f"metadata/jpeg{k}-{marker:02x}x{n_segments}/{label}", "metadata", data)
            )
    loops = [
        _exif_tiff([(0x8769, 4, 1, 8)]),  # Exif IFD pointing back at IFD0
        _exif_tiff([(0x0112, 3, 1, 1)], next_ifd=8),  # next-IFD loop
        _exif_tiff([(0x010F, 2, 0x7FFFFFFF, 26)]),  # a string as long as the address space
        _exif_tiff([(0x0112, 3, 0xFFFF, 0xFFFFFFF0)]),
    ]
    for k, tiff in enumerate(loops):
        data = jpeg_build([exif_app1(tiff), *segments], cut_scan)
        cases.append(upload(f"metadata/exif_loop{k}/cut_scan", "metadata", data))
        tiny = jpeg_build(
            [exif_app1(tiff), *jpeg_segments(encode(base_photo(rng, (8, 8)), "JPEG"))[0]], b""
        )
        cases.append(upload(f"metadata/exif_loop{k}/tiny_no_scan", "metadata", tiny))
    png = png_chunks(photo_bytes(rng, "PNG"))
    header = png[0][1]
    idat = [c for c in png if c[0] == b"IDAT"]
    megabyte_of_zeros = zlib.compress(bytes(1_000_000), 9)
    bombs = {
        "ztxt_70MB": [(b"zTXt", b"k%d\0\0" % i + megabyte_of_zeros) for i in range(70)],
        "ztxt_one_8MB": [(b"zTXt", b"k\0\0" + zlib.compress(bytes(8_000_000), 9))],
        "itxt_8MB": [(b"iTXt", b"k\0\1\0\0\0" + zlib.compress(bytes(8_000_000), 9))],
        "iccp_8MB": [(b"iCCP", b"icc\0\0" + zlib.compress(bytes(8_000_000), 9))],
    }
    for label, chunks in bombs.items():
        cases.append(
            upload(
                f"metadata/png_{label}",
                "metadata",
                png_build([(b"IHDR", header), *chunks, *idat, (b"IEND", b"")]),
            )
        )
        cases.append(
            upload(
                f"metadata/png_{label}/no_idat",
                "metadata",
                png_build([(b"IHDR", header), *chunks, (b"IEND", b"")]),
            )
        )
    return cases


def animated(rng: np.random.Generator) -> list[HostileRequest]:
    cases = []
    for n_frames in (2, 3, 5, 8):
        for size in ((96, 72), (128, 96)):
            frames = [Image.fromarray(base_photo(rng, size)) for _ in range(n_frames)]
            for fmt, options in (
                ("PNG", {}),
                ("WEBP", {"quality": 70}),
                ("GIF", {"loop": 0}),
                ("TIFF", {}),
            ):
                buffer = io.BytesIO()
                frames[0].save(
                    buffer, fmt, save_all=True, append_images=frames[1:], duration=100, **options
                )
                cases.append(
                    upload(
                        f"animated/{fmt.lower()}/{n_frames}f/{size[0]}x{size[1]}",
                        "animated",
                        buffer.getvalue(),
                        filename=f"anim.{EXTENSION.get(fmt, 'gif')}",
                        ctype=MEDIA.get(fmt, "image/gif"),
                    )
                )
    return cases


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
PHP = b"<?php system($_GET['c']); ?>"
SVG_SCRIPT = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" '
    b'onload="alert(1)"><script>alert(document.domain)</script><rect width="100" height="100"/></svg>'
)
SVG_XXE = (
    b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>'
)
SVG_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']><svg xmlns="http://www.w3.org/2000/svg"><text>&lol9;</text></svg>'
)


def polyglots(rng: np.random.Generator) -> list[HostileRequest]:
    """Files that start like an image and carry a script, archive or document: no decodable
    pixels behind the magic."""
    zipped = _zip_bytes({"index.html": HTML, "x.php": PHP})
    bodies = {
        "gif_php": b"GIF89a" + PHP,
        "gif_header_php": b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + PHP,
        "jpeg_magic_html": b"\xff\xd8\xff\xe0" + HTML,
        "jpeg_com_html": b"\xff\xd8\xff\xfe"
        + struct.pack(">H", len(HTML) + 2)
        + HTML
        + b"\xff\xd9",
        "jpeg_magic_zip": b"\xff\xd8\xff\xe1" + zipped,
        "png_sig_html": PNG_SIGNATURE + HTML,
        "png_sig_zip": PNG_SIGNATURE + zipped,
        "png_ihdr_then_html": PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr(96, 72))
        + png_chunk(b"tEXt", b"c\0" + HTML),
        "riff_webp_html": riff(b"WEBP", [(b"HTML", HTML)]),
        "tiff_magic_php": b"II*\0" + PHP,
        "bmp_html": b"BM" + HTML,
        "pdf_jpeg": b"%PDF-1.4\n" + b"\xff\xd8\xff\xe0" + HTML,
        "zip_then_jpeg_magic": zipped + b"\xff\xd8\xff",
        "svg_with_png_sig": PNG_SIGNATURE + SVG_SCRIPT,
        "jpeg_soi_elf": b"\xff\xd8" + b"\x7fELF\x02\x01\x01" + bytes(64),
        "html_with_jpeg_inside": HTML + photo_bytes(rng, "JPEG"),
        "gifar": encode(base_photo(rng), "GIF") + zipped,
    }
    cases = []
    for label, data in bodies.items():
        for fn, ct in (
            ("photo.jpg", "image/jpeg"),
            ("photo.png", "image/png"),
            ("photo.gif", "image/gif"),
        ):
            cases.append(upload(f"polyglot/{label}/{fn}", "polyglot", data, filename=fn, ctype=ct))
    return cases


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def disguised(rng: np.random.Generator) -> list[HostileRequest]:
    """Non-images dressed as photos by name and content type."""
    contents = {
        "html": HTML,
        "html_bom": b"\xef\xbb\xbf" + HTML,
        "svg_script": SVG_SCRIPT,
        "svg_xxe": SVG_XXE,
        "svg_billion_laughs": SVG_LAUGHS,
        "zip": _zip_bytes({"a.html": HTML}),
        "zip_of_photo": _zip_bytes({"photo.jpg": photo_bytes(rng, "JPEG")}),
        "gzip_photo": gzip.compress(photo_bytes(rng, "JPEG"), mtime=0),
        "tar": _tar_bytes({"a.html": HTML}),
        "pdf": b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
        "elf": b"\x7fELF\x02\x01\x01\0" + bytes(56),
        "pe": b"MZ\x90\0" + bytes(60) + b"PE\0\0",
        "shell": b"#!/bin/sh\nrm -rf / --no-preserve-root\n",
        "json": b'{"file": "../../etc/passwd", "mode": "standard"}',
        "xml": b'<?xml version="1.0"?><root><a>1</a></root>',
        "csv": b"a,b,c\n1,2,3\n",
        "rtf": b"{\\rtf1\\ansi hello}",
        "sevenzip": b"7z\xbc\xaf\x27\x1c" + rng.bytes(64),
        "rar": b"Rar!\x1a\x07\x01\0" + rng.bytes(64),
        "java_class": b"\xca\xfe\xba\xbe" + rng.bytes(64),
        "wasm": b"\0asm\x01\0\0\0",
        "sqlite": b"SQLite format 3\0" + bytes(84),
        "mp4": struct.pack(">I", 24) + b"ftypisom" + bytes(12) + rng.bytes(200),
        "heic": struct.pack(">I", 24) + b"ftypheic" + bytes(12) + rng.bytes(200),
        "avif_brand_garbage": struct.pack(">I", 24) + b"ftypavif" + bytes(12) + rng.bytes(200),
        "webm": b"\x1a\x45\xdf\xa3" + rng.bytes(100),
        "wav": riff(b"WAVE", [(b"fmt ", bytes(16)), (b"data", bytes(64))]),
        "avi": riff(b"AVI ", [(b"LIST", bytes(64))]),
        "mp3": b"ID3\x04\0\0\0\0\0\0" + rng.bytes(100),
        "random": rng.bytes(5000),
    }
    disguises = (
        ("photo.jpg", "image/jpeg"),
        ("photo.png", "image/png"),
        ("photo.webp", "image/webp"),
        ("photo.html", "text/html"),
        ("photo.tif", "image/tiff"),
    )
    return [
        upload(f"disguised/{label}/{fn}", "disguised", data, filename=fn, ctype=ct)
        for label, data in contents.items()
        for fn, ct in disguises
    ]


def multipart_tricks(rng: np.random.Generator) -> list[HostileRequest]:
    """Forms that are wrong as forms; most carry a perfectly good photo, so only the form
    itself can be the reason for refusing them."""
    good = photo_bytes(rng, "JPEG")
    bad = b"<html>not a photo</html>"
    cases: list[HostileRequest] = []

    def add(label: str, body: bytes, ctype: str | None = form_type(), expect=REJECT_FORM) -> None:
        cases.append(HostileRequest(f"multipart/{label}", "multipart", ctype, body, expect))

    for name in (
        "image",
        "File",
        "FILE",
        "files",
        "file[]",
        "upload",
        " file",
        "file ",
        "fi\0le",
        "",
    ):
        add(f"wrong_field/{name!r}", multipart([Part(name, good)]))
    add("no_name", multipart([Part(None, good)]))
    add("text_field_only", multipart([Part("name", b"saree", None, None)]))
    add("file_as_text_field", multipart([Part("file", good, None, None)]))
    add("file_as_text_field_bad", multipart([Part("file", bad, None, None)]))
    add("empty_form", b"--" + BOUNDARY.encode() + b"--\r\n")
    add("empty_body", b"")
    for combo, parts in {
        "two_good": [
            Part("file", good),
            Part("file", photo_bytes(rng, "PNG"), "b.png", "image/png"),
        ],
        "good_then_bad": [Part("file", good), Part("file", bad)],
        "bad_then_good": [Part("file", bad), Part("file", good)],
        "two_same": [Part("file", good), Part("file", good)],
        "ten_good": [Part("file", good, f"p{i}.jpg") for i in range(10)],
    }.items():
        add(f"two_files/{combo}", multipart(parts))
    wrong_boundaries = {
        "mismatch": (multipart([Part("file", good)], "otherboundary"), form_type()),
        "missing_param": (multipart([Part("file", good)]), "multipart/form-data"),
        "empty_param": (multipart([Part("file", good)]), "multipart/form-data; boundary="),
        "quoted_mismatch": (
            multipart([Part("file", good)]),
            'multipart/form-data; boundary="x' + BOUNDARY + '"',
        ),
        "very_long": (multipart([Part("file", good)], "b" * 5000), form_type("b" * 5000)),
        "prefix_of_real": (multipart([Part("file", good)]), form_type(BOUNDARY[:-3])),
        "lf_newlines": (multipart([Part("file", good)], newline=b"\n"), form_type()),
        "no_closing_delimiter": (multipart([Part("file", good)], close=False), form_type()),
        "closing_only_no_crlf": (multipart([Part("file", good)], close=False)[:-2], form_type()),
        "garbage_only": (b"x" * 100, form_type()),
        "multipart_mixed": (
            multipart([Part("file", good)]),
            f"multipart/mixed; boundary={BOUNDARY}",
        ),
        "json_type": (multipart([Part("file", good)]), "application/json"),
        "urlencoded_type": (b"file=" + good[:200], "application/x-www-form-urlencoded"),
        "text_plain": (good, "text/plain"),
        "image_jpeg_raw": (good, "image/jpeg"),
        "octet_stream_raw": (good, "application/octet-stream"),
        "no_content_type": (multipart([Part("file", good)]), None),
        "garbage_content_type": (multipart([Part("file", good)]), "\x01\x02;;;=="),
    }
    for label, (body, ctype) in wrong_boundaries.items():
        add(f"boundary/{label}", body, ctype)
    heads = {
        "no_disposition": b"Content-Type: image/jpeg\r\n",
        "disposition_unterminated": b'Content-Disposition: form-data; name="file\r\n',
        "header_without_colon": b"Content-Disposition form-data name=file\r\n",
        "huge_header": b'Content-Disposition: form-data; name="file"; filename="a.jpg"\r\nX-Pad: '
        + b"a" * 200_000
        + b"\r\n",
        "many_headers": b'Content-Disposition: form-data; name="wrong"; filename="a.jpg"\r\n'
        + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)),
        "binary_header": b'Content-Disposition: form-data; name="\xff\xfe\x00"; filename="a.jpg"\r\n',
    }
    for label, head in heads.items():
        add(f"part_head/{label}", multipart([Part("file", good, head=head)]))
    bad_filenames = [
        "../../../../etc/passwd",
        "..\\..\\boot.ini",
        "a" * 5000 + ".jpg",
        "\u202egpj.exe",
        "x\r\nX-Injected: 1",
        "/etc/shadow",
    ]
    for k, filename in enumerate(bad_filenames):
        add(f"filename/{k}", multipart([Part("file", bad, filename)]), expect=REJECT_IMAGE + (400,))
    fields = [Part(f"f{i}", b"v", None, None) for i in range(1200)]
    add("too_many_fields", multipart(fields + [Part("file", good)]))
    files = [Part(f"x{i}", b"v", f"x{i}.jpg") for i in range(1200)]
    add("too_many_files", multipart(files + [Part("file", good)]))
    add(
        "huge_text_field",
        multipart([Part("comment", b"a" * 1_200_000, None, None), Part("file", bad)]),
    )
    return cases


def oversized(rng: np.random.Generator, max_upload_bytes: int) -> list[HostileRequest]:
    """Bodies past the cap: as one file, as many parts, declared or streamed (chunked)."""
    jpeg_head = photo_bytes(rng, "JPEG")[:600]
    cases = []
    for over in (1, 4096, max_upload_bytes // 2, max_upload_bytes):
        data = jpeg_head + bytes(max_upload_bytes + over - len(jpeg_head))
        for chunked in (False, True):
            cases.append(
                HostileRequest(
                    f"oversized/file+{over}/{'chunked' if chunked else 'length'}",
                    "oversized",
                    form_type(),
                    multipart([Part("file", data)]),
                    TOO_LARGE,
                    chunked=chunked,
                )
            )
    piece = bytes(max_upload_bytes // 3)
    for n_parts in (4, 8):
        body = multipart(
            [Part(f"f{i}", piece, f"f{i}.jpg") for i in range(n_parts)] + [Part("file", jpeg_head)]
        )
        for chunked in (False, True):
            cases.append(
                HostileRequest(
                    f"oversized/{n_parts}_parts/{chunked}",
                    "oversized",
                    form_type(),
                    body,
                    TOO_LARGE,
                    chunked,
                )
            )
    raw = bytes(max_upload_bytes * 2)
    for ctype in ("image/jpeg", "application/octet-stream", None):
        cases.append(HostileRequest(f"oversized/raw/{ctype}", "oversized", ctype, raw, TOO_LARGE))
    return cases


FAMILIES: dict[str, Maker] = {
    "empty": empty_files,
    "truncated": truncated_images,
    "corrupt": corrupt_images,
    "wrong_magic": wrong_magic,
    "unsupported": unsupported_formats,
    "tiny": tiny_images,
    "declared_huge": declared_huge,
    "metadata": metadata_bombs,
    "animated": animated,
    "polyglot": polyglots,
    "disguised": disguised,
    "multipart": multipart_tricks,
}


def hostile_corpus(
    seed: int = 6, *, max_upload_bytes: int = UPLOAD_CAP_BYTES
) -> list[HostileRequest]:
    """Every bad request, each family from its own child seed (adding one never shifts another)."""
    cases: list[HostileRequest] = []
    seeds = np.random.SeedSequence(seed).spawn(len(FAMILIES) + 1)
    for child, maker in zip(seeds, FAMILIES.values(), strict=False):
        cases += maker(np.random.default_rng(child))
    cases += oversized(np.random.default_rng(seeds[-1]), max_upload_bytes)
    names = [case.name for case in cases]
    assert len(set(names)) == len(names), "hostile case names must be unique"
    return cases


def sample(cases: list[HostileRequest], n: int, seed: int = 6) -> list[HostileRequest]:
    """``n`` cases spread over every family (deterministic)."""
    rng = np.random.default_rng(seed)
    by_family: dict[str, list[HostileRequest]] = {}
    for case in cases:
        by_family.setdefault(case.family, []).append(case)
    per_family = max(n // len(by_family), 1)
    chosen, rest = [], []
    for family in sorted(by_family):
        pool = by_family[family]
        order = rng.permutation(len(pool))
        chosen += [pool[i] for i in sorted(order[:per_family])]
        rest += [pool[i] for i in order[per_family:]]
    # n rarely divides evenly by the families: the remainder comes from all that is left.
    if len(chosen) < n and rest:
        extra = rng.choice(len(rest), size=min(n - len(chosen), len(rest)), replace=False)
        chosen += [rest[i] for i in sorted(extra)]
    return chosen[:n]


# ------------------------------------------------------------------------------ tolerated
def tolerated_corpus(seed: int = 7) -> list[HostileRequest]:
    """Real photos with hostile extras: acceptable or refused, never a crash, stored whole."""
    rng = np.random.default_rng(seed)
    cases = []
    jpeg = photo_bytes(rng, "JPEG")
    png = photo_bytes(rng, "PNG")
    zipped = _zip_bytes({"index.html": HTML})
    for label, data in {
        "jpeg_plus_zip": jpeg + zipped,
        "jpeg_plus_html": jpeg + HTML,
        "png_plus_zip": png + zipped,
        "png_plus_php": png + PHP,
        "jpeg_plus_jpeg": jpeg + photo_bytes(rng, "JPEG"),
    }.items():
        cases.append(
            upload(f"tolerated/trailing/{label}", "trailing", data, expect=ACCEPT_OR_REJECT)
        )
    segments, scan = jpeg_segments(jpeg)
    exif_variants = {
        "orientation_0": _exif_tiff([(0x0112, 3, 1, 0)]),
        "orientation_9": _exif_tiff([(0x0112, 3, 1, 9)]),
        "orientation_65535": _exif_tiff([(0x0112, 3, 1, 0xFFFF)]),
        "orientation_as_long": _exif_tiff([(0x0112, 4, 1, 6)]),
        "exif_ifd_loop": _exif_tiff([(0x8769, 4, 1, 8)]),
        "next_ifd_loop": _exif_tiff([(0x0112, 3, 1, 6)], next_ifd=8),
        "string_past_end": _exif_tiff([(0x010F, 2, 0x7FFFFFFF, 26)]),
        "garbage_60k": rng.bytes(60_000),
        "many_entries": _exif_tiff([(0x9000 + i, 3, 1, i) for i in range(2000)]),
    }
    for label, tiff in exif_variants.items():
        data = jpeg_build([exif_app1(tiff), *segments], scan)
        cases.append(upload(f"tolerated/exif/{label}", "exif", data, expect=ACCEPT_OR_REJECT))
    icc_variants = {
        "garbage_icc": [(0xE2, b"ICC_PROFILE\0\x01\x01" + rng.bytes(4000))],
        "huge_garbage_icc": [
            (0xE2, b"ICC_PROFILE\0" + bytes([i + 1, 12]) + rng.bytes(65_000)) for i in range(12)
        ],
        "icc_sequence_lies": [(0xE2, b"ICC_PROFILE\0\x05\x02" + rng.bytes(100))],
    }
    for label, extra in icc_variants.items():
        data = jpeg_build(extra + segments, scan)
        cases.append(upload(f"tolerated/icc/{label}", "icc", data, expect=ACCEPT_OR_REJECT))
    png_chunks_ = png_chunks(png)
    bad_iccp = (b"iCCP", b"icc\0\0" + zlib.compress(rng.bytes(3000)))
    cases.append(
        upload(
            "tolerated/icc/png_garbage_iccp",
            "icc",
            png_build([png_chunks_[0], bad_iccp, *png_chunks_[1:]]),
            expect=ACCEPT_OR_REJECT,
        )
    )
    w, h = PHOTO_SIZE
    lenient = {
        "png_palette_missing": png_build(
            [
                (b"IHDR", ihdr(w, h, colour=3)),
                (b"IDAT", zlib.compress(bytes((w + 1) * h))),
                (b"IEND", b""),
            ]
        ),
        "jpeg_no_huffman_tables": jpeg_build([s for s in segments if s[0] != 0xC4], scan),
        "jpeg_short_scan_then_eoi": jpeg_build(segments, scan[: len(scan) // 2] + b"\xff\xd9"),
        "jpeg_declares_60000x64": jpeg_with_sof(jpeg, sof_dimensions(60000, 64)),
    }
    for label, data in lenient.items():  # decoders fill in what the file lacks
        cases.append(upload(f"tolerated/lenient/{label}", "lenient", data, expect=ACCEPT_OR_REJECT))
    attachment = b'Content-Disposition: attachment; name="file"; filename="a.jpg"\r\n'
    cases.append(
        HostileRequest(
            "tolerated/form/disposition_attachment",
            "form",
            form_type(),
            multipart([Part("file", jpeg, head=attachment)]),
            ACCEPT_OR_REJECT,
            payload=jpeg,
        )
    )
    for k, filename in enumerate(
        [
            "../../../../etc/passwd",
            "..\\..\\x.jpg",
            "a" * 4000 + ".jpg",
            "\u202egpj.exe",
            "<script>.jpg",
            "",
        ]
    ):
        cases.append(
            upload(
                f"tolerated/filename/{k}",
                "filename",
                jpeg,
                filename=filename,
                expect=ACCEPT_OR_REJECT,
            )
        )
    for fmt in ACCEPTED:
        data = photo_bytes(rng, fmt)
        for fn, ct in (
            ("photo.gif", "image/gif"),
            ("photo.html", "text/html"),
            ("x", "application/x-evil"),
        ):
            cases.append(
                upload(
                    f"tolerated/lying_type/{fmt.lower()}/{fn}",
                    "lying_type",
                    data,
                    filename=fn,
                    ctype=ct,
                    expect=ACCEPT_OR_REJECT,
                )
            )
    return cases
