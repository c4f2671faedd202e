"""A cached table of posed people: 3D COCO keypoints in each person's own frame.

Produced by the Blender mannequin (deepx_addon/blender) and consumed by the no-render sampler,
which places many cameras around every pose in numpy. Person frame (Blender's world axes):
metres, Z up, feet on the ground plane z = 0, pelvis (mid-point of the two hip joints) at x = y = 0,
the body facing -Y. ``pose_seed`` reproduces each row from the generator settings in ``meta``.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1


class StringColumn:
    """Strings of any length in one UTF-8 buffer plus row offsets: about (mean length + 8) bytes a
    row, where a numpy str array takes 4 bytes x the longest string for every row (the pose
    recipes: 239 instead of 1 500 bytes a row; scripts/bench_finalize.py reports it). Indexing
    with an int gives a str; with a slice, index array or mask, a StringColumn; ``np.asarray``
    gives the numpy str array (what the .npz file stores, unchanged)."""

    __slots__ = ("data", "offsets")

    def __init__(self, strings=()):
        enc = [s.encode("utf-8") for s in (strings.tolist() if isinstance(strings, np.ndarray) else strings)]
        self.offsets = np.zeros(len(enc) + 1, np.int64)
        np.cumsum([len(b) for b in enc], out=self.offsets[1:])
        self.data = np.frombuffer(b"".join(enc), np.uint8)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):
        if isinstance(i, (int, np.integer)):
            n = len(self)
            k = int(i) + n if i < 0 else int(i)
            if not 0 <= k < n:
                raise IndexError(f"row {i} of {n}")
            return self.data[self.offsets[k]:self.offsets[k + 1]].tobytes().decode("utf-8")
        return StringColumn(self.take(np.arange(len(self))[i]))

    def take(self, idx) -> list[str]:
        """The strings of rows ``idx`` (each distinct row decoded once: many samples share a pose)."""
        uniq, inv = np.unique(np.asarray(idx, np.int64).reshape(-1), return_inverse=True)
        dec = [self[int(k)] for k in uniq]
        return [dec[j] for j in inv.reshape(-1).tolist()]

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def tolist(self) -> list[str]:
        return list(self)

    def __array__(self, dtype=None, copy=None):
        return np.array(self.tolist(), dtype=dtype or str)

    @property
    def nbytes(self) -> int:
        return self.data.nbytes + self.offsets.nbytes


@dataclass
class PoseTable:
    keypoints: np.ndarray                 # (N, 17, 3) float32, person frame
    stature_m: np.ndarray                 # (N,) body height when standing
    family: np.ndarray                    # (N,) str: standing, walking, crouching, kneeling, sitting, hands_up, bending
    recipe: StringColumn                  # (N,) str: JSON of the pose recipe (presets, walk phase, randomisers)
    pose_seed: np.ndarray                 # (N,) int64
    body: dict = field(default_factory=dict)   # name -> (N,) float body parameters
    meta: dict = field(default_factory=dict)   # generator settings, Blender version, ...

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, np.float32)
        if not isinstance(self.recipe, StringColumn):
            self.recipe = StringColumn(self.recipe)
        n = len(self.keypoints)
        if self.keypoints.shape[1:] != (17, 3):
            raise ValueError(f"keypoints must be (N, 17, 3), got {self.keypoints.shape}")
        for name in ("stature_m", "family", "recipe", "pose_seed"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, keypoints {n}")
        for k, v in self.body.items():
            if len(v) != n:
                raise ValueError(f"body[{k!r}] has {len(v)} rows, keypoints {n}")

    def __len__(self) -> int:
        return len(self.keypoints)

    def subset(self, idx) -> "PoseTable":
        return PoseTable(self.keypoints[idx], np.asarray(self.stature_m)[idx], np.asarray(self.family)[idx],
                         self.recipe[idx], np.asarray(self.pose_seed)[idx],
                         {k: np.asarray(v)[idx] for k, v in self.body.items()}, dict(self.meta))

    @staticmethod
    def concat(tables) -> "PoseTable":
        tables = list(tables)
        body_keys = set.intersection(*(set(t.body) for t in tables)) if tables else set()
        return PoseTable(np.concatenate([t.keypoints for t in tables]),
                         np.concatenate([t.stature_m for t in tables]),
                         np.concatenate([np.asarray(t.family, dtype=str) for t in tables]),
                         StringColumn([r for t in tables for r in t.recipe]),
                         np.concatenate([t.pose_seed for t in tables]),
                         {k: np.concatenate([t.body[k] for t in tables]) for k in sorted(body_keys)},
                         dict(tables[0].meta) if tables else {})

    def nbytes_per_row(self) -> dict:
        """Bytes a row in memory, per column (the recipe's compact form included)."""
        n = max(len(self), 1)
        cols = {"keypoints": self.keypoints, "stature_m": np.asarray(self.stature_m), "family": np.asarray(self.family),
                "recipe": self.recipe, "pose_seed": np.asarray(self.pose_seed),
                **{f"body.{k}": np.asarray(v) for k, v in self.body.items()}}
        return {k: v.nbytes / n for k, v in cols.items()}

    def save(self, path) -> None:
        """Atomic .npz write (no pickles)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez_compressed(buf, keypoints=self.keypoints, stature_m=np.asarray(self.stature_m, np.float32),
                            family=np.asarray(self.family, dtype=str), recipe=np.asarray(self.recipe, dtype=str),
                            pose_seed=np.asarray(self.pose_seed, np.int64),
                            meta=np.array(json.dumps({"format_version": FORMAT_VERSION, **self.meta})),
                            **{f"body__{k}": np.asarray(v, np.float32) for k, v in self.body.items()})
        from .records import atomic_write_bytes
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path) -> "PoseTable":
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"{path}: pose table format {meta.get('format_version')} != {FORMAT_VERSION}")
            return cls(z["keypoints"], z["stature_m"], z["family"], z["recipe"], z["pose_seed"],
                       {k[6:]: z[k] for k in z.files if k.startswith("body__")}, meta)
