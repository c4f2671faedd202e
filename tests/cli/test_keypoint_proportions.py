"""scripts/keypoint_proportions.py: body proportions as a keypoint source reads them."""
from __future__ import annotations

import json

import numpy as np
import pytest

# an upright person: shoulders at y=0, hips 30 below, knees 23 below them, ankles 22 below those
UPRIGHT = [[0, -12, 1], [-2, -14, 1], [2, -14, 1], [-4, -13, 1], [4, -13, 1], [-10, 0, 1], [10, 0, 1],
           [-12, 15, 1], [12, 15, 1], [-12, 28, 1], [12, 28, 1], [-6, 30, 1], [6, 30, 1], [-6, 53, 1], [6, 53, 1],
           [-6, 75, 1], [6, 75, 1]]


def test_proportions_of_an_upright_person(repo_module):
    m = repo_module("scripts/keypoint_proportions.py")
    torso_leg, thigh_shin, sw_torso, head = m.proportions(UPRIGHT)
    assert torso_leg == pytest.approx(30 / 45) and thigh_shin == pytest.approx(23 / 22)
    assert sw_torso == pytest.approx(20 / 30) and head == pytest.approx(12 / 30)
    no_nose = [list(k) for k in UPRIGHT]
    no_nose[0][2] = 0.0
    assert np.isnan(m.proportions(no_nose)[3]) and m.proportions(no_nose)[0] == pytest.approx(30 / 45)


def test_lying_hidden_or_missing_joints_are_not_read(repo_module):
    m = repo_module("scripts/keypoint_proportions.py")
    lying = [[y, x, c] for x, y, c in UPRIGHT]
    hidden = [list(k) for k in UPRIGHT]
    hidden[15][2] = 0.1                          # an ankle below the confidence cut
    assert m.proportions(lying) is None and m.proportions(hidden) is None
    assert m.proportions(UPRIGHT[:12]) is None


def test_main_reads_detected_or_exact_keypoints(repo_module, tmp_path, capsys):
    m = repo_module("scripts/keypoint_proportions.py")
    wide = [list(k) for k in UPRIGHT]
    wide[5][0], wide[6][0] = -15.0, 15.0         # the detector reads the shoulders 1.5x as wide
    rows = [{"keypoints": wide, "gt_keypoints": UPRIGHT, "detected": True},
            {"keypoints": None, "gt_keypoints": UPRIGHT, "detected": False}]
    p = tmp_path / "pairs.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"torn')
    assert m.main([str(p)]) == 0
    assert "shoulder width / torso 1.000" in capsys.readouterr().out
    assert m.main([str(p), "--exact"]) == 0
    out = capsys.readouterr().out
    assert "1 people read" in out and "shoulder width / torso 0.667" in out
    assert "nose to shoulders / torso 0.400 (n=1)" in out
    real = tmp_path / "real.jsonl"
    real.write_text(json.dumps({"keypoints": UPRIGHT}) + "\n")
    with pytest.raises(SystemExit, match="gt_keypoints"):
        m.main([str(real), "--exact"])
    assert np.isnan(m.summary([])["torso/leg"])
