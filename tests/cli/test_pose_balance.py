"""scripts/pose_balance.py: the balance of sampled still people, per family, measured with this
checkout's validity checks on rows sampled by this one or another."""
from __future__ import annotations

import shutil

import pytest


def test_reports_every_family_and_the_checked_ones_balanced(repo_module, capsys):
    m = repo_module("scripts/pose_balance.py")
    assert m.main(["--n", "120", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.split()[0] != "all"}
    assert {"standing", "walking"} <= set(rows)
    for fam in ("standing", "bending", "crouching", "kneeling"):
        if fam in rows:
            assert rows[fam][5] == "0.0%", rows[fam]          # off balance: none of the held ones


def test_samples_with_another_checkout(repo_module, capsys, tmp_path):
    m = repo_module("scripts/pose_balance.py")
    with pytest.raises(SystemExit):
        m.main(["--n", "5", "--sample-with", str(tmp_path)])    # not a checkout
    assert "no deepx_addon/core/poses.py" in capsys.readouterr().err
    shutil.copytree(m.ROOT / "deepx_addon", tmp_path / "deepx_addon")
    shutil.copytree(m.ROOT / "presets", tmp_path / "presets")
    shutil.copy(m.ROOT / "pyproject.toml", tmp_path)           # marks the repo layout (core/paths.py)
    assert m.main(["--n", "20", "--sample-with", str(tmp_path), "--unchecked"]) == 0
    assert f"sampled with {tmp_path} (unchecked)" in capsys.readouterr().out
