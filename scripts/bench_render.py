"""Benchmark the render path: images/s per engine and resolution (not a test; prints numbers).

    .venv/bin/python scripts/bench_render.py                 # Cycles 640 & 160, Workbench 640 & 160
    .venv/bin/python scripts/bench_render.py --eevee         # + EEVEE (slow on CPU-only machines)
    .venv/bin/python scripts/bench_render.py --threads 2 --samples 4 -n 12

Every configuration runs in its own child process (Workbench/EEVEE abort the process without an
OpenGL/EGL context) through the real batch path (deepx_addon.blender.batch.BatchJob: pose, camera,
light, occluders, visibility ray casts, render, PNG, label), with ``--cameras-per-pose`` cameras per
pose as in production. The first sample (scene + mannequin build, first BVH) is timed separately;
the rate is over the following ones. "bare s" is the floor measured in the same process, interleaved:
after every batch sample one more render of that sample's scene, nothing changed, to PNG, with
Cycles' persistent data (only the render itself: what no batch can go below); "vs bare" = s/img / bare s (goal
<= 1.2x at 160x160, <= 1.1x at 640x640). "cpu s/img" is the process's CPU time per image (all threads):
on a machine shared with other work, cpu / threads estimates the wall time it would take alone.
``--scene both`` (default) runs each configuration with the old plain scene and with the realistic
one (SceneSettings.realistic: HDRI, textures, clutter, several people, blur/noise/JPEG) one after
the other, so their ratio is measured under the same load; ``--denoise off,auto`` likewise runs each
configuration without and with OpenImageDenoise (RenderSettings.denoise). ``--processes 2 --threads 1`` runs
each configuration as two processes at once (what `deepx generate --ray` does on 2 cores: one Blender per task,
so one process's Python work overlaps the other's render); img/s is then their sum, and the processes run
no bare renders ("bare s" is nan): with them, each process's timed steps would get a core the other
leaves idle during its bare render, and the sum would overstate the machine's throughput. "subdiv" is the
people's render subdivision (RenderSettings.subdivision: "auto" = 1 up to 320 px, 2 above). Targets (brief): Cycles >= 1 img/s at
640x640 and >= 6 img/s at 160x160 on 2 cores (issue 9: >= 5 img/s at 160 with realistic scenes).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {("CYCLES", 640): 1.0, ("CYCLES", 160): 6.0}
TARGETS_REALISTIC = {("CYCLES", 160): 5.0}      # issue 9: realistic scenes at 160x160


def child(engine: str, res: int, n: int, samples: int, threads: int | None, cpp: int, realistic: bool,
          persistent: bool = True, denoise: str = "off", sets=(), profile: str | None = None, seed: int = 1,
          bare_loop: bool = True) -> dict:
    sys.path.insert(0, str(ROOT))
    import bpy

    from deepx_addon.blender.batch import BatchJob
    from deepx_addon.core.settings import GeneratorSettings

    bpy.ops.wm.read_factory_settings(use_empty=True)
    s = GeneratorSettings(seed=seed, count=n + 1, cameras_per_pose=cpp)
    s.render.engine, s.render.samples, s.render.denoise = engine, samples, denoise
    s.render.resolution = s.camera.image_size = (res, res)
    s.camera.distance_m = (2.0, 30.0)
    s.camera.p_occluder = 0.2
    s.scene.realistic = realistic
    if sets:
        s = s.update(list(sets))    # --set: e.g. scene.people=1,1 (no other people)
    with tempfile.TemporaryDirectory(prefix="deepx-bench-") as d:
        job = BatchJob(s, d, threads=threads)
        t0 = time.perf_counter()
        job.step()
        first = time.perf_counter() - t0
        job.ctx.scene.render.use_persistent_data = persistent      # --no-persistent: the old behaviour
        r0 = job.render_seconds
        # the floor, same process, same scene, interleaved with the batch (load changes hit both):
        # after each batch sample, one bare render of that sample's scene again (nothing changed;
        # the PNG written the same way)
        from deepx_addon.blender.render import _quiet_stdout
        scene = bpy.context.scene
        dt = cpu = bare = 0.0
        prof = None
        if profile:
            import cProfile
            prof = cProfile.Profile()
        while not job.finished:
            t1, c1 = time.perf_counter(), time.process_time()
            if prof:
                prof.enable()
            job.step()
            if prof:
                prof.disable()
            dt, cpu = dt + time.perf_counter() - t1, cpu + time.process_time() - c1
            if not bare_loop:
                continue
            path = scene.render.filepath
            scene.render.filepath = str(Path(d) / "bare.png")
            with _quiet_stdout():
                if not persistent:      # the floor keeps its scene between renders in both modes
                    scene.render.use_persistent_data = True
                    bpy.ops.render.render(write_still=True)
                tb = time.perf_counter()
                bpy.ops.render.render(write_still=True)
                bare += time.perf_counter() - tb
            scene.render.filepath = path
            scene.render.use_persistent_data = persistent
        render = job.render_seconds - r0
        bare = bare / n if bare_loop else float("nan")
        if prof:        # the batch steps only (not the bare renders), per image
            import io
            import pstats
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(40)
            Path(profile).write_text(f"{engine} {res} {'realistic' if realistic else 'plain'}, {n} images "
                                     f"(divide the times by {n} for a per-image figure)\n" + buf.getvalue())
    return {"bare_s_per_image": round(bare, 4), "vs_bare": round(dt / n / bare, 3), "engine": engine, "resolution": res, "samples": samples, "n": n, "first_s": round(first, 2),
            "images_per_s": round(n / dt, 3), "s_per_image": round(dt / n, 4),
            "render_call_share": round(render / dt, 3), "threads": threads or os.cpu_count(),
            "cpu_s_per_image": round(cpu / n, 4),
            "cameras_per_pose": cpp, "scene": "realistic" if realistic else "plain", "blender": bpy.app.version_string,
            "denoiser": job.ctx.denoiser, "subdivision": job.ctx.subdivision}


def _combine(runs: list) -> dict:
    """One row from the processes of one configuration run at once: their summed img/s (the
    machine's throughput), the mean of the per-image figures."""
    if len(runs) == 1:
        return runs[0]
    d = dict(runs[0])
    for k in ("bare_s_per_image", "vs_bare", "first_s", "s_per_image", "render_call_share", "cpu_s_per_image"):
        d[k] = round(sum(r[k] for r in runs) / len(runs), 4)
    d["images_per_s"] = round(sum(r["images_per_s"] for r in runs), 3)
    d["n"] = sum(r["n"] for r in runs)
    d["processes"] = len(runs)
    return d


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--child", nargs=2, metavar=("ENGINE", "RES"), help=argparse.SUPPRESS)
    p.add_argument("-n", type=int, help="timed images per configuration (default 12 at 640, 40 at 160)")
    p.add_argument("--samples", type=int, default=4, help="Cycles samples / EEVEE TAA samples (default 4)")
    p.add_argument("--threads", type=int, help="render threads per process (default: all cores)")
    p.add_argument("--processes", type=int, default=1,
                   help="run each configuration in this many processes at once (seeds 1..P), as `deepx generate` "
                        "runs one Blender per task: img/s is their sum, the other columns their mean "
                        "(e.g. --processes 2 --threads 1 on 2 cores)")
    p.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--no-bare", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cameras-per-pose", type=int, default=16)
    p.add_argument("--eevee", action="store_true", help="also benchmark EEVEE (CPU: several s per image)")
    p.add_argument("--only", help="comma-separated ENGINE:RES list, e.g. CYCLES:640,CYCLES:160")
    p.add_argument("--scene", choices=("plain", "realistic", "both"), default="both",
                   help="SceneSettings.realistic off / on / both, alternating in one run (default both)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--no-persistent", action="store_true", help="Cycles without persistent data (before 2 Dec 2026)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a generator setting for every configuration (repeatable), e.g. scene.people=1,1")
    p.add_argument("--profile", metavar="FILE", help="cProfile of the timed batch steps of each configuration, "
                                                      "written to FILE.<engine>-<res>-<scene>.txt")
    p.add_argument("--denoise", default="off",
                   help="RenderSettings.denoise, or a comma-separated list run one after the other (e.g. off,auto)")
    a = p.parse_args(argv)
    if a.child:
        eng, res = a.child[0], int(a.child[1])
        n = a.n or (12 if res >= 480 else 40)
        print("RESULT " + json.dumps(child(eng, res, n, a.samples, a.threads, a.cameras_per_pose,
                                           a.scene == "realistic", not a.no_persistent, a.denoise, a.set,
                                           a.profile, a.seed, not a.no_bare)), flush=True)
        return 0
    if a.only:
        configs = [(e.upper(), int(r)) for e, r in (x.split(":") for x in a.only.split(","))]
    else:
        configs = [("CYCLES", 640), ("CYCLES", 160), ("BLENDER_WORKBENCH", 640), ("BLENDER_WORKBENCH", 160)]
        if a.eevee:
            configs += [("EEVEE", 640), ("EEVEE", 160)]
    scenes = ("plain", "realistic") if a.scene == "both" else (a.scene,)
    modes = a.denoise.split(",")
    configs = [(e, r, sc, dn) for e, r in configs for sc in scenes for dn in modes]
    results = []
    print(f"{'engine':<18} {'scene':<10} {'denoise':<8} {'res':>5} {'img/s':>7} {'s/img':>7} {'bare s':>7} {'vs bare':>7} "
          f"{'cpu s/img':>9} {'render%':>8} {'first s':>8} {'subdiv':>6}  target")
    for eng, res, sc, dn in configs:
        cmd = [sys.executable, __file__, "--child", eng, str(res), "--samples", str(a.samples),
               "--cameras-per-pose", str(a.cameras_per_pose), "--scene", sc, "--denoise", dn] + (["--no-persistent"] if a.no_persistent else [])
        for kv in a.set:
            cmd += ["--set", kv]
        if a.profile:
            cmd += ["--profile", f"{a.profile}.{eng.lower()}-{res}-{sc}-{dn}.txt"]
        if a.n:
            cmd += ["-n", str(a.n)]
        if a.threads:
            cmd += ["--threads", str(a.threads)]
        if a.processes > 1:     # no interleaved bare renders: each process only does the batch, so the
            cmd += ["--no-bare"]    # summed rate is the machine's throughput (bare renders would idle a core)
        procs = [subprocess.Popen(cmd + ["--seed", str(k + 1)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, cwd=str(ROOT)) for k in range(max(1, a.processes))]
        outs = [(pr, *pr.communicate()) for pr in procs]
        got = [next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None) for _pr, out, _err in outs]
        bad = [(pr.returncode, err or out) for (pr, out, err), line in zip(outs, got) if pr.returncode != 0 or line is None]
        if bad:
            tail = bad[0][1].strip().splitlines()[-2:]
            print(f"{eng:<18} {sc:<10} {dn:<8} {res:>5}  failed (exit {bad[0][0]}): {' | '.join(tail)}")
            results.append({"engine": eng, "resolution": res, "error": bad[0][0]})
            continue
        d = _combine([json.loads(line[7:]) for line in got])
        results.append(d)
        tgt = (TARGETS_REALISTIC if sc == "realistic" else TARGETS).get((eng, res))
        mark = "" if tgt is None else (f">= {tgt:g}: " + ("met" if d["images_per_s"] >= tgt else "NOT met"))
        print(f"{eng:<18} {sc:<10} {dn:<8} {res:>5} {d['images_per_s']:>7.2f} {d['s_per_image']:>7.3f} {d['bare_s_per_image']:>7.3f} "
              f"{d['vs_bare']:>6.2f}x {d['cpu_s_per_image']:>9.3f} "
              f"{100 * d['render_call_share']:>7.0f}% {d['first_s']:>8.1f} {d.get('subdivision', '?'):>6}  {mark}", flush=True)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"({results[0].get('samples', a.samples)} samples, {a.cameras_per_pose} cameras per pose, "
          f"{os.cpu_count()} cores, {a.processes} process(es) x {a.threads or os.cpu_count()} thread(s), "
          f"load average {load[0]:.1f} at the end"
          + (f"; --set {' '.join(a.set)}" if a.set else "") + ")" if load else "")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
