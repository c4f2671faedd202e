"""scripts/offset_sensitivity.py: moving the detector's hips or shoulders, and how far estimates follow."""
from __future__ import annotations

import json

import numpy as np
import pytest

# a front-facing standing person, 200 px tall, torso (mid-shoulder to mid-hip) 60 px, pixels
_KP = [[320, 150], [316, 146], [324, 146], [310, 148], [330, 148], [300, 170], [340, 170], [296, 200],
       [344, 200], [294, 228], [346, 228], [308, 230], [332, 230], [308, 280], [332, 280], [308, 340],
       [332, 340]]


def _row(i=0, conf=0.9, **kw):
    return {"id": f"r{i}", "image_size": [640, 480], "K": [[1000, 0, 320], [0, 1000, 240], [0, 0, 1]],
            "keypoints": [[x, y, conf] for x, y in _KP], "distance_m": 8.0, "detected": True,
            "truncated": False, "person_height_px": 200.0, **kw}


def test_moved_keypoints_geometry(repo_module):
    m = repo_module("scripts/offset_sensitivity.py")
    k = m.moved_keypoints(_row(), hip_drop=0.05, shoulder_width=1.5)
    assert k[5, 0] == pytest.approx(290) and k[6, 0] == pytest.approx(350)       # 40 px apart -> 60
    assert k[11, 1] == pytest.approx(240) and k[12, 1] == pytest.approx(240)     # 0.05 x 200 px down the torso
    assert np.array_equal(k[[0, 9, 13, 16]], m.moved_keypoints(_row())[[0, 9, 13, 16]])   # nothing else moves
    assert not m.readable(_row(conf=0.4)) and not m.readable(_row(truncated=True)) and m.readable(_row())


def test_shoulder_hip_follows_the_torso_it_reads(repo_module, tmp_path, capsys):
    """shoulder-hip's distance is 0.48 m over the torso in the image: a torso 60 -> 66 px reads 1/1.1 as far;
    the shoulders' width does not enter it."""
    m = repo_module("scripts/offset_sensitivity.py")
    res = m.sensitivity([_row(i) for i in range(3)], ["shoulder_hip"], hip_drop=0.03, shoulder_width=1.3)
    r = res["shoulder_hip"]
    assert r["as read"][1] == 0.0
    assert r["hips moved"][1] == pytest.approx(60 / 66 - 1, abs=1e-3)
    assert r["shoulders moved"][1] == pytest.approx(0.0, abs=1e-9)
    assert r["both"][1] == pytest.approx(r["hips moved"][1], abs=1e-9)
    p = tmp_path / "det.jsonl"
    p.write_text("".join(json.dumps(_row(i)) + "\n" for i in range(3)) + json.dumps(_row(9, conf=0.2)) + "\n")
    assert m.main([str(p), "-e", "shoulder_hip", "--hip-drop", "0.03"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 people with shoulders and hips read")
    assert "hips moved" in out and "-9.1%" in out


def test_refuses_a_file_without_readable_people(repo_module, tmp_path):
    m = repo_module("scripts/offset_sensitivity.py")
    p = tmp_path / "det.jsonl"
    p.write_text(json.dumps(_row(conf=0.2)) + "\n")
    with pytest.raises(SystemExit):
        m.main([str(p), "-e", "shoulder_hip"])
    p.write_text("{not json\n")
    with pytest.raises(SystemExit):
        m.main([str(p), "-e", "shoulder_hip"])
