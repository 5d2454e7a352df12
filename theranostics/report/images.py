"""Small images for reports: maximum-intensity projections encoded as PNG with numpy and zlib
only (no plotting library).

PNG layout (ISO/IEC 15948): signature, IHDR (width, height, bit depth 8, colour type 0 grey
or 2 RGB), IDAT (zlib stream of rows, each preceded by filter byte 0), IEND; every chunk is
length, type, data and CRC-32 of type + data.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image ``(rows, cols)`` (grey) or ``(rows, cols, 3)`` (RGB)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim == 2:
        colour_type = 0
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        colour_type = 2
    else:
        raise ValueError(f"unsupported image shape {pixels.shape}")
    rows, cols = pixels.shape[:2]
    raw = pixels.reshape(rows, -1)
    body = np.hstack([np.zeros((rows, 1), dtype=np.uint8), raw]).tobytes()
    header = struct.pack(">IIBBBBB", cols, rows, 8, colour_type, 0, 0, 0)
    return (
        _SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(body, 9))
        + _chunk(b"IEND", b"")
    )


def png_data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def mip_png(
    volume_kji: np.ndarray,
    spacing_mm: tuple[float, float, float],
    *,
    min_height_px: int = 320,
    invert: bool = True,
    percentile: float = 99.9,
    gamma: float = 0.6,
) -> bytes:
    """Anterior maximum-intensity projection of a ``[k, j, i]`` LPS volume as PNG bytes.

    Projects along the anterior-posterior axis (j); head at the top (k reversed), patient
    left on the viewer's right (anterior view). Grey levels scale to the ``percentile`` of
    the projection with a ``gamma``; ``invert`` draws high values dark (nuclear-medicine
    style). Pixels are repeated to reach ``min_height_px`` and square physical pixels.
    """
    vol = np.asarray(volume_kji, dtype=np.float64)
    mip = vol.max(axis=1)[::-1, :]  # rows: superior first; columns: +x (patient left)
    top = np.percentile(mip, percentile) if mip.size else 0.0
    lo = min(0.0, float(mip.min())) if mip.size else 0.0
    scaled = np.clip((mip - lo) / (top - lo), 0.0, 1.0) if top > lo else np.zeros_like(mip)
    grey = (scaled**gamma * 255.0).round().astype(np.uint8)
    if invert:
        grey = 255 - grey
    sx, _, sz = spacing_mm
    ratio = sz / sx
    rep_x = max(1, int(np.ceil(min_height_px / max(mip.shape[0] * ratio, 1))))
    rep_z = max(1, round(rep_x * ratio))
    grey = np.repeat(np.repeat(grey, rep_z, axis=0), rep_x, axis=1)
    return encode_png(grey)
