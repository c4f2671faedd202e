"""The torch-free ONNX detector (in-Blender preview) against Ultralytics' own torch pipeline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepx_addon.runtime import pose_onnx

ROOT = Path(__file__).resolve().parents[2]


def _has_cv2() -> bool:
    try:
        import cv2  # noqa: F401
        return True
    except ImportError:
        return False


def test_runtime_imports_neither_torch_nor_cv2_nor_bpy():
    code = ("import sys; import deepx_addon.runtime.pose_onnx; "
            "bad = [m for m in ('torch', 'cv2', 'bpy', 'ultralytics') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_numpy_resize_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    g = np.random.default_rng(0)
    for (h, w), (nw, nh) in [((480, 640), (640, 480)), ((1002, 1000), (639, 640)), ((2048, 2048), (640, 640)),
                             ((300, 200), (640, 427)), ((37, 53), (11, 9))]:
        img = g.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img = cv2.GaussianBlur(img, (5, 5), 2)  # photo-like smoothness
        d = np.abs(pose_onnx.resize_bilinear(img, nw, nh).astype(int) - cv2.resize(img, (nw, nh)).astype(int))
        assert d.max() <= 1 and (d > 0).mean() < 1e-3, ((h, w), (nw, nh), d.max(), (d > 0).mean())


def test_letterbox_and_decode_round_trip():
    img = np.zeros((300, 500, 3), np.uint8)
    lb, params = pose_onnx.letterbox(img, 640)
    assert lb.shape == (640, 640, 3) and params["pad_x"] == 0 and params["pad_y"] == 128
    assert (lb[:128] == 114).all() and (lb[128:512] == 0).all()
    # a fake network output: one person at a known place in letterbox pixels, plus a weaker duplicate
    out = np.zeros((56, 3), np.float32)
    kp = np.stack([np.linspace(100, 200, 17), np.linspace(200, 400, 17), np.full(17, 0.9)], 1)
    for i, (cx, cy, w, h, s) in enumerate([(150, 300, 100, 200, 0.9), (152, 301, 100, 200, 0.8), (600, 600, 10, 10, 0.1)]):
        out[:5, i] = cx, cy, w, h, s
        out[5:, i] = kp.reshape(-1)
    dets = pose_onnx.decode(out[None], params, conf=0.25, iou=0.7)
    assert len(dets) == 1 and dets[0].score == pytest.approx(0.9)
    g = params["gain_x"]
    assert np.allclose(dets[0].bbox, [100 / g, (200 - 128) / g, 200 / g, (400 - 128) / g], atol=1e-3)
    assert np.allclose(dets[0].keypoints[:, 0], kp[:, 0] / g, atol=1e-3)
    assert np.allclose(dets[0].keypoints[:, 1], np.clip((kp[:, 1] - 128) / g, 0, 300), atol=1e-3)


def test_numpy_nms_equals_the_torch_shim_reference():
    torch = pytest.importorskip("torch")
    from deepx_addon.ml.tv_shim import nms_reference

    g = np.random.default_rng(1)
    xy = g.uniform(0, 300, (400, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + g.uniform(1, 80, (400, 2)).astype(np.float32)], 1)
    scores = g.uniform(0, 1, 400).astype(np.float32)
    for thr in (0.45, 0.7):
        ref = nms_reference(torch.from_numpy(boxes), torch.from_numpy(scores), thr).numpy()
        assert np.array_equal(pose_onnx.nms_numpy(boxes, scores, thr), ref)
        if _has_cv2():
            assert set(pose_onnx.nms_cv2(boxes, scores, thr).tolist()) == set(ref.tolist())


# ---- against the torch detector on the real photos (examples/real) ----------------------------------------------
def _export(dynamic: bool):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import export_onnx
        return export_onnx.export(dynamic=dynamic)  # cached under runs/onnx/ by the weights' sha256
    except Exception as e:  # noqa: BLE001 - export needs ultralytics + onnx; skip with the reason
        pytest.skip(f"ONNX export impossible here: {type(e).__name__}: {e}")
    finally:
        sys.path.remove(str(ROOT / "scripts"))


@pytest.fixture(scope="module")
def onnx_path():
    return _export(dynamic=False)


@pytest.mark.slow
def test_onnx_equals_torch_on_real_photos(onnx_path, real_data):
    from deepx_addon.ml.detector import PoseDetector, read_image

    rows = [json.loads(line) for line in open(real_data / "h36m_3dhp_images.jsonl", encoding="utf-8")]
    images = [read_image(real_data / r["image"]) for r in rows]
    torch_dets = PoseDetector(batch=1).detect(images)
    onnx_dets = pose_onnx.OnnxPoseDetector(onnx_path).detect(images)
    assert sum(len(d) for d in torch_dets) >= len(rows)
    for row, td, od in zip(rows, torch_dets, onnx_dets):
        assert len(od) == len(td), row["id"]
        for a, b in zip(od, td):
            assert abs(a.score - b.score) < 0.02, row["id"]
            assert np.abs(a.bbox - b.bbox).max() < 1.5, row["id"]
            assert np.linalg.norm(a.keypoints[:, :2] - b.keypoints[:, :2], axis=1).max() < 1.5, row["id"]
            assert np.abs(a.keypoints[:, 2] - b.keypoints[:, 2]).max() < 0.02, row["id"]
    # RGB float input (what a Blender render gives) is accepted and agrees
    rgb = images[0][:, :, ::-1].astype(np.float32) / 255.0
    f = pose_onnx.OnnxPoseDetector(onnx_path).detect(rgb, rgb=True)[0]
    assert len(f) == len(onnx_dets[0]) and np.allclose(f[0].keypoints, onnx_dets[0][0].keypoints, atol=1e-3)


@pytest.fixture(scope="module")
def dynamic_onnx_path():
    return _export(dynamic=True)     # any input size: deepx estimate's default detector


def test_rect_letterbox_pads_to_the_stride_only():
    lb, params = pose_onnx.letterbox(np.zeros((375, 1242, 3), np.uint8), 640, stride=32)
    assert lb.shape == (224, 640, 3) and (params["pad_x"], params["pad_y"]) == (0, 15)
    assert pose_onnx.letterbox(np.zeros((480, 640, 3), np.uint8), 640, stride=32)[0].shape == (480, 640, 3)


def test_auto_input_size_is_the_image_own_size_within_bounds():
    from deepx_addon.runtime.detector import check_imgsz, input_size
    assert input_size("auto", 1080, 1920) == 1920 and input_size("auto", 375, 1242) == 1248
    assert input_size("auto", 480, 640) == 640 and input_size("auto", 160, 160) == 640     # small: enlarged as before
    assert input_size("auto", 3000, 4000) == 1920 and input_size(640, 3000, 4000) == 640
    assert check_imgsz("auto") == "auto" and check_imgsz(" AUTO ") == "auto"
    assert check_imgsz("1280") == 1280 and check_imgsz(960) == 960
    for bad in ("100", 33, "big", True, 0, 8192, "640.5", None):
        with pytest.raises(ValueError, match="input size"):
            check_imgsz(bad)


@pytest.mark.slow
def test_auto_finds_a_far_person_that_640_shrinks_away(dynamic_onnx_path, onnx_path, real_data):
    """A real person 150 px tall in a 3840 x 2160 frame: at a fixed 640 the frame is shrunk 6x and
    YOLO11n-pose misses them; 'auto' reads the frame at 1920 and finds them. A static graph refuses
    'auto' (its input size is fixed)."""
    from deepx_addon.ml.detector import read_image
    row = next(json.loads(x) for x in open(real_data / "h36m_3dhp_images.jsonl", encoding="utf-8") if "S7_Greeting" in x)
    im = read_image(real_data / row["image"])
    small = pose_onnx.resize_bilinear(im, im.shape[1] // 2, im.shape[0] // 2)
    frame = np.full((2160, 3840, 3), 118, np.uint8)
    frame[1000:1000 + small.shape[0], 1500:1500 + small.shape[1]] = small
    fixed = pose_onnx.OnnxPoseDetector(dynamic_onnx_path, imgsz=640).detect(frame)[0]
    auto = pose_onnx.OnnxPoseDetector(dynamic_onnx_path, imgsz="auto")
    x, _ = auto.preprocess(frame)
    assert x.shape == (1, 3, 1088, 1920)
    found = auto.detect(frame)[0]
    assert fixed == [] and len(found) == 1
    kp = np.asarray(row["keypoints"], float)
    assert 1500 <= found[0].bbox[0] and found[0].bbox[2] <= 1500 + small.shape[1] + 5
    assert found[0].bbox[3] - found[0].bbox[1] > 0.3 * (kp[:, 1].max() - kp[:, 1].min())
    with pytest.raises(ValueError, match="dynamic-shape graph"):
        pose_onnx.OnnxPoseDetector(onnx_path, imgsz="auto")


@pytest.mark.slow
def test_dynamic_onnx_equals_ultralytics_rect_and_estimate_uses_it(dynamic_onnx_path, onnx_path, real_data):
    """`deepx estimate`'s default detector: the dynamic graph letterboxed to the minimum rectangle gives
    Ultralytics' torch detections (its default rect predictor), wide images included, without torch."""
    from deepx_addon.ml.detector import PoseDetector, read_image

    rows = [json.loads(line) for line in open(real_data / "h36m_3dhp_images.jsonl", encoding="utf-8")][:4]
    images = [read_image(real_data / r["image"]) for r in rows]
    images += [np.ascontiguousarray(images[0][200:575]), np.ascontiguousarray(images[1][:600, :])]  # wide crops
    torch_dets = PoseDetector(batch=1).detect(images)
    onnx_det = pose_onnx.OnnxPoseDetector(dynamic_onnx_path)
    assert onnx_det.rect and onnx_det.stride == 32
    onnx_dets = onnx_det.detect(images)
    assert sum(len(d) for d in torch_dets) >= len(images)
    for td, od in zip(torch_dets, onnx_dets):
        assert len(od) == len(td)
        for a, b in zip(od, td):
            assert abs(a.score - b.score) < 1e-3 and np.abs(a.bbox - b.bbox).max() < 0.01
            assert np.abs(a.keypoints - b.keypoints).max() < 0.01
    with pytest.raises(ValueError, match="dynamic-shape graph"):
        pose_onnx.OnnxPoseDetector(onnx_path, rect=True)           # a static graph is square only
    big = [np.ascontiguousarray(np.concatenate([images[0], images[1][:, ::-1]], axis=1))]    # 2000 wide: auto 1920
    td, od = PoseDetector(batch=1, imgsz="auto").detect(big)[0], pose_onnx.OnnxPoseDetector(dynamic_onnx_path, imgsz="auto").detect(big)[0]
    assert len(td) == len(od) >= 2
    assert all(np.abs(a.keypoints - b.keypoints).max() < 0.01 for a, b in zip(od, td))
    code = ("import sys\nfrom deepx_addon.ml.api import DistanceEstimator\n"
            f"r = DistanceEstimator()({str(real_data / rows[0]['image'])!r}, camera={{'focal_px': 1000}})[0]\n"
            "print(type(DistanceEstimator().detector).__name__, r.status, 'torch' in sys.modules)")
    env = dict(os.environ, DEEPX_POSE_ONNX_DYNAMIC=str(dynamic_onnx_path))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["OnnxPoseDetector", "ok", "False"], out.stderr
