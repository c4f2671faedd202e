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


@dataclass
class PoseTable:
    keypoints: np.ndarray                 # (N, 17, 3) float32, person frame
    stature_m: np.ndarray                 # (N,) body height when standing
    family: np.ndarray                    # (N,) str: standing, walking, crouching, kneeling, sitting, hands_up, bending
    recipe: np.ndarray                    # (N,) str: JSON of the pose recipe (presets, walk phase, randomisers)
    pose_seed: np.ndarray                 # (N,) int64
    body: dict = field(default_factory=dict)   # name -> (N,) float body parameters
    meta: dict = field(default_factory=dict)   # generator settings, Blender version, ...

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, np.float32)
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
                         np.asarray(self.recipe)[idx], np.asarray(self.pose_seed)[idx],
                         {k: np.asarray(v)[idx] for k, v in self.body.items()}, dict(self.meta))

    @staticmethod
    def concat(tables) -> "PoseTable":
        tables = list(tables)
        body_keys = set.intersection(*(set(t.body) for t in tables)) if tables else set()
        return PoseTable(np.concatenate([t.keypoints for t in tables]),
                         np.concatenate([t.stature_m for t in tables]),
                         np.concatenate([np.asarray(t.family, dtype=str) for t in tables]),
                         np.concatenate([np.asarray(t.recipe, dtype=str) for t in tables]),
                         np.concatenate([t.pose_seed for t in tables]),
                         {k: np.concatenate([t.body[k] for t in tables]) for k in sorted(body_keys)},
                         dict(tables[0].meta) if tables else {})

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
