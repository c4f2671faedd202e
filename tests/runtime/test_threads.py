"""Worker threads sleep instead of spinning (runtime/threads.py): set before torch loads, kept when
the user chose, and ONNX Runtime sessions created with spinning off."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deepx_addon.runtime.threads import ORT_NO_SPIN, ort_session_options

ROOT = Path(__file__).resolve().parents[2]


def _policy_after(code: str, env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_value is not None:
        env["OMP_WAIT_POLICY"] = env_value
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code + "\nimport os; print(os.environ.get('OMP_WAIT_POLICY'))"],
                         cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout.split()[-1]


def test_ml_package_and_cli_set_passive_before_torch():
    assert _policy_after("import deepx_addon.ml; import sys; assert 'torch' not in sys.modules", None) == "PASSIVE"
    assert _policy_after("from deepx_addon.cli.main import main\ntry:\n    main(['--help'])\n"
                         "except SystemExit: pass", None) == "PASSIVE"
    assert _policy_after("import deepx_addon.ml", "ACTIVE") == "ACTIVE"       # the user's choice is kept


def test_onnx_sessions_do_not_spin():
    pytest.importorskip("onnxruntime")
    opts = ort_session_options(2)
    assert opts.intra_op_num_threads == 2
    for k, v in ORT_NO_SPIN.items():
        assert opts.get_session_config_entry(k) == v
