"""scripts/realism_report.py: recall by height and distinct detected people."""
from __future__ import annotations

import json


def _row(person, body, camera, scale=1.0, detected=True, h=100.0):
    return {"sample_id": f"p000000-c{camera:03d}", "person": person, "scale": scale, "detected": detected,
            "person_height_px": h * scale, "body": {"stature_m": body}, "outfit": {"lower": "skirt"},
            "keypoints": [[0, 0, 0]] * 17, "gt_keypoints": [[0, 0, 0]] * 17}


def test_a_person_seen_by_several_cameras_and_scales_counts_once(repo_module, tmp_path, capsys):
    m = repo_module("scripts/realism_report.py")
    run_a, run_b = tmp_path / "a" / "pairs", tmp_path / "b" / "pairs"
    run_a.mkdir(parents=True), run_b.mkdir(parents=True)
    rows = [_row(0, 1.70, 0), _row(0, 1.70, 1), _row(0, 1.70, 1, scale=0.5),     # one person, 3 images
            _row(1, 1.55, 0), _row(1, 1.62, 1),                                   # two others, one each
            _row(2, 1.80, 0, detected=False), _row(3, 1.65, 0, h=12.0),           # missed; too small
            _row(4, 1.75, 0, h=900.0)]                                            # too tall to count
    (run_a / "shard0of1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"torn')
    (run_b / "shard0of1.jsonl").write_text(json.dumps(_row(0, 1.70, 0)) + "\n")   # another run: another person
    assert m.main([str(run_a / "shard0of1.jsonl"), str(run_b / "shard0of1.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "rows 9, detected 8" in out
    assert "detected people 16-600 px tall: 6 person-images of 4 distinct people" in out
