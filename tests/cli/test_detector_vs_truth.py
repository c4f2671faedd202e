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


def test_by_outfit_groups_people_by_their_clothes(repo_module, tmp_path, capsys):
    """Coated people read at the true size, trousered ones with hips 9 px (5 % of 180) too high."""
    import json
    m = repo_module("scripts/detector_vs_truth.py")
    rows = _rows(shrink=1.0, shift_px=0.0)[:2] + _rows(shrink=1.0, shift_px=-9.0)[:3]
    rows[0]["outfit"] = rows[1]["outfit"] = {"coat": "open", "lower": "skirt"}
    for r in rows[2:]:
        r["outfit"] = {"coat": "none", "lower": "trousers"}
    table = m.outfit_table(rows)
    assert table["coat"][0] == 2 and table["skirt or dress"][0] == 0 and table["trousers or shorts"][0] == 3
    assert table["coat"][3] == (2, pytest.approx(0.0)) and table["trousers or shorts"][4] == (3, pytest.approx(-0.05))
    p = tmp_path / "pairs.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert m.main([str(p), "--by-outfit"]) == 0
    out = capsys.readouterr().out
    assert "trousers or shorts" in out and "-5.00 / -5.00 % (3)" in out and "  skirt or dress          0\n" in out


def test_by_view_groups_people_by_their_yaw_to_the_camera(repo_module, tmp_path, capsys):
    """Front views read at the true place, side views with hips 9 px (5 % of 180) too high; a row
    without a yaw is in no group, a yaw of -170 deg is a back view."""
    import json
    m = repo_module("scripts/detector_vs_truth.py")
    rows = _rows(shrink=1.0, shift_px=0.0)[:2] + _rows(shrink=1.0, shift_px=-9.0)[:3]
    rows[0]["person_yaw_deg"], rows[1]["person_yaw_deg"] = 10.0, -170.0
    for r, y in zip(rows[2:], (80.0, -95.0, None)):
        r["person_yaw_deg"] = y
    table = m.view_table(rows)
    assert [v[0] for v in table.values()] == [1, 0, 2, 0, 1]
    assert table["side (60-120 deg)"][2] == (2, pytest.approx(-0.05)) and table["front (0-30 deg)"][2][1] == 0
    p = tmp_path / "pairs.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert m.main([str(p), "--by-view"]) == 0
    out = capsys.readouterr().out
    assert "side (60-120 deg)" in out and "-5.00 / -5.00 % (2)" in out and "  front, turned (30-60 deg)       0\n" in out


def test_by_elevation_separates_the_pelvis_from_the_visible_hip(repo_module, tmp_path, capsys):
    """A detector that puts the visible hip half-way to the hidden one: the near-hip line finds b = 0.5
    and a = 0, and the mid-hip (both hips read at their mean) is not offset; elevations come from the
    camera's pose (here the camera frame is the world frame, the camera at the origin)."""
    import json
    m = repo_module("scripts/detector_vs_truth.py")
    rows = []
    for i, (sep, z) in enumerate([(-9.0, -2.0), (-5.0, -2.0), (-2.0, -2.0), (3.0, 1.0)]):
        r = _rows(shrink=1.0, shift_px=0.0)[0]
        r["person_yaw_deg"] = 90.0
        g = r["gt_keypoints"]
        g[12][1] = g[11][1] + sep                       # the hidden right hip's true place
        d = r["keypoints"]
        d[11][1] = d[12][1] = g[11][1] + sep / 2        # both read half-way
        r["visibility"][12] = 1
        k3 = np.zeros((17, 3))
        k3[11], k3[12] = (0.0, 10.0, z), (0.0, 10.0, z)
        r["keypoints_3d_cam"] = k3.tolist()
        r["camera"] = {"R": np.eye(3).tolist(), "t": [0, 0, 0], "position": [0, 0, 0]}
        rows.append(r)
    assert m.camera_elevation_deg(rows[0]) == pytest.approx(np.degrees(np.arctan2(2.0, 10.0)))
    assert m.camera_elevation_deg({"family": "standing"}) is None
    mid, near = m.hip_geometry(rows)
    n, a, b = near[(5, 15)]
    assert n == 3 and a == pytest.approx(0.0, abs=1e-12) and b == pytest.approx(0.5)
    assert mid[("side", (5, 15))] == (3, pytest.approx(0.0, abs=1e-12)) and (-90, 5) not in near
    p = tmp_path / "pairs.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert m.main([str(p), "--by-elevation"]) == 0
    out = capsys.readouterr().out
    assert "elevation +5..15 deg  n=    3  a = +0.00 %  b = 0.50" in out and "+0.00 % (3)" in out


def test_conditions_show_where_the_detector_adds_bias(repo_module, tmp_path):
    """Detections shrunk by 0.9 for CCTV people only: the detected keypoints read those people
    ~11 % farther than their exact keypoints, the eye-level ones exactly as far."""
    import json
    m = repo_module("scripts/detector_vs_truth.py")
    rows = []
    for i, (kind, shrink) in enumerate([("cctv", 0.9)] * 5 + [("handheld", 1.0)] * 5):
        r = _rows(shrink=shrink, shift_px=0.0)[i % 5]
        r.update(id=f"p{i}", K=[[800.0, 0, 320], [0, 800.0, 320], [0, 0, 1]], distance_m=7.0, height_m=1.75,
                 image_size=[640, 640], camera_kind=kind, occluded_by=[None] * 17)
        rows.append(r)
    p = tmp_path / "pairs.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = m.condition_table(m.read_rows([p], whole_only=False), "shoulder_hip")
    n, bias_det, _, bias_exact, _, bias_shape, _ = table["camera cctv"]
    assert n == 5 and bias_det - bias_exact == pytest.approx((1 / 0.9 - 1) * (1 + bias_exact), rel=1e-3)
    assert bias_shape == pytest.approx(bias_exact)      # a pure shrink: the shape at the true size is exact
    n, bias_det, _, bias_exact, _, _, _ = table["street-like"]
    assert n == 5 and bias_det == pytest.approx(bias_exact)
    assert table["children"][0] == 0 and table["all"][0] == 10


def test_real_photos_pair_the_detector_with_the_datasets_joints(repo_module, tmp_path, capsys):
    """--real: each photo's matching detection beside its ground-truth joints; an upright person
    counts as standing (their joint offsets are read), a lying one does not; a photo with nobody
    detected is left out."""
    import json

    import cv2

    from deepx_addon.runtime.detections import Detection
    m = repo_module("scripts/detector_vs_truth.py")
    gt = _rows(shrink=1.0)[0]["gt_keypoints"]
    lying = [[y, x, c] for x, y, c in gt]                      # the same joints turned on their side
    (tmp_path / "images").mkdir()
    recs = []
    for name, kp in (("up", gt), ("lying", lying), ("nobody", gt)):
        cv2.imwrite(str(tmp_path / "images" / f"{name}.png"), np.zeros((600, 600, 3), np.uint8))
        recs.append({"id": name, "image": f"images/{name}.png", "image_size": [600, 600],
                     "K": [[800.0, 0, 300], [0, 800.0, 300], [0, 0, 1]], "keypoints": kp,
                     "distance_m": 5.0, "reference": "pelvis"})
    jl = tmp_path / "real.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in recs))

    class Fake:       # reads every joint 6 px low; sees nobody in the third photo
        def __init__(self):
            self.calls = 0

        def detect(self, img):
            self.calls += 1
            if self.calls == 3:
                return [[]]
            kp = np.array(recs[self.calls - 1]["keypoints"], float) + [0.0, 6.0, 0.0]
            kp[:, 2] = 0.9
            return [[Detection(np.array([0, 0, 600, 600.0]), 0.9, kp)]]

    rows = m.real_rows(jl, Fake())
    assert [r["id"] for r in rows] == ["up", "lying"]
    assert "no detection matches the person in 1 photo(s), left out: nobody" in capsys.readouterr().err
    assert [r["family"] for r in rows] == ["standing", "other"] and rows[1]["person_height_px"] is None
    h = rows[0]["person_height_px"]
    assert h == pytest.approx((90 + 80) / 0.866, rel=1e-3)     # nose (-80) to ankles (+90) is 0.866 of stature
    n, dy, _, _ = m.joint_offsets(rows)["left hip"]
    assert n == 1 and dy == pytest.approx(6.0 / h)


def test_real_and_pair_files_are_exclusive(repo_module, tmp_path):
    m = repo_module("scripts/detector_vs_truth.py")
    with pytest.raises(SystemExit):
        m.main([])
    with pytest.raises(SystemExit):
        m.main([str(tmp_path / "p.jsonl"), "--real", str(tmp_path / "r.jsonl")])
    with pytest.raises(SystemExit):
        m.main(["--real", str(tmp_path / "r.jsonl"), "--conditions"])
