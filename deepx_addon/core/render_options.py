"""The options of a render run, shared by `deepx generate` and Blender's batch entry point
(blender/batch.py main()): argparse options -> GeneratorSettings overrides (no bpy)."""
from __future__ import annotations

from .settings import GeneratorSettings

ENGINES = ("CYCLES", "BLENDER_WORKBENCH", "EEVEE")


def add_arguments(p, with_blend: bool = True):
    p.add_argument("--out", required=True, help="output folder (created; rerun to resume)")
    p.add_argument("--count", type=int, help="number of samples (images before downscaled copies)")
    p.add_argument("--engine", type=str.upper, choices=ENGINES, help="render engine (default CYCLES)")
    p.add_argument("--resolution", help="image size: 640 (square) or WIDTHxHEIGHT")
    p.add_argument("--samples", type=int, help="render samples per pixel (Cycles) / TAA samples (EEVEE)")
    p.add_argument("--shard", default="0/1", help="i/N: render every camera of poses i, i+N, ... (default 0/1)")
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
    p.add_argument("--no-finalize", action="store_true",
                   help="render only: leave labels.jsonl / coco_keypoints.json / summary.json to one "
                        "--finalize-only run at the end (what each --ray task does)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any generator setting, e.g. --set camera.p_occluder=0.3 (repeatable; applied last)")
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


def overrides(args) -> dict:
    """The GeneratorSettings overrides (dotted keys) of the options given on the command line."""
    o = {}
    for key, name in (("count", "count"), ("seed", "seed"), ("cameras_per_pose", "cameras_per_pose"),
                      ("render.samples", "samples"), ("camera.p_occluder", "occluders")):
        if getattr(args, name) is not None:
            o[key] = getattr(args, name)
    if args.engine:
        o["render.engine"] = args.engine
    if args.resolution:
        o["render.resolution"] = o["camera.image_size"] = list(parse_resolution(args.resolution))
    if args.distance:
        o["camera.distance_m"] = list(args.distance)
    if args.downscale:
        try:
            levels = sorted({float(v) for v in args.downscale.split(",") if v.strip()} | {1.0}, reverse=True)
        except ValueError:
            raise ValueError(f"--downscale must be comma-separated numbers, got {args.downscale!r}") from None
        o["render.downscale_levels"] = levels
    if args.depth:
        o["render.depth_pass"] = True
    if args.mask:
        o["render.mask_pass"] = True
    return o


def settings_from_args(args, base=None) -> GeneratorSettings:
    """base (GeneratorSettings; default: --settings FILE, else the defaults) with the options given."""
    if base is None:
        base = GeneratorSettings.from_file(args.settings) if getattr(args, "settings", None) else GeneratorSettings()
    settings = base.update(overrides(args)).update(getattr(args, "set", None) or [])
    if settings.count < 1:
        raise ValueError(f"--count must be >= 1, got {settings.count}")
    return settings
