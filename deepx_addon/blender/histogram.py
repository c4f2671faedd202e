"""The distribution preview's picture: a small bar chart written by Blender's image API (bpy; no
matplotlib inside Blender)."""
from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np


def histogram_png(frac, path, bins: int = 18, size=(180, 180)):
    """A small bar chart of log2(person size / image height) from 1/256 to 2, written as PNG by
    Blender's image API (no matplotlib inside Blender). Bars: teal; axis ticks every octave."""
    W, H = size
    lo, hi = -8.0, 1.0
    x = np.log2(np.clip(np.asarray(frac, float), 2.0 ** lo, 2.0 ** hi))
    counts, _ = np.histogram(x, bins=bins, range=(lo, hi))
    img = np.ones((H, W, 4), np.float32)
    img[..., :3] = 0.12
    base, top = 14, H - 6
    peak = max(int(counts.max()), 1)
    bw = W / bins
    for i, c in enumerate(counts):
        h = int(round((top - base) * c / peak))
        x0, x1 = int(i * bw) + 1, int((i + 1) * bw) - 1
        img[base:base + h, x0:x1, :3] = (0.25, 0.7, 0.75)
    for octave in range(int(lo), int(hi) + 1):        # ticks; the full-frame tick (2^0) brighter
        xp = int((octave - lo) / (hi - lo) * (W - 1))
        img[4:base - 2, xp, :3] = 0.9 if octave == 0 else 0.5
    img[base - 1, :, :3] = 0.6
    name = Path(path).name
    im = bpy.data.images.get(name)
    if im is not None and tuple(im.size) != (W, H):
        bpy.data.images.remove(im)
        im = None
    if im is None:
        im = bpy.data.images.new(name, W, H, alpha=True)
    im.pixels.foreach_set(img.ravel())
    im.filepath_raw = str(path)
    im.file_format = 'PNG'
    im.save()
    im.update()
    if im.preview is not None:      # the panel draws the icon preview, cached until reloaded
        im.preview.reload()
    return im
