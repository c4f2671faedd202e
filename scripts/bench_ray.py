"""Benchmark of --ray on this machine (not a test): one process vs a local Ray cluster with 1 and 2
workers, for `deepx sample` and for 160x160 Cycles renders, and a simulated two-node cluster
(`ray start --head` + `ray start --address`, separate processes) that is killed halfway and resumed.

    PYTHONPATH=$PWD .venv/bin/python scripts/bench_ray.py --work /tmp/deepx-bench [--poses 80000] [--renders 160]

All runs of one part happen in this one invocation, in turn (ratios, not absolute times, are
comparable on a shared machine); the load average is printed with every figure. Output identity
with the one-process run is checked for every Ray run (all files but summary.json).
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def cli(*argv) -> list[str]:
    return [PY, "-m", "deepx_addon.cli", *map(str, argv)]


def env(**extra) -> dict:
    # RAY_worker_niceness=0: Ray's workers would otherwise run at nice 15 (for `ray start` nodes;
    # deepx sets it itself for the local cluster it starts)
    return dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0", RAY_worker_niceness="0", **extra)


def timed(cmd, e=None) -> tuple[float, str, float]:
    """wall seconds, output, CPU seconds of the process (and what it waited for)."""
    import resource
    t, ru0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, env=e or env(), capture_output=True, text=True)
    dt, ru1 = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return dt, r.stderr + r.stdout, ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime


def same(a: Path, b: Path) -> bool:
    fa = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file() and p.name != "summary.json")
    fb = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file() and p.name != "summary.json")
    return fa == fb and all(filecmp.cmp(a / f, b / f, shallow=False) for f in fa)


def ray_figures(out: Path, log: str) -> tuple[float, float]:
    """The Ray job's own time (tasks submitted -> all done; the cluster start excluded) and the
    CPU seconds of its shard processes."""
    s = out / "summary.json"
    if s.is_file():
        r = json.loads(s.read_text())["ray"]
        return r["seconds"], r["task_cpu_s"]
    for line in log.splitlines():
        if "Ray tasks on" in line and " in " in line:
            return (float(line.rsplit(" in ", 1)[1].split(" s")[0]),
                    float(line.split("tasks' CPU ")[1].split(" s")[0]))
    raise ValueError(f"no Ray figures in {log[-500:]}")


def load() -> str:
    return "load %.1f %.1f %.1f" % os.getloadavg()


def scaling(name: str, make_cmd, work: Path, rounds: int) -> dict:
    """one process vs Ray with 1 worker vs Ray with 2 workers, interleaved ``rounds`` times (the
    medians are reported); every Ray output compared with the one-process output."""
    import statistics
    res = {}
    runs = [("one process", []), ("ray 1 worker", ["--ray", "--ray-num-cpus", "1"]),
            ("ray 2 workers", ["--ray", "--ray-num-cpus", "2"])]
    ref = work / f"{name}-one"
    for rnd in range(rounds):
        for label, extra in runs:
            out = work / f"{name}-{label.replace(' ', '_')}"
            shutil.rmtree(out, ignore_errors=True)
            l0 = load()
            wall, log, cpu = timed(make_cmd(out) + extra)
            job, cpu = ray_figures(out, log) if extra else (wall, cpu)
            ok = True if not extra else same(ref, out)
            if not extra:
                if ref.exists():
                    ok = same(ref, out)
                    shutil.rmtree(out)
                else:
                    out.rename(ref)
            else:
                shutil.rmtree(out, ignore_errors=True)
            r = res.setdefault(label, {"wall_s": [], "job_s": [], "cpu_s": [], "identical": True, "loads": []})
            r["wall_s"].append(round(wall, 2))
            r["job_s"].append(round(job, 2))
            r["cpu_s"].append(round(cpu, 2))
            r["identical"] &= ok
            r["loads"].append(f"{l0} -> {load()}")
            print(f"{name:7s} round {rnd + 1} {label:14s} wall {wall:7.1f} s  job {job:7.1f} s  work CPU {cpu:7.1f} s  "
                  f"identical={ok}  "
                  f"[{l0} -> {load()}]", flush=True)
    for r in res.values():
        r["wall_median_s"] = statistics.median(r["wall_s"])
        r["job_median_s"] = statistics.median(r["job_s"])
        r["cpu_median_s"] = statistics.median(r["cpu_s"])
    one = res["one process"]["wall_median_s"]
    for label in ("ray 1 worker", "ray 2 workers"):
        r = res[label]
        r["speedup_wall"] = round(one / r["wall_median_s"], 3)
        r["speedup_job"] = round(one / r["job_median_s"], 3)
        r["cpu_ratio"] = round(r["cpu_median_s"] / res["one process"]["cpu_median_s"], 3)
    print(f"{name}: medians; speed-up vs one process: 1 worker {res['ray 1 worker']['speedup_wall']}x wall "
          f"({res['ray 1 worker']['speedup_job']}x job), 2 workers {res['ray 2 workers']['speedup_wall']}x wall "
          f"({res['ray 2 workers']['speedup_job']}x job); work CPU / one process's: 1 worker "
          f"{res['ray 1 worker']['cpu_ratio']}, 2 workers {res['ray 2 workers']['cpu_ratio']}", flush=True)
    shutil.rmtree(ref, ignore_errors=True)
    return res


def wait_port(port: int, proc, timeout: float = 180) -> None:
    import socket
    t = time.time()
    while time.time() - t < timeout:
        if proc.poll() is not None:
            sys.exit(f"ray start --head exited {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    sys.exit(f"the head node did not open port {port} in {timeout} s")


def wait_nodes(port: int, n: int, e: dict, timeout: float = 180) -> None:
    """Until the cluster lists n alive nodes."""
    code = (f"import ray; ray.init(address='127.0.0.1:{port}', logging_level='ERROR'); "
            "print(sum(x['Alive'] for x in ray.nodes()))")
    t = time.time()
    while time.time() - t < timeout:
        r = subprocess.run([PY, "-c", code], env=e, capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(2)
    sys.exit(f"the cluster did not reach {n} nodes in {timeout} s")


def multinode(work: Path, count: int) -> dict:
    """Two Ray nodes (separate `ray start` processes) sharing one output folder; the job is killed
    halfway and the same command resumes it; compared with one process."""
    port = 20000 + secrets.randbelow(20000)
    tmp = Path(f"/tmp/deepx-bench-ray-{port}")
    e = env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
    ray_bin = str(Path(PY).with_name("ray"))
    opts = ["--count", count, "--resolution", "160", "--samples", "4", "--seed", "7"]
    ref, out = work / "mn-one", work / "mn-ray"
    for d in (ref, out):
        shutil.rmtree(d, ignore_errors=True)
    timed(cli("generate", "--out", ref, *opts, "-q", "--threads", "1"))
    res = {"port": port}
    # each node is a blocking `ray start` process of ours, stopped by its pid (SIGTERM stops the
    # node's Ray processes), never by `ray stop` (that would stop every Ray on the machine)
    nodes = [subprocess.Popen([ray_bin, "start", "--head", "--block", "--port", str(port), "--num-cpus", "1",
                               "--temp-dir", str(tmp), "--include-dashboard=false", "--disable-usage-stats"],
                              env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_port(port, nodes[0])
        nodes.append(subprocess.Popen([ray_bin, "start", "--block", "--address", f"127.0.0.1:{port}", "--num-cpus",
                                       "1", "--disable-usage-stats"], env=e, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        wait_nodes(port, 2, e)
        cmd = cli("generate", "--out", out, *opts, "--ray", f"127.0.0.1:{port}")
        t = time.perf_counter()
        p = subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while len(list((out / "labels").glob("*.json"))) < int(count) // 2:
            if p.poll() is not None:
                sys.exit(f"multi-node job ended early: {p.communicate()}")
            time.sleep(0.2)
        p.send_signal(signal.SIGKILL)           # the driver dies without a word; its tasks are killed
        p.wait()
        time.sleep(2)
        res["done_when_killed"] = len(list((out / "labels").glob("*.json")))
        res["first_s"] = round(time.perf_counter() - t, 2)
        wall, log, _ = timed(cmd, e)
        res["resume_wall_s"] = round(wall, 2)
        s = json.loads((out / "summary.json").read_text())
        res["nodes"] = len(s["ray"]["nodes"])
        res["tasks"] = s["ray"]["tasks"]
        res["identical"] = same(ref, out)
        print(f"multi-node: 2 nodes, {count} renders; killed at {res['done_when_killed']}/{count} after "
              f"{res['first_s']} s; resumed in {wall:.1f} s on {res['nodes']} nodes; identical={res['identical']}",
              flush=True)
    finally:
        for n in reversed(nodes):
            n.send_signal(signal.SIGTERM)
            try:
                n.wait(60)
            except subprocess.TimeoutExpired:
                n.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="/tmp/deepx-bench-ray", help="scratch folder (removed parts as it goes)")
    p.add_argument("--poses", type=int, default=80000, help="pose rows for the sample benchmark (x16 cameras)")
    p.add_argument("--renders", type=int, default=160, help="160x160 Cycles renders per run")
    p.add_argument("--multinode-renders", type=int, default=60)
    p.add_argument("--rounds", type=int, default=2, help="interleaved repeats of each scaling run (medians)")
    p.add_argument("--parts", default="sample,render,multinode")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    parts = a.parts.split(",")
    print(f"{os.cpu_count()} CPUs; {load()}", flush=True)
    res = {"cpus": os.cpu_count()}
    if "sample" in parts:
        sys.path.insert(0, str(ROOT))
        from deepx_addon.core.standin import stick_figure_table
        table = work / "table.npz"
        stick_figure_table(a.poses, seed=1).save(table)
        res["sample"] = scaling("sample", lambda out: cli("sample", "--pose-table", table, "--out", out,
                                                          "--seed", "1", "--quiet"), work, a.rounds)
        res["sample"]["samples"] = a.poses * 16
    if "render" in parts:
        # the one-process run gets --threads 1 (one core, like one Ray worker); Ray tasks get
        # --threads = --ray-cpus-per-task = 1
        res["render"] = scaling("render", lambda out: cli("generate", "--out", out, "--count", a.renders,
                                                          "--resolution", "160", "--samples", "4", "--seed", "1",
                                                          "-q", "--threads", "1"), work, a.rounds)
        res["render"]["renders"] = a.renders
    if "multinode" in parts:
        res["multinode"] = multinode(work, a.multinode_renders)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
