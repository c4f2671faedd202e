"""Worker threads that sleep instead of spinning: the setting for machines shared with other work.

torch's OpenMP pool (GNU libgomp) and ONNX Runtime's intra-op pool spin-wait between parallel
regions by default. With other CPU-bound processes on the machine the spinning threads steal the
cores the working ones need: YOLO11n-pose took 2.3x its quiet time beside two busy processes
(scripts/bench_busy.py measures it). A passive wait costs nothing measurable on a quiet machine.

``passive_wait()`` must run before torch is first imported (libgomp reads OMP_WAIT_POLICY once, when
it loads); the CLI calls it first thing, ml/__init__ on import. A value the user set is kept.
``ORT_NO_SPIN`` is the ONNX Runtime session setting with the same effect.
"""
from __future__ import annotations

import os
import sys

ORT_NO_SPIN = {"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"}


def passive_wait() -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE unless set already; False when torch was imported before (too late)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return "torch" not in sys.modules


def ort_session_options(threads: int | None = None):
    """onnxruntime.SessionOptions with spinning off (and ``threads`` intra-op threads when given)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    for k, v in ORT_NO_SPIN.items():
        opts.add_session_config_entry(k, v)
    return opts
