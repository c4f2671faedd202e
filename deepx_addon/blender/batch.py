"""Batch rendering: deterministic, sharded, resumable datasets of rendered people (bpy).

    summary = run_batch(settings, "runs/render/demo", shard=(0, 1))

Sample ``index`` (0 <= index < settings.count) is camera ``index % cameras_per_pose`` of pose
``index // cameras_per_pose`` ("pose first, then many cameras per pose": consecutive samples share
the pose, so only the camera, light and occluders change and Cycles keeps its BVH). Seeds are
the no-render path's: ``pose_seed = core.poses.pose_seed_for(seed, pose_index)`` (the pose-table row
with that index: same body and pose, but for the arm of a person holding an umbrella, see render.py)
and ``sample_seed = core.cameras.derive_seeds(seed, pose_index, camera_index)`` (the sampler's camera
for that row); a sample depends on nothing else, so shards and resumed runs give the same dataset as
one uninterrupted run.

Sharding: shard i of N renders every camera of the poses i, i+N, i+2N, ... (core.runfolder.in_shard:
a pose change re-syncs Cycles' world and body, so whole poses per shard) into the same folder (run the shards
in parallel processes or on several machines sharing it). Resuming: a sample is done when its label
``labels/<id>.json`` exists; images (and depth/mask) are written under temporary names and moved
into place first, the label last (all with os.replace), so a killed run leaves no half sample.
Stray temporary files of this shard's indices are removed when a run starts. The dataset files
(labels.jsonl, COCO, YOLO) are written once, by the shard that completes the run (or the only one).

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

import json
import sys
import time
from pathlib import Path

from ..core.outputs import lock_folder, unlock_folder
from ..core.runfolder import shard_key
from ..core.records import atomic_write_text
from ..core.progress import print_summary, printer
from ..core.render_options import add_arguments, settings_from_args
from ..core.runfolder import (SUMMARY_FILE, Progress, SamplePlan, check_or_write_settings, finalize, label_done,
                              label_files, label_path, parse_shard, plan, remove_stray_temps, shard_indices, tmp_tag)
from ..core.settings import GeneratorSettings
from .render import RenderContext, check_render_settings, render_sample
from .props import to_settings

SHARD_SUMMARIES_DIR = "summaries"


def preflight(settings: GeneratorSettings, user_presets=None):
    """Check every setting before the first render (RunFolderError saying which): the settings
    themselves, what this Blender can render, the limit preset, and that every pose preset named
    in preset_weights exists (shipped or the user's: ``user_presets``, default Blender's user
    folder, as in the panel). Returns (presets, limits) for the render context."""
    from ..core.limits import JointLimits, LimitsError
    from ..core.poses import PoseError, all_presets
    from ..core.runfolder import RunFolderError
    from ..core.settings import SettingsError
    from .state import user_presets_root
    if user_presets is None:
        user_presets = user_presets_root(create=False)
    try:
        settings.validate()
        check_render_settings(settings)
        presets = all_presets(user_presets)
        limits = JointLimits.load(settings.pose.limits_preset, user_presets)
    except (SettingsError, LimitsError, PoseError, OSError) as e:
        raise RunFolderError(str(e)) from None
    unknown = sorted(set(settings.pose.preset_weights) - set(presets))
    if unknown:
        raise RunFolderError(f"PoseSettings.preset_weights names pose preset(s) {unknown} that exist neither in "
                             f"the shipped nor in your user presets; known: {', '.join(sorted(presets))}")
    return presets, limits


class BatchJob:
    """One shard of a run, one sample per step() (for modal operators and run_batch)."""

    def __init__(self, settings: GeneratorSettings, out_dir, shard=(0, 1), *, scene=None,
                 threads: int | None = None, yolo: bool = False, user_presets=None):
        self.settings = settings
        self.out_dir = Path(out_dir).resolve()
        self.shard = parse_shard(shard)
        self.scene, self.threads, self.yolo = scene, threads, yolo
        self.presets, self.limits = preflight(settings, user_presets)
        self._writer = None         # the label writer thread (_write_label), started on first use
        self._pending = None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # one run per folder: a second one (other seed, same folder) would mix its samples in; the
        # shards i/N (N > 1) of one run lock their shard only, so they run side by side
        self._lock = lock_folder(self.out_dir, "deepx render batch", shard_key(self.shard))
        try:
            check_or_write_settings(self.out_dir, settings)
            self.removed_temps = remove_stray_temps(self.out_dir, settings, self.shard)
            self.indices = shard_indices(settings.count, self.shard, settings.cameras_per_pose)
            self.plans = [plan(settings, i) for i in self.indices]
            self.todo = [p for p in self.plans if not label_done(self.out_dir, p)]
        except BaseException:
            self.close()
            raise
        self.skipped = len(self.plans) - len(self.todo)
        self._pos = 0
        self.rendered = 0
        self.images = 0
        self.render_seconds = 0.0
        self.t0 = time.perf_counter()
        self.ctx = None
        self.last_id = None
        self.summary = None
        self.tmp_tag = tmp_tag(self.shard)

    @property
    def finished(self) -> bool:
        return self._pos >= len(self.todo)

    def progress(self) -> Progress:
        return Progress(self.skipped + self._pos, len(self.plans), self.rendered, self.images, self.last_id,
                        time.perf_counter() - self.t0, self.finished)

    def _context(self):
        if self.ctx is None:
            self.ctx = RenderContext(self.settings, self.out_dir, self.scene, threads=self.threads,
                                     presets=self.presets, limits=self.limits)
        return self.ctx

    def render_one(self, p: SamplePlan) -> dict:
        t = time.perf_counter()
        label = render_sample(self._context(), p.sample_seed, pose_seed=p.pose_seed, sample_id=p.id,
                              tmp_tag=self.tmp_tag)
        self.render_seconds += time.perf_counter() - t
        label = {"id": label["id"], "index": p.index, "pose_index": p.pose_index, "camera_index": p.camera_index,
                 **{k: v for k, v in label.items() if k != "id"}}
        self._write_label(label_path(self.out_dir, p.id), json.dumps(label, allow_nan=False) + "\n")
        return label

    def _write_label(self, path: Path, text: str) -> None:
        """Write the label (the sample's "done" mark, atomic and fsynced as before) in a thread while
        the next sample renders: the fsync waited 10 ms of a 160x160 render's 200 ms. One label at a
        time: the previous one is on disk before the next is handed over; a killed process leaves at
        most one temp file, which the next run removes (remove_stray_temps) before rendering that
        sample again. An error writing it is raised by the next step or by finalize/close."""
        self.wait_labels()
        if self._writer is None:
            from concurrent.futures import ThreadPoolExecutor
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="deepx-label")
        self._pending = self._writer.submit(atomic_write_text, path, text)

    def wait_labels(self) -> None:
        """Block until the last label handed to the writer thread is on disk (raise its error)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

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

    def close(self) -> None:
        """Write the pending label and release the output folder (finalize does it; call it when
        abandoning a job)."""
        try:
            self.wait_labels()
        finally:
            if self._writer is not None:
                self._writer.shutdown()
                self._writer = None
            unlock_folder(self._lock)
            self._lock = None

    def finalize(self, datasets: bool = True) -> dict:
        """Close the render context and write the dataset files (labels.jsonl, COCO, YOLO) - unless
        other shards still miss labels: then the shard that completes the run writes them once,
        instead of every shard rewriting the whole dataset (``deepx generate --finalize-only``
        writes them any time). ``datasets=False``: one shard of a --ray job whose driver finalizes
        once at the end; neither the dataset nor summary.json is written."""
        if self.ctx is not None:
            self.ctx.close()
        try:
            self.wait_labels()
            return self._finalize(datasets)
        finally:
            self.close()

    def _finalize(self, datasets: bool) -> dict:
        present = len(label_files(self.out_dir, self.settings))
        if not datasets:
            fin = None
        elif self.shard[1] == 1 or present == int(self.settings.count):
            fin = finalize(self.out_dir, self.settings, self.yolo)
        else:
            fin = {"samples": present, "images": None, "missing": int(self.settings.count) - present, "files": {},
                   "deferred": "other shards still render: the shard that completes the run writes the dataset"}
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
        if not datasets:
            return self.summary
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
              scene=None, threads: int | None = None, yolo: bool = False, datasets: bool = True) -> dict:
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
    return job.finalize(datasets)


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


def _main(argv=None, prog="blender -b FILE.blend --python-expr '...main()' --", blend=False) -> int:
    import argparse

    import bpy

    from ..core.runfolder import RunFolderError
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog=prog)
    add_arguments(p, with_blend=blend)
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
            base = to_settings(bpy.context.scene)
        settings = settings_from_args(args, base)
        if not args.use_scene:          # settings read: render in a clean, empty file
            bpy.ops.wm.read_homefile(use_empty=True)
        scene = bpy.context.scene
        print(f"deepx generate: {settings.count} samples, {settings.render.engine} "
              f"{settings.render.resolution[0]}x{settings.render.resolution[1]}, shard {args.shard} -> {args.out}",
              flush=True)
        summary = run_batch(settings, args.out, args.shard, progress=None if args.quiet else printer(),
                            scene=scene, threads=args.threads, yolo=args.yolo,
                            datasets=not args.no_finalize)
    except (RunFolderError, ValueError, OSError, RuntimeError) as e:   # OSError: OutputError (folder in use, not writable)
        print(f"deepx generate: error: {e}", file=sys.stderr, flush=True)
        return 2
    print_summary(summary)
    return 0 if summary.get("finished", True) else 3


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
