"""`--ray [ADDRESS]` for the sharded commands (generate, sample, detect): every shard a Ray task.

Each task runs the command's own single-shard form (``deepx CMD ... --shard i/N``) in a child
process of the Ray worker, so a render task is one Blender process, exactly what a single-machine
shard runs; the output is therefore the same bytes as a single-process run with the same seed.
The driver only plans, shows one progress bar (counted from the output folder, which every node
must see: shared storage), and runs the command's finalize step when every task is done.

Failures: a task whose child process fails (killed, out of memory, a node lost) is retried
(``--ray-retries``); the shard resumes from what is on disk. A killed job is resumed by running the
same command again. Nothing is written to the home folder: a local cluster gets its temp dir under
/tmp (removed afterwards) and a random in-memory auth token; usage stats and the dashboard are off.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import CliError

LOCAL = "local"


def add_arguments(p, cpus_help: str = "CPUs per task (default 1)") -> None:
    g = p.add_argument_group("Ray (pip install deepx[ray])")
    g.add_argument("--ray", nargs="?", const=LOCAL, metavar="ADDRESS",
                   help="run every shard as a Ray task: on a local cluster (no ADDRESS), or on a running "
                        "cluster (ADDRESS: host:port of `ray start --head`, or auto); the output folder must "
                        "be on storage every node sees")
    g.add_argument("--ray-tasks", type=int, metavar="N", help="number of shards/tasks (default: the cluster's "
                   "CPUs / --ray-cpus-per-task); any N gives the same output")
    g.add_argument("--ray-cpus-per-task", type=int, default=1, metavar="C", help=cpus_help)
    g.add_argument("--ray-num-cpus", type=int, metavar="N", help="CPUs of the local cluster (default: all)")
    g.add_argument("--ray-retries", type=int, default=3, metavar="R", help="retries of a failed task (default 3)")


RAY_DESTS = ("ray", "ray_tasks", "ray_cpus_per_task", "ray_num_cpus", "ray_retries")


def argv_of(parser, args, drop=()) -> list[str]:
    """The command line that gives ``args`` (options whose value differs from the default), without
    the Ray options and the dests in ``drop``: what each task's child process runs."""
    out: list[str] = []
    for a in parser._actions:
        if not a.option_strings or a.dest in ("help",) + RAY_DESTS + tuple(drop):
            continue
        v = getattr(args, a.dest, None)
        if v is None or v == a.default:
            continue
        opt = a.option_strings[-1] if a.option_strings[-1].startswith("--") else a.option_strings[0]
        if a.nargs == 0:                       # store_true
            out.append(opt)
        elif isinstance(v, list) and a.__class__.__name__ == "_AppendAction":
            for item in v:
                out += [opt, str(item)]
        elif isinstance(v, (list, tuple)):
            out += [opt, *map(str, v)]
        else:
            out += [opt, str(v)]
    return out


# ------------------------------------------------------------------------------------------------
# the task: one shard = one child process

def _die_with_parent():
    """Child processes die with the Ray worker (a cancelled or killed task leaves no render behind)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_shard(argv: list[str], env: dict | None = None, cwd: str | None = None) -> dict:
    """Run ``python -m deepx_addon.cli *argv`` with this node's deepx in the driver's working folder
    ``cwd`` (relative paths mean what they meant to the driver); raise on failure (Ray retries)."""
    import subprocess

    import deepx_addon
    root = str(Path(deepx_addon.__file__).resolve().parents[1])
    e = dict(os.environ, **(env or {}))
    e["PYTHONPATH"] = os.pathsep.join([root] + [p for p in e.get("PYTHONPATH", "").split(os.pathsep) if p])
    if cwd and not os.path.isdir(cwd):
        raise RuntimeError(f"the driver's working folder {cwd} is not on node {os.uname().nodename}: "
                           "run deepx from a folder on the shared storage")
    import resource
    t0, ru0 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([sys.executable, "-m", "deepx_addon.cli", *argv], env=e, cwd=cwd, capture_output=True, text=True,
                       preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    if r.returncode != 0:
        tail = " | ".join((r.stderr or r.stdout).strip().splitlines()[-4:])
        raise RuntimeError(f"deepx {' '.join(argv[:1])} shard exited {r.returncode} on {os.uname().nodename}: {tail}")
    try:                             # several nodes may share a host name (as in the simulated cluster)
        import ray
        node = ray.get_runtime_context().get_node_id()
    except Exception:
        node = os.uname().nodename
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)       # the child's CPU time (it has been waited for)
    cpu = ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime
    return {"seconds": time.time() - t0, "cpu_s": cpu, "node": node}


# ------------------------------------------------------------------------------------------------
# the driver

def _import_ray(local: bool = False):
    # before ray is imported (it reads them once): no usage reports; for a local cluster, token
    # auth with a random in-memory token (Ray would otherwise write ~/.ray/auth_token)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if local:       # Ray starts workers at nice 15: a render would yield to any other process
        os.environ.setdefault("RAY_worker_niceness", "0")
    if local and "RAY_AUTH_MODE" not in os.environ and "RAY_AUTH_TOKEN" not in os.environ:
        import secrets
        os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
        if "ray" in sys.modules:        # imported before: refresh its config as Ray itself does
            try:
                from ray._raylet import Config
                Config.initialize("")
            except (ImportError, AttributeError):
                pass
    try:
        import ray
    except ImportError:
        raise CliError("--ray needs Ray: pip install 'deepx[ray]' (or the ray version in requirements.lock)") from None
    return ray


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextmanager
def session(address: str | None, num_cpus: int | None = None):
    """ray.init on a local cluster (address None/'local') or a running one; shut down afterwards."""
    local = address in (None, LOCAL)
    ray = _import_ray(local)
    tmp = None
    kw = dict(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    # SIGTERM (kill, Slurm's scancel) stops the job as Ctrl-C does, from the cluster's start on:
    # the cluster is shut down and the tasks' processes die with it; a rerun resumes
    import signal
    old = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    try:
        if local:
            tmp = tempfile.mkdtemp(prefix="deepx-ray-", dir="/tmp" if os.path.isdir("/tmp") else None)
            kw.update(num_cpus=num_cpus or os.cpu_count(), num_gpus=0, _temp_dir=tmp)
        else:
            kw["address"] = address
        for attempt in range(1, 4):
            try:
                ray.init(**kw)
                break
            except Exception as e:      # Ray raises ConnectionError, RuntimeError, ValueError, Exception ...
                ray.shutdown()
                # a local node waits 30 s (fixed in Ray) for its raylet: on a busy machine try again
                if not local or attempt == 3:
                    raise CliError(f"--ray {address or ''}: cannot start/join the cluster "
                                   f"({type(e).__name__}: {e})") from None
                print(f"deepx: Ray's local cluster did not start ({e}); trying again", file=sys.stderr)
        if old is not None:             # ray.init puts its own (aborting) SIGTERM handler in: ours again
            signal.signal(signal.SIGTERM, _interrupt)
        yield ray
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
        ray.shutdown()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def run_tasks(args, make_argvs, units: int, done, total: int, label: str, poll_s: float = 1.0,
              env: dict | None = None) -> dict:
    """Run the tasks ``make_argvs(n)`` (n shards: --ray-tasks, else one per task slot of the cluster,
    at most ``units``) on the cluster of ``args.ray``; ``done()`` counts the finished units on disk
    for the progress bar. Returns {"tasks", "seconds", "nodes"}; CliError if a task still fails
    after its retries (the others finish first, so a rerun only redoes what is missing)."""
    from ..core.progress import ProgressBar

    cpus = max(1, int(args.ray_cpus_per_task))
    if args.ray_tasks is not None and args.ray_tasks < 1:
        raise CliError("--ray-tasks must be >= 1")
    with session(args.ray, args.ray_num_cpus) as ray:
        n = args.ray_tasks or int(ray.cluster_resources().get("CPU", 1)) // cpus
        argvs = make_argvs(max(1, min(n, units)))
        task = ray.remote(run_shard).options(num_cpus=cpus, max_retries=max(0, int(args.ray_retries)),
                                             retry_exceptions=True)
        t0 = time.time()
        pending = {task.remote(a, env, os.getcwd()): a for a in argvs}
        bar = ProgressBar(total, label, sys.stderr, every_s=10.0, enabled=not getattr(args, "quiet", False),
                          timing=False)
        first = last = done()           # a resumed job: the units done before do not count in the rate
        bar.update(last, f"{len(pending)} tasks ({first} done before)", force=True)
        errors, nodes, cpu = [], set(), 0.0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=poll_s)
            for ref in ready:
                argv = pending.pop(ref)
                try:
                    res = ray.get(ref)
                    nodes.add(res["node"])
                    cpu += res["cpu_s"]
                except Exception as e:                      # the task's last retry failed
                    shard = argv[argv.index("--shard") + 1]
                    errors.append(f"shard {shard}: {getattr(e, 'cause', None) or e}")
            now = min(done(), total)
            if now != last:
                el = time.time() - t0
                rate = (now - first) / max(el, 1e-9)
                eta = f" ~{(total - now) / rate:.0f}s left" if rate > 0 and now < total else ""
                bar.update(now, f"{len(pending)} tasks left, {rate:.1f}/s {el:.0f}s{eta}")
                last = now
        bar.close()
    if errors:
        raise CliError(f"{len(errors)} of {len(argvs)} Ray tasks failed after {args.ray_retries} retries "
                       f"(rerun the same command to resume): " + "; ".join(map(str, errors[:3])))
    # task_cpu_s: CPU seconds of the (last, successful) shard processes, for the overhead figures
    return {"tasks": len(argvs), "seconds": round(time.time() - t0, 3), "nodes": sorted(nodes),
            "task_cpu_s": round(cpu, 2)}


def absolute_paths(args, *dests) -> None:
    """Make path options absolute: a task's process runs in another folder (and node)."""
    for d in dests:
        v = getattr(args, d, None)
        if isinstance(v, str):
            setattr(args, d, str(Path(v).resolve()))
        elif isinstance(v, list):
            setattr(args, d, [str(Path(x).resolve()) for x in v])


def shard_argvs(command: str, base: list[str], n: int, extra=()) -> list[list[str]]:
    return [[command, *base, "--shard", f"{i}/{n}", "--quiet", *extra] for i in range(n)]


def count_files(folder, pattern: str) -> int:
    """Files matching ``pattern`` (no leading dot: temp files are '.name...tmp')."""
    import fnmatch
    try:
        with os.scandir(folder) as it:
            return sum(1 for e in it if not e.name.startswith(".") and fnmatch.fnmatch(e.name, pattern))
    except FileNotFoundError:
        return 0
