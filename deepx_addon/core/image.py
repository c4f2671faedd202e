"""Image helpers that need numpy only (no Pillow inside Blender): area resampling and a PNG writer.

``area_resize(img, (w, h))`` averages every source pixel into the output pixels it overlaps, weighted
by the overlap (a box filter over the exact footprint, like Pillow's BOX / OpenCV's INTER_AREA), for
any integer output size. ``write_png(path, img)`` writes 8-bit grey/RGB/RGBA PNGs with zlib.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix: output cell i covers source [i*n_in/n_out, (i+1)*n_in/n_out)."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    src = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, src + 1) - np.maximum(lo, src), 0.0, None)
    return overlap / overlap.sum(1, keepdims=True)


def area_resize(img, size) -> np.ndarray:
    """(H, W[, C]) array -> (h, w[, C]) float64 array, size = (w, h) integers >= 1."""
    a = np.asarray(img, np.float64)
    w, h = (int(v) for v in size)
    if w < 1 or h < 1:
        raise ValueError(f"area_resize: output size must be >= 1x1, got {w}x{h}")
    wy, wx = _area_weights(a.shape[0], h), _area_weights(a.shape[1], w)
    return np.einsum("yi,ij...,xj->yx...", wy, a, wx, optimize=True)


def to_uint8(img) -> np.ndarray:
    return np.clip(np.rint(np.asarray(img, np.float64)), 0, 255).astype(np.uint8)


def write_png(path, img, compress_level: int = 3) -> None:
    """Write a uint8 (H, W), (H, W, 3) or (H, W, 4) array as PNG (no filter, zlib)."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise ValueError(f"write_png: need uint8 pixels, got {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    colour = {1: 0, 3: 2, 4: 6}.get(a.shape[2])
    if colour is None:
        raise ValueError(f"write_png: need 1, 3 or 4 channels, got {a.shape[2]}")
    h, w, c = a.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), a.reshape(h, w * c)], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    head = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head)
                           + chunk(b"IDAT", zlib.compress(raw, compress_level)) + chunk(b"IEND", b""))
