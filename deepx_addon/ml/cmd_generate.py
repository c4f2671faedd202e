"""deepx generate: render synthetic people with exact labels (Blender's bpy module, headless).

    deepx generate --out runs/render/demo --count 100 [--engine CYCLES] [--resolution 640]
                   [--samples 4] [--shard 0/4] [--seed 0] [--blend scene.blend]

Settings: the defaults of core/settings.py, or a .blend's Scene.deepx (--blend: what the panel
saved), or a JSON file (--settings: a GeneratorSettings dict, or a previous run's settings.json);
then every option given here overrides them. Resumable: rerun the same command after a kill.
Inside a real Blender use deepx_addon.blender.batch.main() (see that module).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HELP = "render synthetic people (images + exact keypoint/distance labels) with Blender"

ENGINES = ("CYCLES", "BLENDER_WORKBENCH", "EEVEE")


def add_arguments(p, with_blend: bool = True):
    p.add_argument("--out", required=True, help="output folder (created; rerun to resume)")
    p.add_argument("--count", type=int, help="number of samples (images before downscaled copies)")
    p.add_argument("--engine", type=str.upper, choices=ENGINES, help="render engine (default CYCLES)")
    p.add_argument("--resolution", help="image size: 640 (square) or WIDTHxHEIGHT")
    p.add_argument("--samples", type=int, help="render samples per pixel (Cycles) / TAA samples (EEVEE)")
    p.add_argument("--shard", default="0/1", help="i/N: render samples i, i+N, ... (default 0/1)")
    p.add_argument("--seed", type=int, help="seed of the whole run")
    p.add_argument("--cameras-per-pose", type=int, help="consecutive samples sharing one pose")
    p.add_argument("--distance", type=float, nargs=2, metavar=("MIN", "MAX"), help="camera-pelvis distance range (m)")
    p.add_argument("--occluders", type=float, metavar="P", help="chance of an occluder in front of the person")
    p.add_argument("--downscale", help="comma-separated extra scales of each render, e.g. 0.5,0.25")
    p.add_argument("--depth", action="store_true", default=None, help="also write a depth EXR (metres)")
    p.add_argument("--mask", action="store_true", default=None, help="also write a person mask PNG (Cycles)")
    p.add_argument("--settings", help="GeneratorSettings JSON (or a previous run's settings.json)")
    if with_blend:
        p.add_argument("--blend", help="take the settings from this .blend's DeepX panel (Scene.deepx)")
    p.add_argument("--use-scene", action="store_true",
                   help="render inside the .blend's own scene (its objects and lights join every image; "
                        "visibility labels account for them). Default: a clean empty scene")
    p.add_argument("--threads", type=int, help="render threads (default: all cores)")
    p.add_argument("--yolo", action="store_true", help="also export a YOLO-pose dataset (yolo/)")
    p.add_argument("--finalize-only", action="store_true",
                   help="render nothing; rewrite labels.jsonl / coco_keypoints.json (/ yolo) of --out from "
                        "the labels present (e.g. after shards on several machines)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")


def parse_resolution(text) -> tuple[int, int]:
    s = str(text).lower().replace(" ", "")
    try:
        w, h = (int(v) for v in s.split("x")) if "x" in s else (int(s), int(s))
    except ValueError:
        raise ValueError(f"--resolution must be N or WIDTHxHEIGHT, got {text!r}") from None
    if w < 8 or h < 8:
        raise ValueError(f"--resolution {w}x{h} is too small (>= 8 px per side)")
    return w, h


def load_settings_file(path):
    from ..core.settings import GeneratorSettings
    p = Path(path)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"--settings {p}: cannot read JSON ({e})") from None
    if isinstance(d, dict) and "settings" in d and "format" in d:
        d = d["settings"]
    try:
        return GeneratorSettings.from_dict(d)
    except (TypeError, ValueError) as e:
        raise ValueError(f"--settings {p}: {e}") from None


def settings_from_args(args, base=None):
    """base (GeneratorSettings, or defaults) with the options given on the command line applied."""
    from ..core.settings import GeneratorSettings
    if base is None:
        base = load_settings_file(args.settings) if getattr(args, "settings", None) else GeneratorSettings()
    d = base.to_dict()
    if args.count is not None:
        d["count"] = args.count
    if args.seed is not None:
        d["seed"] = args.seed
    if args.cameras_per_pose is not None:
        d["cameras_per_pose"] = args.cameras_per_pose
    r, c = d["render"], d["camera"]
    if args.engine:
        r["engine"] = args.engine
    if args.samples is not None:
        r["samples"] = args.samples
    if args.resolution:
        r["resolution"] = c["image_size"] = list(parse_resolution(args.resolution))
    if args.distance:
        c["distance_m"] = list(args.distance)
    if args.occluders is not None:
        c["p_occluder"] = args.occluders
    if args.downscale:
        try:
            levels = sorted({float(v) for v in args.downscale.split(",") if v.strip()} | {1.0}, reverse=True)
        except ValueError:
            raise ValueError(f"--downscale must be comma-separated numbers, got {args.downscale!r}") from None
        r["downscale_levels"] = levels
    if args.depth:
        r["depth_pass"] = True
    if args.mask:
        r["mask_pass"] = True
    if d["count"] < 1:
        raise ValueError(f"--count must be >= 1, got {d['count']}")
    return GeneratorSettings.from_dict(d)


def printer(stream=None, every_s: float = 2.0):
    """A progress callback printing one line at most every ``every_s`` seconds (and at the end)."""
    stream = stream or sys.stdout
    last = [0.0]

    def show(pr):
        now = time.perf_counter()
        if pr.finished or now - last[0] >= every_s:
            last[0] = now
            rate = pr.samples_per_s
            left = pr.total - pr.done
            eta = f", ~{left / rate:.0f} s left" if rate > 0 and left else ""
            print(f"  {pr.done}/{pr.total} samples, {rate:.2f} samples/s{eta}", file=stream, flush=True)
    return show


def print_summary(s: dict, stream=None) -> None:
    stream = stream or sys.stdout
    ds = s["dataset"]
    print(f"shard {s['shard']}: rendered {s['rendered']} samples ({s['images']} images) in {s['seconds']:.1f} s "
          f"= {s['images_per_s']:.2f} images/s; {s['done_before']} were done before"
          + ("" if s["finished"] else " (stopped early: rerun to resume)"), file=stream)
    print(f"dataset {s['out_dir']}: {ds['samples']}/{s['count']} samples, {ds['images']} images"
          + (f", {ds['missing']} still missing (other shards?)" if ds["missing"] else "")
          + f"; files: {', '.join(ds['files'].values())}", file=stream)


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
    from .cli import CliError

    import importlib.util
    if "bpy" not in sys.modules and importlib.util.find_spec("bpy") is None:   # say so before it fails
        raise CliError("rendering needs Blender's Python module: pip install bpy (4.2+), or run "
                       "deepx_addon.blender.batch.main() inside Blender") from None
    from ..blender import batch, props
    from ..core.settings import SettingsError

    base = None
    try:
        if args.finalize_only:
            if not (Path(args.out) / batch.SETTINGS_FILE).is_file():
                raise CliError(f"--finalize-only: {args.out} holds no run ({batch.SETTINGS_FILE} missing)")
            fin = batch.finalize(args.out, None, args.yolo)
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
    except (batch.BatchError, SettingsError, ValueError) as e:
        raise CliError(str(e)) from None
    print_summary(summary)
    return 0
