"""deepx generate: render synthetic people with exact labels (Blender's bpy module, headless).

    deepx generate --out runs/render/demo --count 100 [--engine CYCLES] [--resolution 640]
                   [--samples 4] [--shard 0/4] [--seed 0] [--blend scene.blend]

Settings: the defaults of core/settings.py, or a .blend's Scene.deepx (--blend: what the panel
saved), or a JSON file (--settings: a GeneratorSettings dict, or a previous run's settings.json);
then every option given here overrides them. Resumable: rerun the same command after a kill.
Inside a real Blender use deepx_addon.blender.batch.main() (see that module).
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..core.progress import print_summary, printer
from ..core.render_options import add_arguments as _render_arguments, settings_from_args

__all__ = ["HELP", "add_arguments", "run"]   # the command's interface (main.py)


def add_arguments(p):
    from . import cluster
    _render_arguments(p)
    cluster.add_arguments(p, "CPUs (render threads) per task, one Blender process each (default 1)")

HELP = "render synthetic people (images + exact keypoint/distance labels) with Blender"

def _probe_gl_engine(engine: str) -> None:
    """Workbench/EEVEE abort the whole process without an OpenGL/EGL context: try a tiny render in
    a child process first and turn a crash into a clear error."""
    import subprocess
    code = ("import bpy; bpy.ops.wm.read_factory_settings(use_empty=True); s=bpy.context.scene; "
            f"from deepx_addon.blender.scene import engine_id; s.render.engine=engine_id({engine!r}); "
            "s.render.resolution_x=s.render.resolution_y=8; "
            "cam=bpy.data.objects.new('c', bpy.data.cameras.new('c')); s.collection.objects.link(cam); s.camera=cam; "
            "bpy.ops.render.render()")
    root = Path(__file__).resolve().parents[2]
    try:
        r = subprocess.run([sys.executable, "-c", code], cwd=str(root), capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise ValueError(f"engine {engine}: a test render did not finish in 300 s") from None
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        raise ValueError(f"engine {engine} cannot render here (no OpenGL/EGL context? exit {r.returncode}: "
                         f"{' | '.join(tail)}); use --engine CYCLES")


def run(args) -> int:
    from .errors import CliError

    import importlib.util
    from ..core import runfolder
    from ..core.settings import SettingsError

    # a --ray driver renders nothing itself: it needs bpy only to read a --blend
    if ((not args.ray or args.blend) and not args.finalize_only and "bpy" not in sys.modules
            and importlib.util.find_spec("bpy") is None):   # say so before it fails
        raise CliError("rendering needs Blender's Python module: pip install bpy (4.2+), or run "
                       "deepx_addon.blender.batch.main() inside Blender") from None
    from ..core.outputs import prepare_outputs
    # --settings may be the run's own settings.json (a resume): it is compared there, never rewritten
    prepare_outputs([getattr(args, "blend", None)], out_dirs=[args.out])
    base = None
    try:
        if args.finalize_only:
            if not (Path(args.out) / runfolder.SETTINGS_FILE).is_file():
                raise CliError(f"--finalize-only: {args.out} holds no run ({runfolder.SETTINGS_FILE} missing)")
            fin = runfolder.finalize(args.out, None, args.yolo)
            print(f"{args.out}: {fin['samples']} samples, {fin['images']} images, {fin['missing']} missing; "
                  f"files: {', '.join(fin['files'].values())}")
            return 0
        if getattr(args, "blend", None):
            from ..blender import props
            blend = Path(args.blend)
            if not blend.is_file():
                raise CliError(f"--blend file not found: {blend}")
            base = props.settings_from_blend(blend, keep_scene=args.use_scene)
        elif args.use_scene:
            raise CliError("--use-scene needs --blend")
        elif not args.ray:
            from ..blender import props
            props.empty_scene()
        settings = settings_from_args(args, base)
        if args.ray:
            return _run_ray(args, settings)
        if settings.render.engine != "CYCLES":
            _probe_gl_engine(settings.render.engine)
        print(f"deepx generate: {settings.count} samples, {settings.render.engine} "
              f"{settings.render.resolution[0]}x{settings.render.resolution[1]}, {settings.render.samples} samples/px, "
              f"shard {args.shard} -> {args.out}", flush=True)
        from ..blender import batch
        summary = batch.run_batch(settings, args.out, args.shard, progress=None if args.quiet else printer(),
                                  threads=args.threads, yolo=args.yolo, datasets=not args.no_finalize)
    except (runfolder.RunFolderError, SettingsError, ValueError) as e:
        raise CliError(str(e)) from None
    print_summary(summary)
    return 0


def _run_ray(args, settings) -> int:
    """Every shard a Ray task running `deepx generate --shard i/N --no-finalize` (one Blender
    process each, --threads = CPUs per task); then finalize once here."""
    import json
    import time

    from ..core import runfolder
    from ..core.records import atomic_write_text
    from . import cluster
    from .errors import CliError

    if args.shard != "0/1":
        raise CliError("--ray runs every shard itself: leave out --shard")
    cluster.absolute_paths(args, "out", "settings", "blend")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runfolder.check_or_write_settings(out, settings)      # refuses a folder holding another run
    if not args.use_scene:      # the tasks read the settings fixed here (a --blend is read once)
        args.blend, args.settings = None, str(out / runfolder.SETTINGS_FILE)
    cpus = max(1, args.ray_cpus_per_task)
    base = cluster.argv_of(args._parser, args, drop=("shard", "quiet", "yolo", "no_finalize", "threads"))
    extra = ["--no-finalize", "--threads", str(args.threads or cpus)]
    count = int(settings.count)
    print(f"deepx generate: {count} samples, {settings.render.engine} {settings.render.resolution[0]}x"
          f"{settings.render.resolution[1]} on Ray ({args.ray}) -> {out}", file=sys.stderr, flush=True)
    t0 = time.time()
    t = cluster.run_tasks(args, lambda n: cluster.shard_argvs("generate", base, n, extra), count,
                          lambda: cluster.count_files(out / runfolder.LABELS_DIR, "*.json"), count, "samples")
    fin = runfolder.finalize(out, settings, args.yolo)
    summary = {"out_dir": str(out), "count": count, "ray": {"address": args.ray, **t, "cpus_per_task": cpus},
               "seconds": round(time.time() - t0, 3), "engine": settings.render.engine,
               "resolution": list(settings.render.resolution), "samples": int(settings.render.samples), "dataset": fin}
    atomic_write_text(out / runfolder.SUMMARY_FILE, json.dumps(summary, indent=1) + "\n")
    print(f"dataset {out}: {fin['samples']}/{count} samples, {fin['images']} images by {t['tasks']} Ray tasks on "
          f"{len(t['nodes'])} node(s) in {t['seconds']:.1f} s; files: {', '.join(fin['files'].values())}")
    if fin["missing"]:
        raise CliError(f"{fin['missing']} samples missing after the Ray job; rerun the same command to resume")
    return 0
