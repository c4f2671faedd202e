"""The keypoint JSONL format (one person per line), strict validation and atomic writing.

A row (see README "Data format"): id, image_size [w, h], K (3x3), keypoints (17 x [x, y, conf] in
pixels, conf 0 = missing) and optional ground truth distance_m / depth_m / height_m. Unknown fields
are kept in ``extra`` and written back unchanged, so a round trip never loses data.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .camera import CameraError, Intrinsics
from .keypoints import NUM_KEYPOINTS

KNOWN_FIELDS = ("id", "source", "image", "image_size", "K", "keypoints", "distance_m", "depth_m",
                "height_m", "reference")


class RecordError(ValueError):
    """A row that does not follow the format. The message names file, line, id and field."""

    def __init__(self, message: str, *, path=None, line=None, row_id=None, field=None):
        self.path, self.line, self.row_id, self.field, self.detail = path, line, row_id, field, message
        where = ":".join(str(x) for x in (path, line) if x is not None)
        parts = [p for p in (where, f"id={row_id!r}" if row_id is not None else None,
                             f"field '{field}'" if field else None) if p]
        super().__init__(f"{' '.join(parts)}: {message}" if parts else message)


@dataclass
class PersonRecord:
    id: str
    keypoints: np.ndarray            # (17, 3) float: x, y (pixels), confidence in [0, 1]
    K: np.ndarray                    # (3, 3)
    image_size: tuple[int, int] | None = None   # (width, height)
    source: str | None = None
    image: str | None = None
    distance_m: float | None = None
    depth_m: float | None = None
    height_m: float | None = None
    reference: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def intrinsics(self) -> Intrinsics:
        return Intrinsics.from_K(self.K, self.image_size)

    @classmethod
    def from_dict(cls, d: dict) -> "PersonRecord":
        """Validate and convert one parsed row. Raises RecordError naming the field."""
        if not isinstance(d, dict):
            raise RecordError(f"a row must be a JSON object, got {type(d).__name__}")
        rid = d.get("id")
        if rid is None or not isinstance(rid, (str, int)) or isinstance(rid, bool) or str(rid) == "":
            raise RecordError("missing or empty id", field="id")
        rid = str(rid)

        def fail(fieldname, msg):
            raise RecordError(msg, row_id=rid, field=fieldname)

        kps = d.get("keypoints")
        if kps is None:
            fail("keypoints", "missing")
        try:
            kp = np.asarray(kps, dtype=float)
        except (TypeError, ValueError):
            fail("keypoints", "must be a list of [x, y, conf] numbers")
        if kp.ndim != 2 or kp.shape[1] != 3:
            fail("keypoints", f"expected {NUM_KEYPOINTS} rows of [x, y, conf], got shape {list(kp.shape)}")
        if kp.shape[0] != NUM_KEYPOINTS:
            fail("keypoints", f"expected {NUM_KEYPOINTS} keypoints (COCO order), got {kp.shape[0]}")
        bad = np.argwhere(~np.isfinite(kp))
        if len(bad):
            i, j = bad[0]
            fail("keypoints", f"row {i} value {j} is {kp[i, j]} (NaN/inf not allowed; use conf 0 for missing)")
        if np.any((kp[:, 2] < 0) | (kp[:, 2] > 1)):
            i = int(np.argmax((kp[:, 2] < 0) | (kp[:, 2] > 1)))
            fail("keypoints", f"row {i} confidence {kp[i, 2]} is outside [0, 1]")

        size = d.get("image_size")
        if size is not None:
            if (not isinstance(size, (list, tuple)) or len(size) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                               and math.isfinite(v) and int(v) == v for v in size)):
                fail("image_size", f"must be [width, height] positive integers, got {size!r}")
            size = (int(size[0]), int(size[1]))

        if d.get("K") is None:
            fail("K", "missing (3x3 intrinsics [[fx,0,cx],[0,fy,cy],[0,0,1]] in pixels)")
        try:
            Kmat = np.asarray(d["K"], dtype=float)
        except (TypeError, ValueError):
            fail("K", "must be a 3x3 list of numbers")
        try:
            Intrinsics.from_K(Kmat, size)
        except CameraError as e:
            fail("K", str(e))

        gt = {}
        for name in ("distance_m", "depth_m", "height_m"):
            v = d.get(name)
            if v is None:
                gt[name] = None
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                fail(name, f"must be a finite number > 0 or null, got {v!r}")
            gt[name] = float(v)
        for name in ("source", "image", "reference"):
            if d.get(name) is not None and not isinstance(d[name], str):
                fail(name, f"must be a string or null, got {d[name]!r}")
        extra = {k: v for k, v in d.items() if k not in KNOWN_FIELDS}
        return cls(id=rid, keypoints=kp, K=Kmat, image_size=size, source=d.get("source"),
                   image=d.get("image"), reference=d.get("reference"), extra=extra, **gt)

    def to_dict(self) -> dict:
        d = {"id": self.id, "source": self.source, "image": self.image,
             "image_size": list(self.image_size) if self.image_size else None,
             "K": np.asarray(self.K, float).tolist(),
             "keypoints": [[round(float(x), 3), round(float(y), 3), round(float(c), 4)]
                           for x, y, c in np.asarray(self.keypoints, float)],
             "distance_m": self.distance_m, "depth_m": self.depth_m, "height_m": self.height_m,
             "reference": self.reference}
        d.update(self.extra)
        return d


def keypoints_from_visibility(keypoints_2d) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth (..., 17, 3) [x, y, visibility] -> (record keypoints, visibility as int): the
    record's [x, y, 1] for a keypoint in the frame (visible or hidden, see ``visibility``), [0, 0, 0]
    outside. The one rule both synthetic writers (renders, the no-render sampler) apply."""
    kp = np.asarray(keypoints_2d, np.float64)
    vis = kp[..., 2].astype(np.int64)
    out = np.concatenate([kp[..., :2], (vis > 0).astype(np.float64)[..., None]], -1)
    out[vis == 0] = 0.0
    return out, vis


@dataclass
class ParsedLine:
    """One line of a JSONL file: either a record or the error that stopped it (never dropped)."""
    line: int
    record: PersonRecord | None
    error: RecordError | None
    row_id: str | None


def iter_jsonl(path) -> Iterator[ParsedLine]:
    """Yield every non-blank line of a JSONL file, valid or not, with its line number."""
    path = Path(path)
    try:
        fh = open(path, encoding="utf-8")
    except OSError as e:
        raise RecordError(f"cannot read file: {e.strerror}", path=path) from None
    with fh:
        for n, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                d = json.loads(text)
            except json.JSONDecodeError as e:
                yield ParsedLine(n, None, RecordError(f"not valid JSON ({e.msg} at column {e.colno})",
                                                      path=path, line=n), None)
                continue
            rid = str(d.get("id")) if isinstance(d, dict) and d.get("id") is not None else None
            try:
                yield ParsedLine(n, PersonRecord.from_dict(d), None, rid)
            except RecordError as e:
                yield ParsedLine(n, None, RecordError(e.detail, path=path, line=n, row_id=e.row_id,
                                                      field=e.field), rid)


def read_jsonl(path) -> list[PersonRecord]:
    """All records of a file; raises the first RecordError (strict, for training/evaluation)."""
    out = []
    for p in iter_jsonl(path):
        if p.error is not None:
            raise p.error
        out.append(p.record)
    return out


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_open(path, mode: str = "w"):
    """A file handle on a temp file beside ``path``; when the block ends without error the data is
    fsynced and renamed over ``path`` (readers see the old or the complete new file, never half),
    otherwise the temp file is removed. mode: "w" (UTF-8 text) or "wb"."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)   # mkstemp makes 0600; give the file normal permissions
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def write_jsonl(path, rows) -> None:
    """Atomically write rows (dicts or PersonRecords) as JSON Lines."""
    lines = [json.dumps(r.to_dict() if isinstance(r, PersonRecord) else r, allow_nan=False) for r in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
