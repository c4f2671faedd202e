"""`deepx` command line. Each sub-command lives in its own module with add_arguments()/run();
heavy imports (torch, bpy, ultralytics) happen inside run(), so `deepx --help` is instant."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..runtime.threads import passive_wait
from .errors import CliError

# sub-command name -> module (relative to this package) providing HELP, add_arguments(p), run(args)
COMMANDS = {
    "predict": ".predict",
    "evaluate": ".evaluate",
    "demo": ".demo",
    "train": ".train",
    "generate": ".generate",
    "poses": ".poses",
    "sample": ".sample",
    "estimate": ".estimate",
    "detect": ".detect",
    "fit-noise": ".fit_noise",
    "holdout": ".holdout",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepx", description="DeepX: how far is this person from the camera?")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, mod in COMMANDS.items():
        m = importlib.import_module(mod, __package__)
        sp = sub.add_parser(name, help=m.HELP, description=m.HELP)
        m.add_arguments(sp)
        sp.set_defaults(_run=m.run, _parser=sp)   # _parser: --ray rebuilds a task's command line
    return p


def main(argv=None) -> int:
    passive_wait()   # before any command imports torch: its threads must not spin on a shared machine
    code = _run(argv)
    if argv is None and "bpy" in sys.modules:
        # The console command (not a call from Python): bpy as a module can crash while the
        # interpreter tears down (exit 139 after a correct, finished run, e.g. generate --blend).
        # Everything is written and flushed: leave with the real status before that teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _run(argv) -> int:
    from ..core.offline import keep_offline
    from ..core.outputs import OutputError

    keep_offline(blender=True)   # before any command imports ultralytics, matplotlib or bpy
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (CliError, OutputError) as e:
        print(f"deepx {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"deepx {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
