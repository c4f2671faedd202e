"""Render realistic scenes and run the real detector on them: (truth, detection) pairs at scale.

    .venv/bin/python scripts/render_detect.py --out DIR --count 20000 --shard 0/2 --threads 1
    .venv/bin/python scripts/render_detect.py --out DIR --count 20000 --shard 1/2 --threads 1

One shard per core. Each sample goes through the batch path (deepx_addon.blender.batch.BatchJob:
pose, camera kind, surroundings, other people, clutter, render, blur/noise/JPEG, downscaled copies,
label), then YOLO11n-pose looks at every image of the sample (the render and each copy) and every
labelled person in it is paired with at most one detection (deepx_addon.cli.detect.detect_rows: joint OKS
matching). The pairs are appended to ``DIR/pairs/shard<i>of<N>.jsonl`` (one row per person per
image, the `deepx detect` format plus family, camera_kind, person_yaw_deg, person_height_px,
visibility, occluded_by, truncated, scale, n_people, degradation). People with no keypoint inside
the image or under MIN_HEIGHT_PX tall are left out (an image without any is not given to the
detector).

Resumable: rerun the same command. A sample is done when its id is in a pairs file of the folder; a
label without pairs (killed between the two) is detected again, a half-written last line is cut.
Settings come from the arguments only (the batch refuses a folder made with other settings).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIN_HEIGHT_PX = 12      # smaller people are left out (no detector finds them; saves detector calls)


def settings_from(a):
    from deepx_addon.core.settings import GeneratorSettings, RenderSettings
    s = GeneratorSettings(seed=a.seed, count=a.count, cameras_per_pose=a.cameras_per_pose,
                          render=RenderSettings(resolution=(a.resolution, a.resolution), samples=a.samples,
                                                downscale_levels=tuple(float(x) for x in a.downscale.split(","))))
    s.camera.image_size = (a.resolution, a.resolution)
    s.camera.p_occluder = a.occluders
    s.body.mesh = a.body_mesh
    s = s.update(a.set)         # ablations: e.g. --set scene.p_blur=0 (other streams unchanged: paired runs)
    s.validate()
    return s


def read_done(path: Path) -> set:
    """Sample ids already in a pairs file; a torn last line (a killed run) is cut off."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        with open(path, "r+b") as f:
            f.truncate(keep)
    return _ids(data[:keep])


def _ids(data: bytes) -> set:
    """The sample ids of the complete lines in a pairs file's bytes (a torn last line is skipped)."""
    return {json.loads(line)["sample_id"] for line in data[:data.rfind(b"\n") + 1].splitlines() if line.strip()}


def read_done_elsewhere(pairs_dir: Path, own: Path) -> set:
    """Sample ids in the other shards' pairs files (read only; a torn last line is skipped): a folder
    whose shards split the samples another way (before whole poses went to one shard) is resumed
    without pairing a sample twice."""
    done = set()
    for path in sorted(pairs_dir.glob("shard*.jsonl")):
        if path != own:
            done |= _ids(path.read_bytes())
    return done


def pairs_of(label: dict, out_dir: Path, detector, min_oks: float) -> list[dict]:
    from deepx_addon.core.runfolder import label_to_records
    from deepx_addon.cli.detect import detect_rows
    rows = [r for r in label_to_records(label) if any(v > 0 for v in r["visibility"])
            and (r.get("person_height_px") or 0) >= MIN_HEIGHT_PX]
    pairs = detect_rows(rows, [out_dir] * len(rows), detector, min_oks)
    for r in pairs:
        r["sample_id"] = label["id"]
        r["image"] = os.path.relpath(r["image"], out_dir)
    return pairs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, required=True, help="samples (renders) in the whole run")
    p.add_argument("--shard", default="0/1")
    p.add_argument("--seed", type=int, default=9001)
    p.add_argument("--cameras-per-pose", type=int, default=8)
    p.add_argument("--resolution", type=int, default=640)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--downscale", default="1,0.5,0.25")
    p.add_argument("--occluders", type=float, default=0.15)
    p.add_argument("--threads", type=int, default=1, help="render and torch threads")
    p.add_argument("--min-oks", type=float, default=0.1)
    p.add_argument("--conf", type=float, default=0.1)
    p.add_argument("--body-mesh", default="mannequin", choices=("mannequin", "human"),
                   help="BodySettings.mesh: the procedural mannequin (default) or the human (Anny) mesh")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one generator setting, e.g. --set scene.p_jpeg=0 (repeatable)")
    return p


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import torch
    torch.set_num_threads(a.threads)
    import bpy

    from deepx_addon.blender.batch import BatchJob, label_path, parse_shard
    from deepx_addon.ml.detector import PoseDetector

    bpy.ops.wm.read_factory_settings(use_empty=True)
    out = Path(a.out).resolve()
    i, n = parse_shard(a.shard)
    settings = settings_from(a)
    job = BatchJob(settings, out, (i, n), threads=a.threads)
    pairs_path = out / "pairs" / f"shard{i}of{n}.jsonl"
    pairs_path.parent.mkdir(parents=True, exist_ok=True)
    done = read_done(pairs_path) | read_done_elsewhere(pairs_path.parent, pairs_path)
    detector = PoseDetector(conf=a.conf, threads=a.threads)
    log = open(out / f"progress_shard{i}of{n}.log", "a", buffering=1)
    stats = {"samples": len(done & {p.id for p in job.plans}), "rows": 0, "detected": 0}
    t0 = time.perf_counter()

    def emit(label):
        rows = pairs_of(label, out, detector, a.min_oks)
        with open(pairs_path, "a") as f:
            f.write("".join(json.dumps(r, allow_nan=False) + "\n" for r in rows))
            f.flush()
            os.fsync(f.fileno())
        stats["samples"] += 1
        stats["rows"] += len(rows)
        stats["detected"] += sum(r["detected"] for r in rows)

    # labels rendered by an earlier run whose pairs were not written
    for plan in job.plans:
        lp = label_path(out, plan.id)
        if plan.id not in done and lp.exists():
            emit(json.loads(lp.read_text()))
            done.add(plan.id)
    while not job.finished:
        plan = job.todo[job._pos]
        job.step()
        job.wait_labels()       # the label is written in a thread: on disk once this returns
        emit(json.loads(label_path(out, plan.id).read_text()))
        if stats["samples"] % 10 == 0 or job.finished:
            dt = time.perf_counter() - t0
            log.write(f"{time.strftime('%H:%M:%S')} shard {i}/{n}: {stats['samples']}/{len(job.plans)} samples, "
                      f"this run {stats['rows']} person-images, {stats['detected']} detected, "
                      f"{job.rendered / dt:.3f} samples/s\n")
    job.finalize()
    log.write(f"{time.strftime('%H:%M:%S')} shard {i}/{n} finished\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
