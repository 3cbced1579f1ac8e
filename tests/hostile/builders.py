"""Hostile files, built by the suite itself: small on disk, dangerous to a careless reader.

Each builder writes one file (or a FIFO) and returns its path. Nothing here is decoded: the bombs are
written chunk by chunk, never as whole arrays, so building them costs little memory and time.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import torch


def postscript_writing(path: Path, marker: Path) -> Path:
    """An EPS program (named like a photo) that writes ``marker`` when Ghostscript runs it."""
    program = (f"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n"
               f"/f ({marker}) (w) file def f (owned) writestring f closefile\n"
               "0 0 moveto 16 16 lineto stroke showpage\n")
    path.write_bytes(program.encode())
    return path


def postscript_looping(path: Path) -> Path:
    """An EPS program that never ends: ``{ } loop``."""
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n{ } loop\n")
    return path


def fifo(path: Path) -> Path:
    """A named pipe with no writer: opening it for reading blocks forever."""
    os.mkfifo(path)
    return path


def sparse(path: Path, size: int = 30 * 10**9) -> Path:
    """A file that claims ``size`` bytes (of zeros) and takes no room on disk."""
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path: Path, width: int, height: int, bit_depth: int = 16, colour_type: int = 0) -> Path:
    """A PNG of ``width`` x ``height`` zero pixels (colour type 0 grey, 6 RGBA), deflated to KBs."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\0" + bytes(width * channels * bit_depth // 8)  # filter byte 0, then zeros
    packer = zlib.compressobj(9)
    rows_per_piece = max(1, (8 << 20) // len(row))
    body = []
    for start in range(0, height, rows_per_piece):
        body.append(packer.compress(row * min(rows_per_piece, height - start)))
    body.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(body))
                     + _chunk(b"IEND", b""))
    return path


def float_tiff_bomb(path: Path, side: int = 10950, rows_per_strip: int = 64) -> Path:
    """A 32-bit float grey TIFF of ``side`` x ``side``: every strip points at one deflated blob."""
    strip = zlib.compress(bytes(side * 4 * rows_per_strip), 9)
    strips = (side + rows_per_strip - 1) // rows_per_strip
    entries = [  # tag, type (3 short, 4 long), count, value
        (256, 4, 1, side), (257, 4, 1, side), (258, 3, 1, 32), (259, 3, 1, 8), (262, 3, 1, 1),
        (273, 4, strips, None), (277, 3, 1, 1), (278, 4, 1, rows_per_strip),
        (279, 4, strips, None), (339, 3, 1, 3)]
    ifd_at = 8
    ifd_size = 2 + 12 * len(entries) + 4
    offsets_at = ifd_at + ifd_size
    counts_at = offsets_at + 4 * strips
    data_at = counts_at + 4 * strips
    out = io.BytesIO()
    out.write(b"II*\0" + struct.pack("<I", ifd_at) + struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        if tag == 273:
            value = offsets_at
        elif tag == 279:
            value = counts_at
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 and count == 1 else struct.pack("<I", value)
        out.write(struct.pack("<HHI", tag, kind, count) + packed)
    out.write(struct.pack("<I", 0))
    out.write(struct.pack(f"<{strips}I", *([data_at] * strips)))
    out.write(struct.pack(f"<{strips}I", *([len(strip)] * strips)))
    out.write(strip)
    path.write_bytes(out.getvalue())
    return path


def deflated_checkpoint(path: Path, megabytes: int = 256) -> Path:
    """A real torch checkpoint whose tensor data is re-zipped with deflate: KBs that inflate to
    ``megabytes`` MB (torch itself never compresses)."""
    plain = io.BytesIO()
    torch.save({"weight": torch.zeros(megabytes * (1 << 20) // 4)}, plain)
    plain.seek(0)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename), compress_type=zipfile.ZIP_DEFLATED,
                         compresslevel=9)
    return path


def jpeg_with_empty_scans(path: Path, scans: int = 50_000, size: tuple[int, int] = (3000, 2000)) -> Path:
    """A progressive JPEG followed by ``scans`` empty scans: each is one more pass over the image."""
    from PIL import Image

    encoded = io.BytesIO()
    Image.new("RGB", size, (120, 30, 200)).save(encoded, "JPEG", progressive=True)
    empty_scan = b"\xff\xda\x00\x08\x01\x01\x00\x01\x3f\x00"  # one AC band, no data
    path.write_bytes(encoded.getvalue()[:-2] + empty_scan * scans + b"\xff\xd9")
    return path


def progressive_jpeg_claiming(path: Path, width: int, height: int) -> Path:
    """A small progressive JPEG whose header claims ``width`` x ``height``: libjpeg would hold
    every DCT coefficient of that size."""
    from PIL import Image

    encoded = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 30, 200)).save(encoded, "JPEG", progressive=True)
    data = bytearray(encoded.getvalue())
    at = data.index(b"\xff\xc2")  # start of frame, progressive: FF C2, length, precision, h, w
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def png_with_corrupt_exif(path: Path) -> Path:
    """A small PNG whose EXIF block claims 65,535 entries it does not have."""
    from PIL import Image

    Image.new("RGB", (64, 64), (10, 200, 30)).save(path, exif=b"MM\x00*\x00\x00\x00\x08\xff\xff")
    return path
