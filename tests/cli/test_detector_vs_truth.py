"""scripts/detector_vs_truth.py: segment ratios and joint offsets of detections against the truth."""
from __future__ import annotations

import numpy as np
import pytest


def _rows(shrink=0.9, shift_px=4.0):
    rng = np.random.default_rng(0)
    gt = np.array([[0, -80], [-4, -84], [4, -84], [-8, -82], [8, -82], [-20, -60], [20, -60], [-22, -30], [22, -30],
                   [-22, -5], [22, -5], [-10, 0], [10, 0], [-10, 45], [10, 45], [-10, 90], [10, 90]], float)
    rows = []
    for _ in range(5):
        c = rng.uniform(200, 400, 2)
        g = gt + c
        d = (g - c) * shrink + c + [0.0, shift_px]
        rows.append({"detected": True, "truncated": False, "family": "standing", "person_yaw_deg": 0.0,
                     "person_height_px": 180.0, "visibility": [2] * 17,
                     "gt_keypoints": [[x, y, 1] for x, y in g], "keypoints": [[x, y, 0.9] for x, y in d]})
    return rows


def test_segment_ratios_read_a_uniform_shrink(repo_module):
    m = repo_module("scripts/detector_vs_truth.py")
    ratios = m.segment_ratios(_rows(shrink=0.9))
    for name, (n, r) in ratios.items():
        assert n == 5 and r == pytest.approx(0.9, abs=1e-9), name


def test_joint_offsets_signs(repo_module):
    m = repo_module("scripts/detector_vs_truth.py")
    off = m.joint_offsets(_rows(shrink=1.0, shift_px=9.0))
    n, dy, nx, dx = off["left hip"]
    assert n == 5 and dy == pytest.approx(9.0 / 180.0) and nx == 5 and dx == pytest.approx(0.0)
    off = m.joint_offsets(_rows(shrink=0.9, shift_px=0.0))
    assert off["left shoulder"][3] < 0 and off["right shoulder"][3] < 0     # pulled towards the middle


def test_by_size_tabulates_ratios_per_height_bin(repo_module, tmp_path, capsys):
    import json
    m = repo_module("scripts/detector_vs_truth.py")
    rows = _rows(shrink=0.9)
    for r, h in zip(rows, (20.0, 20.0, 180.0, 180.0, 180.0)):
        r["person_height_px"] = h
    p = tmp_path / "pairs.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert m.main([str(p), "--by-size"]) == 0
    out = capsys.readouterr().out
    assert "by person height (px): 16-32  128-256" in out
    assert "0.900 (n=2)  0.900 (n=3)" in out
