"""The no-render sampler: many random cameras around every pose of a PoseTable, in numpy.

For each pose row, ``settings.cameras_per_pose`` cameras are sampled around the person (seed 001's
"randomise the pose first, then many cameras per pose"); the 17 keypoints are projected exactly, so
every label is geometry, not rendering: keypoints (pixels + visibility), the keypoints in the camera
frame, K, distance and depth of the pelvis, the camera, and the seeds that reproduce it.

Seeding (counter-based): sample (pose row r, camera c) gets ``sample_seed = derive_seeds(seed, r, c)``
(SplitMix64 hashes, core/cameras.py) and all its random numbers come from a CounterRNG keyed by that
seed alone. A sample is therefore reproducible from (settings.seed, pose row, camera index), and
independent of chunking, sharding and of the other rows: ``sample_from_table(table, settings, [r],
seeds=[sample_seed])`` regenerates it (equal to ~1e-15: numpy's vectorised loops may round the
last bit differently for another batch size; the same chunk plan gives bit-identical files). The person stays in the pose-table frame (pelvis above the
origin, facing -Y); the camera orbits it at a random relative yaw, which is the same as turning the
person.

Output on disk (``generate``): ``part-XXXXX.npz`` per chunk of ``chunk_size`` pose rows (chunk c =
rows [c*chunk_size, (c+1)*chunk_size)), each written atomically with a byte-deterministic zip (fixed
timestamps), plus ``manifest.json`` (settings, table fingerprint, chunk plan: identical for every
shard and every resume, so any shard may write it). ``--shard i/N`` takes chunks i, i+N, ...; a
resumed run skips finished parts and produces byte-identical files.
"""
from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cameras import CounterRNG, check_camera_settings, derive_seeds, sample_cameras
from .keypoints import NUM_KEYPOINTS, pelvis_of
from .posetable import PoseTable
from .progress import ProgressBar
from .records import atomic_open, keypoints_from_visibility
from .runfolder import RunFolderError, check_or_write_manifest, parse_shard, shard_key
from .settings import GeneratorSettings

FORMAT = "deepx-keypoint-samples"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PART_PATTERN = "part-{:05d}.npz"
DEFAULT_CHUNK_SIZE = 1024          # pose rows per part (x cameras_per_pose samples)
VISIBLE, MISSING = 2, 0            # COCO visibility codes used here (no occlusion in this path)
CAMERA_FIELDS = ("R", "t", "position", "target_px", "height_m", "hfov_deg", "roll_deg", "pitch_deg", "yaw_deg",
                 "person_yaw_deg", "elevation_deg", "tilt_jitter_deg")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class SamplerError(RunFolderError):
    """A run that cannot go on (bad input, or an output folder holding a different run)."""


@dataclass
class SampleBatch:
    """n = poses x cameras labelled samples (pose-major: the cameras of a pose are adjacent)."""
    keypoints_2d: np.ndarray        # (n, 17, 3) float32: x, y pixels, visibility 2 (in frame) / 0 (outside or behind)
    keypoints_3d_cam: np.ndarray    # (n, 17, 3) float32, metres, OpenCV camera frame
    K: np.ndarray                   # (n, 3, 3) float32
    image_size: np.ndarray          # (2,) int: width, height
    distance_m: np.ndarray          # (n,) camera centre -> pelvis (mid-hip)
    depth_m: np.ndarray             # (n,) pelvis z in the camera frame
    bbox: np.ndarray                # (n, 4) float32 x1, y1, x2, y2 of the visible keypoints (0 if none)
    num_visible: np.ndarray         # (n,) int8
    pose_index: np.ndarray          # (n,) int64 row in the pose table
    camera_index: np.ndarray        # (n,) int32 camera number within the pose
    family: np.ndarray              # (n,) str
    stature_m: np.ndarray           # (n,) float32
    pose_seed: np.ndarray           # (n,) int64
    sample_seed: np.ndarray         # (n,) int64
    camera: dict = field(default_factory=dict)   # CAMERA_FIELDS -> arrays (R (n,3,3), t, position (n,3), ...)
    body: dict = field(default_factory=dict)     # body parameter -> (n,) float32 (from the pose table)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keypoints_2d)

    # ---- arrays -------------------------------------------------------------------------------
    _ROW_FIELDS = ("keypoints_2d", "keypoints_3d_cam", "K", "distance_m", "depth_m", "bbox", "num_visible",
                   "pose_index", "camera_index", "family", "stature_m", "pose_seed", "sample_seed")

    def arrays(self) -> dict:
        """Flat name -> array mapping (what save_npz writes, except meta)."""
        d = {k: getattr(self, k) for k in self._ROW_FIELDS}
        d["image_size"] = np.asarray(self.image_size, np.int64)
        d.update({f"camera__{k}": v for k, v in self.camera.items()})
        d.update({f"body__{k}": v for k, v in self.body.items()})
        return d

    @classmethod
    def from_arrays(cls, d: dict, meta: dict | None = None) -> "SampleBatch":
        return cls(**{k: d[k] for k in cls._ROW_FIELDS}, image_size=np.asarray(d["image_size"], np.int64),
                   camera={k[8:]: v for k, v in d.items() if k.startswith("camera__")},
                   body={k[6:]: v for k, v in d.items() if k.startswith("body__")}, meta=dict(meta or {}))

    def take(self, idx) -> "SampleBatch":
        d = {k: (v if k == "image_size" else v[idx]) for k, v in self.arrays().items()}
        return SampleBatch.from_arrays(d, self.meta)

    @staticmethod
    def concat(batches) -> "SampleBatch":
        batches = list(batches)
        if not batches:
            raise ValueError("SampleBatch.concat: no batches")
        sizes = {tuple(np.asarray(b.image_size).tolist()) for b in batches}
        if len(sizes) != 1:
            raise ValueError(f"SampleBatch.concat: different image sizes {sorted(sizes)}")
        keys = set.intersection(*(set(b.arrays()) for b in batches))
        d = {k: (batches[0].image_size if k == "image_size" else np.concatenate([b.arrays()[k] for b in batches]))
             for k in sorted(keys)}
        return SampleBatch.from_arrays(d, batches[0].meta)

    # ---- files --------------------------------------------------------------------------------
    def save_npz(self, path, compress: bool = False) -> None:
        """Atomic, byte-deterministic .npz (no pickles): equal batches give equal files."""
        arrays = dict(self.arrays())
        arrays["meta"] = np.array(json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, **self.meta},
                                             sort_keys=True, default=_json_default))
        write_npz_deterministic(path, arrays, compress=compress)

    @classmethod
    def load_npz(cls, path) -> "SampleBatch":
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise SamplerError(f"{path}: not a readable sample file ({e})") from None
        meta = json.loads(str(d.pop("meta", np.array("{}"))))
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise SamplerError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} file (meta {meta.get('format')!r} "
                               f"v{meta.get('format_version')!r})")
        missing = [k for k in cls._ROW_FIELDS + ("image_size",) if k not in d]
        if missing:
            raise SamplerError(f"{path}: missing arrays {missing}")
        return cls.from_arrays(d, meta)

    # ---- records ------------------------------------------------------------------------------
    def record_ids(self) -> list[str]:
        return [f"p{p:06d}-c{c:03d}" for p, c in zip(self.pose_index.tolist(), self.camera_index.tolist())]

    def to_records(self, table: PoseTable | None = None, source: str = "deepx-sampler") -> list[dict]:
        """PersonRecord-compatible dicts (core/records.py): keypoints [x, y, conf] with conf 1 for a
        keypoint in the frame and [0, 0, 0] otherwise; height_m = stature; reference "pelvis"; extra
        fields family, visibility, sample_seed, pose_seed, pose_index, camera_index, keypoints_3d_cam,
        bbox_xyxy, camera (R, t, position and the sampled angles). With ``table``, also recipe and body."""
        n = len(self)
        k2 = self.keypoints_2d.astype(np.float64)
        kp, vis = keypoints_from_visibility(np.concatenate([np.round(k2[..., :2], 3), k2[..., 2:3]], -1))
        kp_l = kp.tolist()
        vis_l = vis.tolist()
        k3 = np.round(self.keypoints_3d_cam.astype(np.float64), 4).tolist()
        K = np.round(self.K.astype(np.float64), 4).tolist()
        bbox = np.round(self.bbox.astype(np.float64), 3).tolist()
        dist = np.round(self.distance_m.astype(np.float64), 5).tolist()
        depth = np.round(self.depth_m.astype(np.float64), 5).tolist()
        stat = np.round(self.stature_m.astype(np.float64), 4).tolist()
        cam = {k: np.round(np.asarray(v, np.float64), 6 if k in ("R",) else 4).tolist() for k, v in self.camera.items()}
        body = {k: np.round(np.asarray(v, np.float64), 5).tolist() for k, v in self.body.items()}
        fam, ps, ss = self.family.tolist(), self.pose_seed.tolist(), self.sample_seed.tolist()
        pi, ci = self.pose_index.tolist(), self.camera_index.tolist()
        recipe = table.recipe.take(self.pose_index) if table is not None else None
        size = [int(v) for v in np.asarray(self.image_size)]
        ids = self.record_ids()
        out = []
        for i in range(n):
            r = {"id": ids[i], "source": source, "image_size": size, "K": K[i], "keypoints": kp_l[i],
                 "distance_m": dist[i], "depth_m": depth[i], "height_m": stat[i], "reference": "pelvis",
                 "family": fam[i], "visibility": vis_l[i], "sample_seed": ss[i], "pose_seed": ps[i],
                 "pose_index": pi[i], "camera_index": ci[i], "keypoints_3d_cam": k3[i], "bbox_xyxy": bbox[i],
                 "camera": {k: v[i] for k, v in cam.items()}}
            if body:
                r["body"] = {k: v[i] for k, v in body.items()}
            if recipe is not None:
                r["recipe"] = recipe[i]
            out.append(r)
        return out


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_npz_deterministic(path, arrays: dict, compress: bool = False) -> None:
    """np.savez-compatible file whose bytes depend only on the arrays (np.savez stamps the current
    time into the zip); written to a temp file in the same folder and renamed (atomic)."""
    with atomic_open(path, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as zf:
            for name in sorted(arrays):
                a = np.asarray(arrays[name])
                if a.dtype.hasobject:
                    raise TypeError(f"{path}: array {name!r} has dtype object (pickles are not written)")
                buf = io.BytesIO()
                np.lib.format.write_array(buf, a, allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
                info.compress_type = zf.compression
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue())


# ---- sampling ------------------------------------------------------------------------------------

def sample_from_table(table: PoseTable, settings: GeneratorSettings, pose_idx, rng_or_seeds=None) -> SampleBatch:
    """settings.cameras_per_pose cameras around each pose row in ``pose_idx``; n = len(pose_idx) x cameras.

    ``rng_or_seeds``: None -> counter-based seeds from ``settings.seed`` (the reproducible default);
    an int -> the same with that global seed; an integer array of n per-sample seeds (e.g. a
    ``sample_seed`` column, to regenerate samples); a ``np.random.Generator`` -> per-sample seeds
    drawn from it.
    """
    pose_idx = np.atleast_1d(np.asarray(pose_idx, dtype=np.int64))
    if pose_idx.ndim != 1:
        raise ValueError(f"pose_idx must be 1-D, got shape {pose_idx.shape}")
    if len(pose_idx) and (pose_idx.min() < 0 or pose_idx.max() >= len(table)):
        raise SamplerError(f"pose_idx out of range for a table of {len(table)} rows")
    C = int(settings.cameras_per_pose)
    if C < 1:
        raise SamplerError(f"cameras_per_pose must be >= 1, got {C}")
    n = len(pose_idx) * C
    rows = np.repeat(pose_idx, C)
    cams = np.tile(np.arange(C, dtype=np.int32), len(pose_idx))
    if rng_or_seeds is None or isinstance(rng_or_seeds, (int, np.integer)):
        seed = settings.seed if rng_or_seeds is None else int(rng_or_seeds)
        seeds = derive_seeds(seed, rows, cams)
    elif isinstance(rng_or_seeds, np.random.Generator):
        seeds = rng_or_seeds.integers(0, 2 ** 63 - 1, size=n, dtype=np.int64)
    else:
        seeds = np.asarray(rng_or_seeds)
        if seeds.dtype.kind not in "iu" or seeds.size != n:
            raise SamplerError(f"per-sample seeds must be {n} integers (poses x cameras), got {seeds.dtype} {seeds.shape}")
        seeds = seeds.reshape(n).astype(np.int64)

    kp_world = np.asarray(table.keypoints, np.float64)[pose_idx]                 # (p, 17, 3)
    pelvis = np.repeat(pelvis_of(kp_world), C, axis=0)                          # (n, 3)
    cb = sample_cameras(CounterRNG(seeds), settings.camera, pelvis, n)
    W, H = cb.image_size

    # camera-frame keypoints: x_cam = R x + t, with the pose shared by its C cameras
    R = cb.R.reshape(len(pose_idx), C, 3, 3)
    pc = np.matmul(R, np.swapaxes(kp_world, 1, 2)[:, None])                     # (p, C, 3, 17)
    pc = np.swapaxes(pc, -1, -2).reshape(n, NUM_KEYPOINTS, 3) + cb.t[:, None, :]
    z = pc[..., 2]
    front = z > 1e-6
    zi = 1.0 / np.where(front, z, 1.0)
    fx, cx, cy = cb.K[:, 0, 0, None], cb.K[:, 0, 2, None], cb.K[:, 1, 2, None]
    u = np.where(front, fx * pc[..., 0] * zi + cx, 0.0)
    v = np.where(front, fx * pc[..., 1] * zi + cy, 0.0)
    inside = front & (u >= 0) & (u <= W) & (v >= 0) & (v <= H)
    vis = np.where(inside, VISIBLE, MISSING)
    kp2 = np.stack([u, v, vis], -1).astype(np.float32)
    nvis = inside.sum(1)
    big = np.inf
    bbox = np.stack([np.where(inside, u, big).min(1), np.where(inside, v, big).min(1),
                     np.where(inside, u, -big).max(1), np.where(inside, v, -big).max(1)], -1)
    bbox[nvis == 0] = 0.0

    pel_cam = pelvis_of(pc)
    stature = np.asarray(table.stature_m, np.float32)[rows]
    camera = {k: np.asarray(v, np.float32) for k, v in cb.params().items() if k != "distance_m"}
    body = {k: np.asarray(v, np.float32)[rows] for k, v in table.body.items()}
    return SampleBatch(keypoints_2d=kp2, keypoints_3d_cam=pc.astype(np.float32), K=cb.K.astype(np.float32),
                       image_size=np.array([W, H], np.int64),
                       distance_m=np.linalg.norm(pel_cam, axis=-1).astype(np.float32),
                       depth_m=pel_cam[:, 2].astype(np.float32), bbox=bbox.astype(np.float32),
                       num_visible=nvis.astype(np.int8), pose_index=rows, camera_index=cams,
                       family=np.asarray(table.family, dtype=str)[rows], stature_m=stature,
                       pose_seed=np.asarray(table.pose_seed, np.int64)[rows], sample_seed=seeds,
                       camera=camera, body=body, meta={"seed": int(settings.seed), "cameras_per_pose": C})


# ---- sharded, resumable generation ---------------------------------------------------------------

def table_fingerprint(table: PoseTable) -> str:
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(table.keypoints, np.float32), np.ascontiguousarray(table.stature_m, np.float32),
              np.ascontiguousarray(table.pose_seed, np.int64)):
        h.update(a.tobytes())
    h.update("\n".join(np.asarray(table.family, dtype=str).tolist()).encode())
    return h.hexdigest()


def chunk_plan(n_rows: int, chunk_size: int) -> list[tuple[int, int]]:
    """[(start, stop)] pose rows of every chunk."""
    return [(s, min(s + chunk_size, n_rows)) for s in range(0, n_rows, chunk_size)]


def shard_chunks(n_chunks: int, shard) -> list[int]:
    i, N = parse_shard(shard)
    return list(range(i, n_chunks, N))


def make_manifest(table: PoseTable, settings: GeneratorSettings, chunk_size: int) -> dict:
    plan = chunk_plan(len(table), chunk_size)
    C = int(settings.cameras_per_pose)
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "settings": settings.to_dict(),
            "table": {"rows": len(table), "sha256": table_fingerprint(table)},
            "chunk_size": chunk_size, "cameras_per_pose": C, "n_chunks": len(plan), "n_samples": len(table) * C,
            "image_size": [int(v) for v in settings.camera.image_size],
            "seeding": "counter-based: sample_seed = derive_seeds(seed, pose_row, camera_index) (SplitMix64); "
                       "every random number of a sample comes from CounterRNG(sample_seed)",
            "chunks": [{"file": PART_PATTERN.format(c), "rows": [a, b], "samples": (b - a) * C}
                       for c, (a, b) in enumerate(plan)]}


def _manifest_text(m: dict) -> str:
    return json.dumps(m, indent=1, sort_keys=True, default=_json_default) + "\n"


def generate(table: PoseTable, settings: GeneratorSettings, out_dir, shard=(0, 1), chunk_size: int = DEFAULT_CHUNK_SIZE,
             *, progress: bool = True, max_chunks: int | None = None, log=None) -> dict:
    """Write this shard's chunks of the whole table as part-XXXXX.npz under ``out_dir``.

    Every row of ``table`` is used (settings.count is the pose count of the table builder and the
    image count of the render path); settings.cameras_per_pose, settings.seed and settings.camera
    define the samples.

    Resumable: finished parts are skipped, leftover temp files of this shard's chunks are removed,
    and the result is byte-identical to an uninterrupted run. ``out_dir`` holding a run with other
    settings, table or chunk size is an error. ``max_chunks`` stops after writing that many parts
    (for tests and time-boxed jobs). Returns a summary dict.
    """
    from .outputs import folder_lock

    with folder_lock(out_dir, "deepx sample", shard_key(shard)):   # two runs into one folder would mix their parts
        return _generate(table, settings, out_dir, shard, chunk_size, progress, max_chunks, log)


def _part_matches(path: Path, run: str, chunk: int) -> str | None:
    """None when the finished part at ``path`` belongs to this run and chunk, else what differs."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        return f"unreadable ({e})"
    if meta.get("run") != run or meta.get("chunk") != chunk:
        return f"written by another run (run {str(meta.get('run'))[:12]}, chunk {meta.get('chunk')})"
    return None


def _generate(table, settings, out_dir, shard, chunk_size, progress, max_chunks, log) -> dict:
    log = log or sys.stderr
    if len(table) == 0:
        raise SamplerError("the pose table is empty")
    if chunk_size < 1:
        raise SamplerError(f"chunk_size must be >= 1, got {chunk_size}")
    check_camera_settings(settings.camera)
    i, N = parse_shard(shard)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = make_manifest(table, settings, chunk_size)
    text = _manifest_text(manifest)
    check_or_write_manifest(out / MANIFEST, text, "use a new --out folder or the same settings, table and chunk size",
                            SamplerError)

    mine = shard_chunks(manifest["n_chunks"], (i, N))
    for c in mine:   # temp files a killed run of this shard left behind
        for stale in glob.glob(str(out / f".{PART_PATTERN.format(c)}.*.tmp")):
            try:
                os.unlink(stale)
            except OSError:
                pass
    plan = manifest["chunks"]
    run = hashlib.sha256(text.encode()).hexdigest()   # every part names the manifest it belongs to
    todo = []
    for c in mine:
        part = out / plan[c]["file"]
        if not part.exists():
            todo.append(c)
        elif (why := _part_matches(part, run, c)) is not None:
            raise SamplerError(f"{part}: {why}; this folder mixes runs: use a new --out folder")
    skipped = len(mine) - len(todo)
    t0 = time.perf_counter()
    written = samples = 0
    bar = ProgressBar(len(mine), "chunks", log, every_s=0.0, enabled=progress and len(mine) > 0, timing=False)
    for c in todo:
        if max_chunks is not None and written >= max_chunks:
            break
        a, b = plan[c]["rows"]
        batch = sample_from_table(table, settings, np.arange(a, b))
        batch.meta.update({"chunk": c, "rows": [a, b], "run": run})
        batch.save_npz(out / plan[c]["file"])
        written += 1
        samples += len(batch)
        secs = time.perf_counter() - t0
        bar.update(written + skipped, f"{samples:,} samples" + (f" {samples / secs * 60 / 1e6:.2f} M/min" if secs > 0 else ""))
    dt = time.perf_counter() - t0
    bar.close()
    done = sum((out / plan[c]["file"]).exists() for c in mine)
    summary = {"out_dir": str(out), "shard": [i, N], "chunks_in_shard": len(mine), "chunks_written": written,
               "chunks_skipped": skipped, "chunks_done": done, "complete": done == len(mine),
               "samples_written": samples, "seconds": round(dt, 3),
               "samples_per_min": round(samples / dt * 60) if dt > 0 else None}
    if progress:
        rate = f", {samples / dt * 60 / 1e6:.2f} M samples/min" if dt > 0 and samples else ""
        print(f"deepx sample: shard {i}/{N}: {written} chunks written, {skipped} already done, "
              f"{done}/{len(mine)} complete; {samples:,} samples in {dt:.1f} s{rate} -> {out}", file=log)
    return summary


# ---- reading a run back --------------------------------------------------------------------------

def read_manifest(out_dir) -> dict:
    p = Path(out_dir) / MANIFEST
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SamplerError(f"{p}: no manifest (not a sampler output folder)") from None
    except json.JSONDecodeError as e:
        raise SamplerError(f"{p}: not valid JSON ({e.msg})") from None


def iter_parts(out_dir, chunks=None, require_complete: bool = False):
    """Yield (chunk id, SampleBatch) for every finished part (or the given chunk ids), in order."""
    m = read_manifest(out_dir)
    ids = range(m["n_chunks"]) if chunks is None else chunks
    for c in ids:
        p = Path(out_dir) / m["chunks"][c]["file"]
        if not p.exists():
            if require_complete:
                raise SamplerError(f"{p}: missing (run not finished: rerun deepx sample to resume)")
            continue
        yield c, SampleBatch.load_npz(p)


def load_samples(out_dir, require_complete: bool = True) -> SampleBatch:
    """All parts of a run as one batch."""
    return SampleBatch.concat(b for _, b in iter_parts(out_dir, require_complete=require_complete))


def write_records_jsonl(path, batches, table: PoseTable | None = None) -> int:
    """Stream the records of ``batches`` into a JSONL file, atomically (temp file + rename); unlike
    records.write_jsonl it never holds the whole file in memory. Returns the row count."""
    count = 0
    with atomic_open(path, "w") as fh:
        for b in batches:
            for r in b.to_records(table):
                fh.write(json.dumps(r, allow_nan=False) + "\n")
                count += 1
    return count
