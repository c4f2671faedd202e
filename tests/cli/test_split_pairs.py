"""scripts/split_pairs.py: render + detector pairs split by pose, with an exact-keypoint twin of the hold-out."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

def _row(pose_index, detected, camera=0):
    gt = [[10.0 + k, 20.0 + k, 1 if k != 3 else 0] for k in range(17)]
    kp = [[11.0 + k, 19.0 + k, 0.8] for k in range(17)] if detected else [[0.0, 0.0, 0.0]] * 17
    return {"pose_index": pose_index, "pose_seed": 1000 + pose_index, "camera_index": camera, "detected": detected,
            "gt_keypoints": gt, "keypoints": kp, "image": f"images/p{pose_index:06d}-c{camera:03d}.png"}


def test_split_by_pose_exact_twin_and_torn_line(tmp_path, repo_module):
    run = tmp_path / "run"
    (run / "pairs").mkdir(parents=True)
    rows = [_row(9, True), _row(9, False, 1), _row(3, True), _row(3, False, 1), _row(19, True)]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"pose_index": 4, "torn'
    (run / "pairs" / "shard0of1.jsonl").write_text(text)
    out = tmp_path / "split"
    assert repo_module("scripts/split_pairs.py").main(["--out", str(out), str(run)]) == 0
    hold = [json.loads(x) for x in (out / "pairs_hold.jsonl").read_text().splitlines()]
    fit = [json.loads(x) for x in (out / "pairs_fit_det.jsonl").read_text().splitlines()]
    exact = [json.loads(x) for x in (out / "hold_exact.jsonl").read_text().splitlines()]
    fit_exact = [json.loads(x) for x in (out / "fit_exact.jsonl").read_text().splitlines()]
    assert [r["pose_index"] for r in hold] == [9, 9, 19]            # every hold-out row, detected or not
    assert [r["pose_index"] for r in fit] == [3]                     # fit side: detected rows only
    assert all(Path(r["image"]).is_absolute() for r in hold + fit)
    assert exact[1]["keypoints"][0] == [10.0, 20.0, 1.0] and exact[1]["keypoints"][3] == [0.0, 0.0, 0.0]
    assert all(r["detected"] for r in exact)
    assert [r["pose_index"] for r in fit_exact] == [3] and fit_exact[0]["keypoints"][0] == [10.0, 20.0, 1.0]
    counts = json.loads((out / "split.json").read_text())
    assert counts["torn_lines"] == 1 and counts["hold_people"] == 2 and counts["fit_people"] == 1
    assert not list(out.glob(".*.part"))


def test_refuses_output_inside_a_run(tmp_path, repo_module):
    run = tmp_path / "run"
    (run / "pairs").mkdir(parents=True)
    (run / "pairs" / "shard0of1.jsonl").write_text(json.dumps(_row(9, True)) + "\n")
    with pytest.raises(SystemExit):
        repo_module("scripts/split_pairs.py").main(["--out", str(run / "split"), str(run)])
