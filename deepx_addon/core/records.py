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

from .camera import CameraError, Intrinsics, check_plausible, keypoints_problem, vector_camera_ok
from .keypoints import NUM_KEYPOINTS
from .outputs import OutputError, path_text, regular_target

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
            intr = check_plausible(Intrinsics.from_K(Kmat, size))
        except CameraError as e:
            fail("K", str(e))
        far = keypoints_problem(kp, intr.width or 2 * intr.cx, intr.height or 2 * intr.cy)
        if far:
            fail("keypoints", far)

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


def _decode(raw: bytes, n: int, path=None):
    """Bytes of line n -> (n, JSON value), a ParsedLine with the error, or None for a blank line.
    Bytes that are not UTF-8, a byte-order mark after line 1, JSON nested too deep for Python:
    each is that line's error, never the file's."""
    if n == 1 and raw.startswith(b"\xef\xbb\xbf"):   # a UTF-8 byte-order mark (Windows editors)
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return ParsedLine(n, None, RecordError(f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})",
                                               path=path, line=n), None)
    if not text.strip():
        return None
    try:
        return n, json.loads(text)
    except json.JSONDecodeError as e:
        return ParsedLine(n, None, RecordError(f"not valid JSON ({e.msg} at column {e.colno})", path=path, line=n),
                          None)
    except RecursionError:
        return ParsedLine(n, None, RecordError("JSON nested too deeply to read", path=path, line=n), None)


def _parsed(d, n: int, path=None) -> ParsedLine:
    rid = str(d.get("id")) if isinstance(d, dict) and d.get("id") is not None else None
    try:
        return ParsedLine(n, PersonRecord.from_dict(d), None, rid)
    except RecordError as e:
        return ParsedLine(n, None, RecordError(e.detail, path=path, line=n, row_id=e.row_id, field=e.field), rid)
    except (TypeError, ValueError, OverflowError, RecursionError) as e:   # odd values in odd places
        return ParsedLine(n, None, RecordError(f"unusable row ({type(e).__name__}: {e})", path=path, line=n,
                                               row_id=rid), rid)


def parse_line(raw: bytes, n: int, path=None) -> ParsedLine | None:
    """One line of a JSONL file (bytes) -> ParsedLine; None for a blank line. Never raises."""
    item = _decode(raw, n, path)
    return item if item is None or isinstance(item, ParsedLine) else _parsed(item[1], n, path)


def iter_jsonl(path) -> Iterator[ParsedLine]:
    """Yield every non-blank line of a JSONL file, valid or not, with its line number (streamed:
    memory does not grow with the file)."""
    path = Path(path)
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise RecordError(f"cannot read file: {e.strerror}", path=path_text(path)) from None
    with fh:
        for n, raw in enumerate(fh, start=1):
            p = parse_line(raw, n, path_text(path))
            if p is not None:
                yield p


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
    otherwise the temp file is removed. mode: "w" (UTF-8 text) or "wb".

    A symlink is written through (its target is replaced, the link stays); a folder, device, pipe or
    socket at ``path`` is refused with OutputError, as is any failure to write (permission, full
    disk), which names the path."""
    target = regular_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise OutputError(f"cannot write {path_text(path)}: {e.strerror or e}") from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)   # mkstemp makes 0600; give the file normal permissions
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            raise OutputError(f"cannot write {path_text(path)}: {e.strerror or e}") from None
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


@dataclass
class RecordChunk:
    """Many valid rows as arrays (what streaming commands estimate in one go), plus the rows that
    were not valid with their errors; ``lines`` gives each valid row's place in the file."""
    lines: np.ndarray            # (n,) line numbers of the valid rows, increasing
    ids: list
    keypoints: np.ndarray        # (n, 17, 3)
    K: np.ndarray                # (n, 3, 3)
    image_size: np.ndarray       # (n, 2) float, NaN where the row has none
    distance_m: np.ndarray       # (n,) NaN where absent
    depth_m: np.ndarray
    rows: list                   # (n,) the parsed JSON objects (extra fields: ``extra(i)``)
    errors: list                 # ParsedLine with the error, for the invalid rows

    def extra(self, i: int) -> dict:
        return {k: v for k, v in self.rows[i].items() if k not in KNOWN_FIELDS}

    def record(self, i: int) -> PersonRecord:
        size = None if np.isnan(self.image_size[i, 0]) else tuple(int(v) for v in self.image_size[i])
        nan_none = lambda v: None if np.isnan(v) else float(v)   # noqa: E731
        return PersonRecord(self.ids[i], self.keypoints[i], self.K[i], size, distance_m=nan_none(self.distance_m[i]),
                            depth_m=nan_none(self.depth_m[i]), extra=self.extra(i))


_FAST_FIELDS = {"id", "keypoints", "K", "image_size", "distance_m", "depth_m", "height_m", "source", "image",
                "reference"}


def _fast_rows(dicts: list[dict]):
    """Vectorised PersonRecord.from_dict for the common case: the indices of rows that pass the same
    checks, with their arrays. A row that fails any check (or has odd types) is not judged here:
    the caller runs from_dict on it for the exact message. Same rules, so the results agree."""
    n = len(dicts)
    ok = np.ones(n, bool)
    kps, Ks, sizes, gts = [], [], np.full((n, 2), np.nan), np.full((n, 3), np.nan)
    dummy_kp, dummy_K = [[0.0] * 3] * NUM_KEYPOINTS, [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]
    for i, d in enumerate(dicts):
        rid, kp, K, size = d.get("id"), d.get("keypoints"), d.get("K"), d.get("image_size")
        if (not isinstance(rid, (str, int)) or isinstance(rid, bool) or str(rid) == "" or not isinstance(kp, list)
                or len(kp) != NUM_KEYPOINTS or not isinstance(K, list) or len(K) != 3):
            ok[i] = False
        elif size is not None:
            if (isinstance(size, list) and len(size) == 2 and all(type(v) is int and v > 0 for v in size)):
                sizes[i] = size
            else:
                ok[i] = False
        for j, name in enumerate(("distance_m", "depth_m", "height_m")):
            v = d.get(name)
            if v is not None:
                if type(v) in (int, float) and math.isfinite(v) and v > 0:
                    gts[i, j] = v
                else:
                    ok[i] = False
        for name in ("source", "image", "reference"):
            if d.get(name) is not None and not isinstance(d[name], str):
                ok[i] = False
        kps.append(kp if ok[i] else dummy_kp)
        Ks.append(K if ok[i] else dummy_K)
    try:
        kp = np.array(kps, float)
        Km = np.array(Ks, float)
    except (TypeError, ValueError):     # ragged or non-numeric somewhere: judge every row alone
        return np.zeros(n, bool), None, None, sizes, gts
    if kp.shape != (n, NUM_KEYPOINTS, 3) or Km.shape != (n, 3, 3):
        return np.zeros(n, bool), None, None, sizes, gts
    with np.errstate(all="ignore"):
        ok &= np.isfinite(kp).all((1, 2)) & ((kp[..., 2] >= 0) & (kp[..., 2] <= 1)).all(1)
        ok &= np.isfinite(Km).all((1, 2))
        ok &= (np.abs(Km[:, 0, 1]) <= 1e-9) & (np.abs(Km[:, 1, 0]) <= 1e-9) & np.isclose(Km[:, 2], [0, 0, 1]).all(1)
        fx, fy, cx, cy = Km[:, 0, 0], Km[:, 1, 1], Km[:, 0, 2], Km[:, 1, 2]
        ok &= (fx > 0) & (fy > 0)
        w = np.where(np.isnan(sizes[:, 0]), 2 * cx, sizes[:, 0])
        h = np.where(np.isnan(sizes[:, 1]), 2 * cy, sizes[:, 1])
        ok &= vector_camera_ok(fx, fy, cx, cy, w, h, sized=~np.isnan(sizes[:, 0]))
        present = kp[..., 2] > 0
        x, y = kp[..., 0], kp[..., 1]
        far = present & ((x < -w[:, None]) | (x > 2 * w[:, None]) | (y < -h[:, None]) | (y > 2 * h[:, None]))
        ok &= ~(far.any(1) & (w > 0) & (h > 0))
    return ok, kp, Km, sizes, gts


def read_chunk(items: list, path=None) -> RecordChunk:
    """items: (line, parsed JSON value) pairs, or ParsedLines already holding an error."""
    pending = [it for it in items if not isinstance(it, ParsedLine)]
    errors = [it for it in items if isinstance(it, ParsedLine)]
    dicts = [d for _, d in pending]
    n = len(dicts)
    lines = np.array([ln for ln, _ in pending], int)
    ok, kp, Km, sizes, gts = np.zeros(n, bool), np.zeros((n, NUM_KEYPOINTS, 3)), np.zeros((n, 3, 3)), \
        np.full((n, 2), np.nan), np.full((n, 3), np.nan)
    if n and all(isinstance(d, dict) for d in dicts):
        ok, kp2, Km2, sizes, gts = _fast_rows(dicts)
        if kp2 is not None:
            kp, Km = kp2, Km2
    for i in np.flatnonzero(~ok):               # the exact verdict (and message) of from_dict
        p = _parsed(dicts[i], int(lines[i]), path)
        if p.error is not None:
            errors.append(p)
            continue
        r = p.record
        ok[i] = True
        kp[i], Km[i] = r.keypoints, r.K
        sizes[i] = r.image_size if r.image_size else (np.nan, np.nan)
        gts[i] = [np.nan if v is None else v for v in (r.distance_m, r.depth_m, r.height_m)]
        dicts[i] = {**r.to_dict(), "id": r.id}
    keep = np.flatnonzero(ok)
    return RecordChunk(lines[keep], [str(dicts[i]["id"]) for i in keep], kp[keep], Km[keep], sizes[keep],
                       gts[keep, 0], gts[keep, 1], [dicts[i] for i in keep], sorted(errors, key=lambda p: p.line))


def _parse_block(block) -> RecordChunk:
    """(first line number, raw lines, file name, fields to keep) -> RecordChunk. Runs in worker
    processes too: keep=None ships whole rows back, a tuple only those fields (less to pickle)."""
    first, raws, name, keep = block
    items = [it for it in (_decode(r, first + k, name) for k, r in enumerate(raws)) if it is not None]
    chunk = read_chunk(items, name)
    if keep is not None:
        chunk.rows = [{k: r[k] for k in keep if k in r} for r in chunk.rows]
    return chunk


PARALLEL_MIN_BYTES = 16 << 20   # smaller files are read in this process (workers take ~0.5 s to start)


def iter_chunks(path, rows: int = 4096, workers: int = 1, keep=None) -> Iterator[RecordChunk]:
    """A JSONL file as RecordChunks of about ``rows`` lines each, in file order (streamed, flat
    memory). workers > 1: JSON decoding and validation (most of the time per row) run in that many
    worker processes for files over PARALLEL_MIN_BYTES, at most 2 x workers chunks in flight.
    keep: the row fields the caller needs from ``RecordChunk.rows`` (None: all)."""
    path = Path(path)
    try:
        fh = open(path, "rb")
        size = os.fstat(fh.fileno()).st_size
    except OSError as e:
        raise RecordError(f"cannot read file: {e.strerror}", path=path_text(path)) from None
    name = path_text(path)
    keep = None if keep is None else tuple(keep)

    def blocks():
        lines, first = [], 1
        for n, raw in enumerate(fh, start=1):
            lines.append(raw)
            if len(lines) >= rows:
                yield first, lines, name, keep
                lines, first = [], n + 1
        if lines:
            yield first, lines, name, keep

    with fh:
        if workers <= 1 or size < PARALLEL_MIN_BYTES:
            yield from map(_parse_block, blocks())
            return
        import multiprocessing
        from collections import deque
        # spawn: a fresh interpreter per worker (forking a process that already holds a model's
        # thread pools is not safe)
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            pending = deque()
            for b in blocks():
                pending.append(pool.apply_async(_parse_block, (b,)))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().get()
            while pending:
                yield pending.popleft().get()
