"""Batch rendering: deterministic, sharded, resumable datasets of rendered people (bpy).

    summary = run_batch(settings, "runs/render/demo", shard=(0, 1))

Sample ``index`` (0 <= index < settings.count) is camera ``index % cameras_per_pose`` of pose
``index // cameras_per_pose`` ("pose first, then many cameras per pose": consecutive samples share
the pose, so only the camera, light and occluders change and Cycles keeps its BVH). Seeds are
the no-render path's: ``pose_seed = core.poses.pose_seed_for(seed, pose_index)`` (the pose-table row
with that index: same body and pose) and ``sample_seed = core.cameras.derive_seeds(seed, pose_index,
camera_index)`` (the sampler's camera for that row); a sample depends on nothing else, so shards and
resumed runs give the same dataset as one uninterrupted run.

Sharding: shard i of N renders the indices i, i+N, i+2N, ... into the same folder (run the shards
in parallel processes or on several machines sharing it). Resuming: a sample is done when its label
``labels/<id>.json`` exists; images (and depth/mask) are written under temporary names and moved
into place first, the label last (all with os.replace), so a killed run leaves no half sample.
Stray temporary files of this shard's indices are removed when a run starts.

Output folder:
    settings.json            the generator settings (a rerun with other settings is refused)
    images/<id>.png          renders; images/<id>-<w>x<h>.png the downscaled copies
    labels/<id>.json         one label per sample (deepx_addon.blender.render: K, keypoints, ...)
    depth/<id>.exr, masks/<id>.png   optional passes
    labels.jsonl             every image as a core/records.py row (what `deepx evaluate` reads)
    coco_keypoints.json      COCO person-keypoints annotations (core/datasets.py)
    yolo/                    optional YOLO-pose export (core/datasets.py)
    summaries/shard-<i>of<N>.json   each shard's counts, time, images/s (its last run)
    summary.json             the last run's numbers plus "shards": every shard's summary

The modal operator drives ``BatchJob(settings, out_dir, shard).step()`` (one sample per call);
``run_batch`` loops over it. Headless:

    deepx generate --out DIR --count N [--engine CYCLES] [--resolution 640] [--samples 4]
                   [--shard i/N] [--seed S] [--blend scene.blend]

Inside a real Blender (4.2+) with the extension installed, as a Blender command (settings from the
.blend's DeepX panel, then the options; progress lines; exit status 0 only when every sample is done):

    blender --command deepx generate --blend scene.blend --out DIR [--count 100 ...]

or in the classic form, the .blend opened by Blender (rendered in a clean empty file unless
--use-scene); ``main()`` raises SystemExit with a non-zero status on any error when Blender runs in
the background, and --python-exit-code 1 covers errors before it runs:

    blender -b scene.blend --python-exit-code 1 --python-expr "import sys; from bl_ext.user_default.deepx.blender.batch import main; sys.exit(main())" -- --out DIR --count 100

(from a source checkout instead of the installed extension: "import sys; sys.path.insert(0,
'/path/to/repo'); from deepx_addon.blender.batch import main; sys.exit(main())")
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.records import atomic_write_text
from ..core.settings import GeneratorSettings

FORMAT = "deepx-render"
FORMAT_VERSION = 1
SETTINGS_FILE, RECORDS_FILE, COCO_FILE, SUMMARY_FILE = "settings.json", "labels.jsonl", "coco_keypoints.json", "summary.json"
LABELS_DIR, IMAGES_DIR, SHARD_SUMMARIES_DIR = "labels", "images", "summaries"
SUBDIRS = ("images", "labels", "depth", "masks")
YOLO_VAL_FRACTION = 0.1


class BatchError(ValueError):
    """A run that cannot go on (bad shard, an output folder holding a different run)."""


# ------------------------------------------------------------------------------------------------
# the plan

@dataclass(frozen=True)
class SamplePlan:
    index: int
    pose_index: int
    camera_index: int
    pose_seed: int
    sample_seed: int

    @property
    def id(self) -> str:
        return sample_id(self.pose_index, self.camera_index)


def sample_id(pose_index: int, camera_index: int) -> str:
    """Same ids as the no-render sampler's records."""
    return f"p{pose_index:06d}-c{camera_index:03d}"


def plan(settings: GeneratorSettings, index: int) -> SamplePlan:
    from ..core.cameras import derive_seeds
    from ..core.poses import PoseError, pose_seed_for
    C = int(settings.cameras_per_pose)
    if C < 1:
        raise BatchError(f"cameras_per_pose must be >= 1, got {C}")
    p, c = divmod(int(index), C)
    try:
        pose_seed = pose_seed_for(int(settings.seed), p)
    except PoseError as e:
        raise BatchError(str(e)) from None
    sample_seed = int(derive_seeds(int(settings.seed), p, c))
    return SamplePlan(int(index), p, c, pose_seed, sample_seed)


def parse_shard(shard) -> tuple[int, int]:
    """'i/N' or (i, N) -> (i, N) with 0 <= i < N."""
    if isinstance(shard, str):
        try:
            i, n = (int(v) for v in shard.split("/"))
        except ValueError:
            raise BatchError(f"shard must look like i/N (e.g. 0/4), got {shard!r}") from None
    else:
        i, n = (int(v) for v in shard)
    if n < 1 or not 0 <= i < n:
        raise BatchError(f"shard {i}/{n}: need N >= 1 and 0 <= i < N")
    return i, n


def shard_indices(count: int, shard) -> list[int]:
    i, n = parse_shard(shard)
    return list(range(i, int(count), n))


def _id_to_index(sid: str, cameras_per_pose: int) -> int | None:
    """'p000012-c003' -> 12 * C + 3 (None if it is not such an id)."""
    try:
        p, c = sid.split("-")
        if p[0] != "p" or c[0] != "c":
            return None
        return int(p[1:]) * cameras_per_pose + int(c[1:])
    except (ValueError, IndexError):
        return None


# ------------------------------------------------------------------------------------------------
# the output folder

def _settings_doc(settings: GeneratorSettings) -> dict:
    return {"format": FORMAT, "version": FORMAT_VERSION, "settings": settings.to_dict()}


def _comparable(d: dict) -> dict:
    d = json.loads(json.dumps(d))          # tuples -> lists
    d.get("settings", {}).pop("count", None)   # a longer/shorter run of the same generator is fine
    return d


def _diff(a, b, prefix="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def check_or_write_settings(out_dir: Path, settings: GeneratorSettings) -> None:
    """Write settings.json, or check that the folder's run used the same settings (count aside)."""
    path = out_dir / SETTINGS_FILE
    doc = _settings_doc(settings)
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise BatchError(f"{path}: unreadable ({e}); move it away or use another --out") from None
        diff = _diff(_comparable(old), _comparable(doc))
        if diff:
            raise BatchError(f"{out_dir} holds a run with other settings (differs in: {', '.join(diff[:8])}); "
                             "use another output folder, or the same settings to resume")
        return
    atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _tmp_tag(shard) -> str:
    i, n = parse_shard(shard)
    return f".tmp-shard{i}of{n}"


def remove_stray_temps(out_dir: Path, settings: GeneratorSettings, shard) -> int:
    """Delete temporary files ('.<id>...tmp...') of this shard's indices left by a killed run."""
    i, n = parse_shard(shard)
    C = int(settings.cameras_per_pose)
    removed = 0
    for sub in SUBDIRS:
        d = out_dir / sub
        if not d.is_dir():
            continue
        for p in d.iterdir():
            name = p.name
            if not (name.startswith(".") and ".tmp" in name):
                continue
            sid = name[1:].split(".")[0].split("_")[0]
            sid = "-".join(sid.split("-")[:2])
            idx = _id_to_index(sid, C)
            if idx is not None and idx % n == i:
                try:
                    p.unlink()
                    removed += 1
                except OSError:
                    pass
    return removed


def label_path(out_dir, sid: str) -> Path:
    return Path(out_dir) / LABELS_DIR / f"{sid}.json"


def load_labels(out_dir, count: int | None = None) -> list[dict]:
    """All labels of a folder (all shards), in index order; only indices < count when given."""
    d = Path(out_dir) / LABELS_DIR
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        if p.name.startswith("."):
            continue
        try:
            lab = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise BatchError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
        if count is None or int(lab.get("index", 0)) < count:
            out.append(lab)
    out.sort(key=lambda lab: int(lab.get("index", 0)))
    return out


# ------------------------------------------------------------------------------------------------
# label -> records / datasets

def label_views(label: dict) -> list[dict]:
    """The images of one sample as flat dicts: the render, then each downscaled copy."""
    base = {k: label[k] for k in ("id", "image", "image_size", "K", "keypoints_2d", "bbox")}
    base.update(scale=1.0, sx=1.0, sy=1.0)
    out = [base]
    for v in label.get("views", []):
        w, h = v["image_size"]
        out.append({**v, "id": f"{label['id']}-{w}x{h}"})
    return out


def _kp_extent(kp) -> list | None:
    kp = np.asarray(kp, float)
    on = kp[:, 2] > 0
    if not on.any():
        return None
    x, y = kp[on, 0], kp[on, 1]
    return [float(x.min()), float(y.min()), float(x.max()), float(y.max())]


def label_to_records(label: dict) -> list[dict]:
    """core/records.py rows (one per image) with the no-render sampler's extra fields.

    keypoints: [x, y, 1] for a keypoint in the frame (visible or hidden, see ``visibility``),
    [0, 0, 0] outside; reference "pelvis"; height_m = stature; bbox_xyxy: the projected body mesh
    clipped to the image (the no-render sampler, having no mesh, uses the keypoints' extent)."""
    rows = []
    for v in label_views(label):
        kp = np.asarray(v["keypoints_2d"], float)
        vis = kp[:, 2].astype(int)
        rk = np.where((vis > 0)[:, None], np.c_[kp[:, :2], np.ones(len(kp))], 0.0)
        bb = v.get("bbox")
        rows.append({
            "id": v["id"], "source": label.get("source", FORMAT), "image": v["image"],
            "image_size": v["image_size"], "K": v["K"], "keypoints": rk.tolist(),
            "distance_m": label["distance_m"], "depth_m": label["depth_m"], "height_m": label.get("height_m"),
            "reference": "pelvis", "family": label.get("pose", {}).get("family"), "visibility": vis.tolist(),
            "sample_seed": label["sample_seed"], "pose_seed": label["pose_seed"],
            "pose_index": label.get("pose_index"), "camera_index": label.get("camera_index"),
            "scale": v["scale"], "keypoints_3d_cam": label["keypoints_3d_camera"],
            "bbox_xyxy": _kp_extent(kp) if bb is None else [bb[0], bb[1], bb[0] + bb[2], bb[1] + bb[3]],
            "camera": {k: label["camera"][k] for k in ("R", "t", "position") if k in label["camera"]},
            "body": label.get("body"), "recipe": label.get("pose", {}).get("recipe"),
            **({k: label[k] for k in ("depth_image", "mask_image") if label.get(k)} if v["scale"] == 1.0 else {}),
        })
    return rows


def finalize(out_dir, settings: GeneratorSettings | None = None, yolo: bool = False) -> dict:
    """Write labels.jsonl, coco_keypoints.json (and yolo/) from every label present (all shards).

    Safe to call from any shard at any time (atomic writes; the last call wins); the files cover
    the labels present then. Returns {"samples", "images", "missing", "files"}."""
    out_dir = Path(out_dir)
    if settings is None:
        settings = GeneratorSettings.from_dict(json.loads((out_dir / SETTINGS_FILE).read_text())["settings"])
    labels = load_labels(out_dir, settings.count)
    rows = [r for lab in labels for r in label_to_records(lab)]
    from ..core.records import write_jsonl
    write_jsonl(out_dir / RECORDS_FILE, rows)
    files = {"records": RECORDS_FILE}
    items = [(out_dir / r["image"], r) for r in rows]
    files.update(_write_datasets(out_dir, items, yolo))
    return {"samples": len(labels), "images": len(rows), "missing": int(settings.count) - len(labels), "files": files}


def _pose_split(pose_index) -> str:
    """'val' for a stable YOLO_VAL_FRACTION of the poses (hash of the pose index), else 'train'."""
    h = int.from_bytes(hashlib.sha1(f"pose{pose_index}".encode()).digest()[:8], "big") / 2.0 ** 64
    return "val" if h < YOLO_VAL_FRACTION else "train"


def _write_datasets(out_dir: Path, items, yolo: bool) -> dict:
    """COCO keypoints JSON and the optional YOLO-pose export (core/datasets.py). The YOLO split is
    by pose (a stable hash of the pose id), so no pose is in both train and val."""
    from ..core import datasets
    files = {}
    datasets.write_coco(out_dir / COCO_FILE, items, image_root=out_dir, info={"source": FORMAT})
    files["coco"] = COCO_FILE
    if yolo:
        split = {"train": [], "val": []}
        for path, sample in items:
            split[_pose_split(sample.get("pose_index"))].append((path, sample))
        datasets.write_yolo_pose(out_dir / "yolo", split, mode="hardlink")
        files["yolo"] = "yolo"
    return files


# ------------------------------------------------------------------------------------------------
# the job

def preflight(settings: GeneratorSettings, presets: dict | None = None):
    """Check every setting before the first render (BatchError saying which): the settings
    themselves, what this Blender can render, the limit preset, and that every pose preset named
    in preset_weights exists. presets: name -> PosePreset (default: shipped + the user's own, as in
    the panel). Returns (presets, limits) for the render context."""
    from ..core.limits import JointLimits, LimitsError
    from ..core.poses import PoseError
    from ..core.settings import SettingsError
    from .render import check_render_settings
    try:
        settings.validate()
        check_render_settings(settings)
        from .preset_menu import limits_file, pose_presets
        if presets is None:
            presets = pose_presets()
        limits = JointLimits.load(limits_file(settings.pose.limits_preset))
    except (SettingsError, LimitsError, PoseError, OSError) as e:
        raise BatchError(str(e)) from None
    unknown = sorted(set(settings.pose.preset_weights) - set(presets))
    if unknown:
        raise BatchError(f"PoseSettings.preset_weights names pose preset(s) {unknown} that exist neither in the "
                         f"shipped nor in your user presets; known: {', '.join(sorted(presets))}")
    return presets, limits


@dataclass
class Progress:
    done: int          # samples of this shard that have a label (rendered now or before)
    total: int         # samples in this shard
    rendered: int      # rendered by this job
    images: int        # image files written by this job (renders + downscaled copies)
    last_id: str | None
    seconds: float
    finished: bool

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def samples_per_s(self) -> float:
        return self.rendered / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        return (f"{self.done}/{self.total} samples ({self.rendered} rendered now, "
                f"{self.samples_per_s:.2f}/s){' - done' if self.finished else ''}")


class BatchJob:
    """One shard of a run, one sample per step() (for modal operators and run_batch)."""

    def __init__(self, settings: GeneratorSettings, out_dir, shard=(0, 1), *, scene=None,
                 threads: int | None = None, yolo: bool = False, presets: dict | None = None):
        self.settings = settings
        self.out_dir = Path(out_dir).resolve()
        self.shard = parse_shard(shard)
        self.scene, self.threads, self.yolo = scene, threads, yolo
        self.presets, self.limits = preflight(settings, presets)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        check_or_write_settings(self.out_dir, settings)
        self.removed_temps = remove_stray_temps(self.out_dir, settings, self.shard)
        self.indices = shard_indices(settings.count, self.shard)
        self.plans = [plan(settings, i) for i in self.indices]
        self.todo = [p for p in self.plans if not label_path(self.out_dir, p.id).exists()]
        self.skipped = len(self.plans) - len(self.todo)
        self._pos = 0
        self.rendered = 0
        self.images = 0
        self.render_seconds = 0.0
        self.t0 = time.perf_counter()
        self.ctx = None
        self.last_id = None
        self.summary = None
        self.tmp_tag = _tmp_tag(self.shard)

    @property
    def finished(self) -> bool:
        return self._pos >= len(self.todo)

    def progress(self) -> Progress:
        return Progress(self.skipped + self._pos, len(self.plans), self.rendered, self.images, self.last_id,
                        time.perf_counter() - self.t0, self.finished)

    def _context(self):
        if self.ctx is None:
            from .render import RenderContext
            self.ctx = RenderContext(self.settings, self.out_dir, self.scene, threads=self.threads,
                                     presets=self.presets, limits=self.limits)
        return self.ctx

    def render_one(self, p: SamplePlan) -> dict:
        from .render import render_sample
        t = time.perf_counter()
        label = render_sample(self._context(), p.sample_seed, pose_seed=p.pose_seed, sample_id=p.id,
                              tmp_tag=self.tmp_tag)
        self.render_seconds += time.perf_counter() - t
        label = {"id": label["id"], "index": p.index, "pose_index": p.pose_index, "camera_index": p.camera_index,
                 **{k: v for k, v in label.items() if k != "id"}}
        atomic_write_text(label_path(self.out_dir, p.id), json.dumps(label, allow_nan=False) + "\n")
        return label

    def step(self) -> Progress:
        """Render the next sample of this shard (no-op once finished) and return the progress."""
        if not self.finished:
            p = self.todo[self._pos]
            label = self.render_one(p)
            self._pos += 1
            self.rendered += 1
            self.images += 1 + len(label.get("views", []))
            self.last_id = p.id
        return self.progress()

    def finalize(self) -> dict:
        if self.ctx is not None:
            self.ctx.close()
        fin = finalize(self.out_dir, self.settings, self.yolo)
        pr = self.progress()
        secs = pr.seconds
        self.summary = {
            "out_dir": str(self.out_dir), "shard": f"{self.shard[0]}/{self.shard[1]}", "count": int(self.settings.count),
            "shard_samples": pr.total, "done_before": self.skipped, "rendered": self.rendered, "images": self.images,
            "stray_temps_removed": self.removed_temps, "finished": pr.finished, "seconds": round(secs, 3),
            "render_seconds": round(self.render_seconds, 3),
            "samples_per_s": round(self.rendered / secs, 4) if secs > 0 else 0.0,
            "images_per_s": round(self.images / secs, 4) if secs > 0 else 0.0,
            "engine": self.settings.render.engine, "resolution": list(self.settings.render.resolution),
            "samples": int(self.settings.render.samples), "dataset": fin,
        }
        # one file per shard (shards run at once must not overwrite each other's numbers); summary.json
        # is this run's numbers plus every shard's, read back from those files
        i, n = self.shard
        shard_file = self.out_dir / SHARD_SUMMARIES_DIR / f"shard-{i}of{n}.json"
        shard_file.parent.mkdir(exist_ok=True)
        atomic_write_text(shard_file, json.dumps(self.summary, indent=1) + "\n")
        shards = {}
        for f in sorted(shard_file.parent.glob("shard-*.json")):
            try:
                shards[f.stem[len("shard-"):].replace("of", "/")] = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
        total = {"shards": shards, "rendered_all_shards": sum(int(v.get("rendered", 0)) for v in shards.values())}
        atomic_write_text(self.out_dir / SUMMARY_FILE, json.dumps({**self.summary, **total}, indent=1) + "\n")
        return self.summary


def run_batch(settings: GeneratorSettings, out_dir, shard=(0, 1), progress=None, should_stop=None, *,
              scene=None, threads: int | None = None, yolo: bool = False) -> dict:
    """Render this shard's samples that are not done yet, then finalise. Returns the summary.

    progress(Progress) is called after every sample; should_stop() -> True stops after the current
    sample (the run can be resumed later; the summary then says finished: false)."""
    job = BatchJob(settings, out_dir, shard, scene=scene, threads=threads, yolo=yolo)
    while not job.finished:
        if should_stop is not None and should_stop():
            break
        pr = job.step()
        if progress is not None:
            progress(pr)
    return job.finalize()


# ------------------------------------------------------------------------------------------------
# blender -b scene.blend --python-expr "...; main()" -- --out DIR ...

def main(argv=None) -> int:
    """Batch entry point inside a Blender process: settings from --settings FILE, else from the open
    file's Scene.deepx (when the DeepX properties are registered), overridden by the other arguments
    (after ``--`` on Blender's command line); rendered in a clean empty file unless --use-scene.
    Returns 0 on success. On an error, in a background Blender (``-b``), it raises SystemExit with
    status 2 so that the shell sees the failure even without --python-exit-code; elsewhere (the
    Python console) it returns 2."""
    import bpy

    code = _main(argv)
    if code and bpy.app.background:
        raise SystemExit(code)
    return code


def _main(argv=None, prog="blender -b FILE.blend --python-expr '...main()' --", blend=None) -> int:
    import argparse

    import bpy

    from ..ml import cmd_generate
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog=prog)
    cmd_generate.add_arguments(p, with_blend=blend is not None)
    try:
        args = p.parse_args(argv)
    except SystemExit as e:             # argparse printed the usage and the error
        return int(e.code or 0)
    base = None
    try:
        if getattr(args, "blend", None):
            from .props import settings_from_blend
            if not Path(args.blend).is_file():
                raise ValueError(f"--blend file not found: {args.blend}")
            base = settings_from_blend(args.blend, keep_scene=args.use_scene)
        elif hasattr(bpy.context.scene, "deepx") and not args.settings:
            from .props import to_settings
            base = to_settings(bpy.context.scene)
        settings = cmd_generate.settings_from_args(args, base)
        if not args.use_scene:          # settings read: render in a clean, empty file
            bpy.ops.wm.read_homefile(use_empty=True)
        scene = bpy.context.scene
        print(f"deepx generate: {settings.count} samples, {settings.render.engine} "
              f"{settings.render.resolution[0]}x{settings.render.resolution[1]}, shard {args.shard} -> {args.out}",
              flush=True)
        summary = run_batch(settings, args.out, args.shard, progress=None if args.quiet else cmd_generate.printer(),
                            scene=scene, threads=args.threads, yolo=args.yolo)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"deepx generate: error: {e}", file=sys.stderr, flush=True)
        return 2
    cmd_generate.print_summary(summary)
    if not summary.get("finished", True):
        return 3
    return 0


def cli_command(argv) -> int:
    """`blender --command deepx generate --blend scene.blend --out DIR ...` (bpy.utils.register_cli_command,
    Blender 4.2+): returns the process's exit status."""
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: blender --command deepx generate [--blend FILE.blend] --out DIR [options]\n"
              "       blender --command deepx generate --help", flush=True)
        return 0 if argv else 2
    if argv[0] != "generate":
        print(f"deepx: unknown command {argv[0]!r}; available: generate", file=sys.stderr, flush=True)
        return 2
    return _main(argv[1:], prog="blender --command deepx generate", blend=True)
