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
from ..core.render_options import add_arguments, settings_from_args

__all__ = ["HELP", "add_arguments", "run"]   # the command's interface (main.py)

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
    if "bpy" not in sys.modules and importlib.util.find_spec("bpy") is None:   # say so before it fails
        raise CliError("rendering needs Blender's Python module: pip install bpy (4.2+), or run "
                       "deepx_addon.blender.batch.main() inside Blender") from None
    from ..blender import batch, props
    from ..core import runfolder
    from ..core.settings import SettingsError

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
            blend = Path(args.blend)
            if not blend.is_file():
                raise CliError(f"--blend file not found: {blend}")
            base = props.settings_from_blend(blend, keep_scene=args.use_scene)
        elif args.use_scene:
            raise CliError("--use-scene needs --blend")
        else:
            props.empty_scene()
        settings = settings_from_args(args, base)
        if settings.render.engine != "CYCLES":
            _probe_gl_engine(settings.render.engine)
        print(f"deepx generate: {settings.count} samples, {settings.render.engine} "
              f"{settings.render.resolution[0]}x{settings.render.resolution[1]}, {settings.render.samples} samples/px, "
              f"shard {args.shard} -> {args.out}", flush=True)
        summary = batch.run_batch(settings, args.out, args.shard, progress=None if args.quiet else printer(),
                                  threads=args.threads, yolo=args.yolo)
    except (runfolder.RunFolderError, SettingsError, ValueError) as e:
        raise CliError(str(e)) from None
    print_summary(summary)
    return 0
