"""The learned model: feature invariances, missing keypoints, training, save/load, ONNX, CLI."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepx_addon.core.camera import project
from deepx_addon.runtime import features as feat
from deepx_addon.core.standin import standin_data

ROOT = Path(__file__).resolve().parents[2]


def _clean(d, n=None):
    """Stand-in samples as detector-like input: conf 1 where visible."""
    kp = d["keypoints_2d"][:n].astype(float)
    kp[..., 2] = (kp[..., 2] > 0).astype(float)
    return kp, d["K"][:n]


# ---- features (numpy only) ------------------------------------------------------------------------------
def test_features_module_imports_no_torch():
    code = ("import sys; import deepx_addon.runtime.features, deepx_addon.core.standin, deepx_addon.core.noise; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_features_shape_target_and_centre():
    d = standin_data(2000, seed=5)
    kp, K = _clean(d)
    F = feat.extract(kp, K)
    assert F.x.shape == (2000, feat.N_FEATURES) == (2000, len(feat.feature_names()))
    assert F.x.dtype == np.float32 and np.all(np.isfinite(F.x))
    assert F.valid.mean() > 0.95
    v = F.valid
    # depth from the exact target, put on the centre's ray, is the true distance
    t = F.target(d["distance_m"])
    np.testing.assert_allclose(F.depth_from_target(t)[v] * F.ray_len[v], d["distance_m"][v], rtol=1e-9)
    # with both hips present the centre is the mid-hip pixel, and its depth the true depth
    both = v & F.mask[:, 11] & F.mask[:, 12]
    np.testing.assert_allclose(F.centre_px[both], (kp[both, 11, :2] + kp[both, 12, :2]) / 2, atol=1e-6)
    # (to perspective: the mid-point of the projected hips is not quite the projected mid-hip)
    np.testing.assert_allclose(F.depth_from_target(t)[both], d["depth_m"][both], rtol=1e-2)
    # the body size exp(t) does not depend on the distance: about the torso length (0.49 m)
    assert 0.35 < np.median(np.exp(t[v])) < 0.6


def test_features_missing_keypoints_are_masked():
    d = standin_data(50, seed=6)
    kp, K = _clean(d)
    kp[:, 9, 2] = 0.0                      # left wrist missing
    kp[:, 0, 2] = 0.05                     # nose below the threshold
    kp[:, 10, :2] = np.nan                 # right wrist position garbage: treated as missing
    F = feat.extract(kp, K)
    assert not F.mask[:, [0, 9, 10]].any()
    names = feat.feature_names()
    for k in ("nose", "left_wrist", "right_wrist"):
        assert np.all(F.x[:, names.index(f"mask_{k}")] == 0)
        assert np.all(F.x[:, names.index(f"shape_{k}_x")] == 0)
        assert np.all(F.x[:, names.index(f"conf_{k}")] == 0)
    assert np.all(np.isfinite(F.x))


def test_features_too_few_keypoints():
    kp = np.zeros((3, 17, 3))
    K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    kp[0, [0, 5, 11], :] = [[300, 100, 0.9], [310, 150, 0.9], [310, 250, 0.9]]      # 3 keypoints
    kp[1, [0, 1, 2, 7, 9], :] = [[300, 100, 0.9], [295, 95, 0.9], [305, 95, 0.9],
                                 [330, 180, 0.9], [335, 220, 0.9]]                    # face + an arm
    kp[2, [5, 11, 13, 15], :] = [[310, 150, 0.9], [310, 250, 0.9], [312, 320, 0.9], [312, 390, 0.9]]
    F = feat.extract(kp, K)
    assert F.valid.tolist() == [False, False, True]
    assert F.reason.tolist() == [feat.TOO_FEW, feat.NO_CORE_BONE, feat.NO_REASON]
    assert "only 3 keypoints" in F.reason_text(0, 0.1)
    assert "torso or leg bone" in F.reason_text(1, 0.1)


def test_features_exactly_invariant_to_resolution_focal_and_crop():
    d = standin_data(300, seed=7)
    kp, K = _clean(d)
    base = feat.extract(kp, K)
    # resolution: K and keypoints scaled together
    s = 0.37
    kp2 = kp.copy()
    kp2[..., :2] *= s
    K2 = K.copy()
    K2[:, :2] *= s
    np.testing.assert_allclose(feat.extract(kp2, K2).x, base.x, rtol=1e-5, atol=1e-6)
    # crop: principal point and keypoints shifted together
    kp3 = kp.copy()
    kp3[..., 0] -= 123.0
    kp3[..., 1] += 45.5
    K3 = K.copy()
    K3[:, 0, 2] -= 123.0
    K3[:, 1, 2] += 45.5
    np.testing.assert_allclose(feat.extract(kp3, K3).x, base.x, rtol=1e-5, atol=1e-6)



def test_feature_version_2_adds_the_pixel_scale_and_only_it_changes_with_resolution():
    d = standin_data(300, seed=7)
    kp, K = _clean(d)
    v1, v2 = feat.extract(kp, K), feat.extract(kp, K, version=2)
    assert v2.x.shape == (300, feat.n_features(2)) == (300, feat.N_FEATURES + 1)
    assert feat.feature_names(2)[-1] == "log_px_scale"
    np.testing.assert_array_equal(v2.x[:, :-1], v1.x)
    ok = v2.valid
    # log(s * f / 100): s is the body size in K^-1 units, so s * f is pixels
    f = np.sqrt(K[:, 0, 0] * K[:, 1, 1])
    np.testing.assert_allclose(v2.x[ok, -1], np.clip(np.log(v2.scale[ok] * f[ok] / 100), -4, 4), rtol=1e-5, atol=1e-5)
    # half the resolution: every feature but the pixel scale stays, which drops by log 2
    kp2, K2 = kp.copy(), K.copy()
    kp2[..., :2] *= 0.5
    K2[:, :2] *= 0.5
    h = feat.extract(kp2, K2, version=2)
    np.testing.assert_allclose(h.x[:, :-1], v2.x[:, :-1], rtol=1e-5, atol=1e-6)
    inside = ok & (np.abs(v2.x[:, -1]) < 3.0)
    np.testing.assert_allclose(v2.x[inside, -1] - h.x[inside, -1], np.log(2.0), rtol=1e-4)
    assert not h.x[~ok].any()
    with pytest.raises(ValueError, match="feature version 3"):
        feat.extract(kp, K, version=3)


# ---- the network ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained on 6000 stand-in samples (about 8 s), saved to disk."""
    pytest.importorskip("torch")
    from deepx_addon.ml.train import TrainConfig, TrainData, save_result, train
    d = standin_data(6000, seed=11)
    data = TrainData.from_arrays(d["keypoints_2d"], d["K"], d["distance_m"], d["depth_m"], d["family"])
    cfg = TrainConfig(hidden=64, blocks=2, steps=200, batch_size=512, lr=3e-3, eval_every=50,
                      val_fraction=0.1, seed=3, threads=1)
    res = train(data, cfg, progress=False)
    out = tmp_path_factory.mktemp("model") / "tiny"
    json_path, st_path, curve = save_result(res, out, command="pytest")
    return res, json_path


@pytest.mark.torch
def test_training_lowers_validation_loss(trained):
    res, json_path = trained
    h = res.history
    assert h["val_nll"][-1] < h["val_nll"][0] - 0.3, h["val_nll"]
    assert res.metrics["median_rel"] < 0.12                  # stick figures, detector noise, 5 % stature spread
    assert res.metrics["coverage"] > 0.9
    doc = json.loads(json_path.read_text())
    assert doc["features"]["version"] == feat.FEATURE_VERSION
    assert doc["training"]["config"]["steps"] == 200 and doc["training"]["command"] == "pytest"
    assert doc["metrics"]["validation"]["median_rel"] == res.metrics["median_rel"]
    for name in (doc["weights"], doc["curve"]):
        assert (json_path.parent / name).stat().st_size > 1000


@pytest.mark.torch
def test_training_is_deterministic():
    from deepx_addon.ml.train import TrainConfig, TrainData, train
    d = standin_data(1500, seed=12)
    data = TrainData.from_arrays(d["keypoints_2d"], d["K"], d["distance_m"])
    cfg = TrainConfig(hidden=32, blocks=1, steps=15, batch_size=256, eval_every=5, seed=9, threads=1)
    a = train(data, cfg, progress=False)
    b = train(data, TrainConfig(**{**cfg.__dict__}), progress=False)
    for (k, va), vb in zip(a.net.state_dict().items(), b.net.state_dict().values()):
        assert np.array_equal(va.numpy(), vb.numpy()), k
    assert a.history["val_nll"] == b.history["val_nll"]


@pytest.mark.torch
def test_training_with_and_without_prefetch_and_nan_fill_is_identical(monkeypatch):
    """The batches prepared in a lower-priority thread (prefetch) and no NaN fill of new tensors
    change nothing: same weights, losses and metrics as preparing each batch in the loop with the
    fill on (the loop before 2 Dec 2026). An error in the thread reaches the caller."""
    import os
    import threading

    import torch

    from deepx_addon.ml import train as T
    d = standin_data(1500, seed=12)
    data = T.TrainData.from_arrays(d["keypoints_2d"], d["K"], d["distance_m"])
    cfg = dict(hidden=32, blocks=1, steps=12, batch_size=256, eval_every=4, seed=9, threads=2)
    a = T.train(data, T.TrainConfig(**cfg), progress=False)
    assert torch.utils.deterministic.fill_uninitialized_memory is False
    real_seed = T.set_seed

    def seed_with_fill(seed):
        real_seed(seed)
        torch.utils.deterministic.fill_uninitialized_memory = True
    with monkeypatch.context() as m:
        m.setattr(T, "prefetch", lambda gen, depth=2: gen)
        m.setattr(T, "set_seed", seed_with_fill)
        b = T.train(data, T.TrainConfig(**cfg), progress=False)
    for (k, va), vb in zip(a.net.state_dict().items(), b.net.state_dict().values()):
        assert torch.equal(va, vb), k
    assert a.history == b.history and a.metrics == b.metrics

    def items():
        yield os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        raise ValueError("bad batch")
    got = []
    with pytest.raises(ValueError, match="bad batch"):
        for x in T.prefetch(items()):
            got.append(x)
    if sys.platform == "linux":
        assert got == [min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)]


@pytest.mark.torch
def test_one_thread_between_the_matmuls_gives_the_same_weights(monkeypatch):
    """The step with one thread outside the Linear layers and LayerNorm's backward, and foreach
    AdamW (step_threads.py), trains exactly the network of the loop that ran every op on
    cfg.threads threads with AdamW's for-loop, and so does the default (the count between the
    matmuls chosen by timing). At these sizes (64 x 1024 tensors: parallel regions at 2 threads)
    the thread count does change LayerNorm's weight gradients, so the equality is not empty."""
    import contextlib
    import functools

    import torch

    from deepx_addon.ml import train as T
    from deepx_addon.ml.step_threads import StepThreads
    d = standin_data(6000, seed=12)
    data = T.TrainData.from_arrays(d["keypoints_2d"], d["K"], d["distance_m"])
    cfg = dict(hidden=64, blocks=2, steps=16, batch_size=1024, eval_every=4, seed=9, threads=2)
    calls = []
    real_set = torch.set_num_threads
    with monkeypatch.context() as m:
        m.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real_set(n))[1])
        m.setattr(T, "StepThreads", functools.partial(StepThreads, between=1))
        one = T.train(data, T.TrainConfig(**cfg), progress=False)
    assert calls.count(1) >= 16 * 6 and torch.get_num_threads() == 2 and one.threads_between == []
    with monkeypatch.context() as m:
        m.setattr(T, "StepThreads", functools.partial(StepThreads, between=2))
        m.setattr(T, "FOREACH", False)
        every = T.train(data, T.TrainConfig(**cfg), progress=False)
    chosen = T.train(data, T.TrainConfig(**cfg), progress=False)
    assert [s for s, _ in chosen.threads_between] == [15] and chosen.threads_between[0][1] in (1, 2)
    threads1 = T.train(data, T.TrainConfig(**{**cfg, "threads": 1}), progress=False)
    for other in (every, chosen):
        for (k, va), vb in zip(one.net.state_dict().items(), other.net.state_dict().values()):
            assert torch.equal(va, vb), k
        assert one.history == other.history and one.metrics == other.metrics
    assert not all(torch.equal(a, b) for a, b in zip(one.net.state_dict().values(), threads1.net.state_dict().values()))

    # a batch over 32k rows: the loss's mean is split per thread, so it stays on all threads
    d = standin_data(45000, seed=13)
    data = T.TrainData.from_arrays(d["keypoints_2d"], d["K"], d["distance_m"])
    cfg = dict(hidden=16, blocks=1, steps=3, batch_size=40000, eval_every=3, seed=9, threads=2)
    runs = []
    for between, summed in ((1, True), (2, True), (1, False)):
        with monkeypatch.context() as m:
            m.setattr(T, "StepThreads", functools.partial(StepThreads, between=between))
            if not summed:
                m.setattr(StepThreads, "all_threads", lambda self: contextlib.nullcontext())
            runs.append(T.train(data, T.TrainConfig(**cfg), progress=False).history["train_nll"])
    assert runs[0] == runs[1] != runs[2]


@pytest.mark.torch
def test_step_threads_switch_around_linear_and_layer_norm_backward():
    """Inside step(): Linear forward and backward and LayerNorm's backward on all threads, the rest
    (LayerNorm forward, ReLU's backward) on one; outside step() nothing changes; the hooks go on exit."""
    import torch
    from torch import nn

    from deepx_addon.ml.step_threads import StepThreads
    torch.set_num_threads(2)
    net = nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    seen = []

    def note(name, *_):
        seen.append((name, torch.get_num_threads()))

    def on_backward(name):                   # a forward hook that notes the count in the output's backward
        def hook(m, i, o):
            if o.grad_fn is not None:
                (o.grad_fn.register_prehook if name == "norm backward" else o.register_hook)(
                    lambda *_: note(name))
        return hook
    with StepThreads(net, 2, between=1) as st:
        net[0].register_forward_hook(lambda *_: note("norm forward"))
        net[1].register_forward_pre_hook(lambda *_: note("linear forward"))
        net[0].register_forward_hook(on_backward("norm backward"))
        net[2].register_forward_hook(on_backward("relu grad"))
        x = torch.randn(4, 8, requires_grad=True)
        with st.step():
            out = net(x)
            with st.all_threads():
                assert torch.get_num_threads() == 2
            assert torch.get_num_threads() == 1
            out.sum().backward()
        assert torch.get_num_threads() == 2
        assert sorted(seen) == [("linear forward", 2), ("norm backward", 2), ("norm forward", 1), ("relu grad", 1)]
        seen.clear()
        net(x).sum().backward()                       # outside step(): all threads everywhere
        assert {n for _, n in seen} == {2}
        handles = len(st.handles)
    assert handles == 5 and st.handles == [] and torch.get_num_threads() == 2


@pytest.mark.torch
def test_step_threads_probes_keep_the_faster_count():
    """Timed steps 3-14 of every 100 run in pairs at all threads and 1 (2, 1, 1, 2, ...), each timed
    from its start to the next timed step's (so work after the step block counts too); the count
    faster in the median pair is kept."""
    import time

    import torch
    from torch import nn

    from deepx_addon.ml.step_threads import StepThreads
    for slow, fast, after in ((1, 2, False), (2, 1, True)):
        with StepThreads(nn.Linear(2, 2), 2) as st:
            seen = []
            for _ in range(116):
                with st.step(timed=True):
                    seen.append(torch.get_num_threads())
                    time.sleep(0.004 if seen[-1] == slow and not after else 0.0)
                time.sleep(0.004 if seen[-1] == slow and after else 0.0)   # e.g. the optimiser step
        assert seen[:2] == [1, 1] and seen[2:14] == [2, 1, 1, 2] * 3 and set(seen[14:102]) == {fast}
        assert st.choices == [(15, fast), (115, fast)]


@pytest.fixture(scope="module")
def estimator(trained):
    from deepx_addon.runtime.model import LearnedEstimator
    return LearnedEstimator.load(trained[1])


@pytest.mark.torch
def test_prediction_invariant_to_resolution_and_focal_length(estimator):
    d = standin_data(200, seed=21)
    P = d["keypoints_3d_cam"].astype(float)
    ok = np.all(P[..., 2] > 0.1, axis=1)
    P = P[ok]
    K1 = np.array([[800.0, 0, 640], [0, 800, 360], [0, 0, 1]])
    K2 = np.array([[2300.0, 0, 500], [0, 2250, 410], [0, 0, 1]])      # other focal, principal point
    kp1 = np.concatenate([project(P, K1), np.full(P.shape[:2] + (1,), 0.9)], -1)
    kp2 = np.concatenate([project(P, K2), np.full(P.shape[:2] + (1,), 0.9)], -1)
    r1, r2 = estimator.predict_arrays(kp1, K1), estimator.predict_arrays(kp2, K2)
    assert np.all(np.isfinite(r1["distance_m"]))
    np.testing.assert_allclose(r2["distance_m"], r1["distance_m"], rtol=1e-5)
    np.testing.assert_allclose(r2["sigma_m"], r1["sigma_m"], rtol=1e-5)
    # resolution change of the same image: keypoints and K scaled together
    s = 2.5
    K3 = K1.copy()
    K3[:2] *= s
    kp3 = kp1.copy()
    kp3[..., :2] *= s
    e1 = estimator.estimate_batch(kp1, K1)
    e3 = estimator.estimate_batch(kp3, K3)
    for a, b in zip(e1, e3):
        assert b.distance_m == pytest.approx(a.distance_m, rel=1e-5)
        assert b.depth_m == pytest.approx(a.depth_m, rel=1e-5)
    # the prediction tracks the truth on this easy clean data
    rel = np.abs(r1["distance_m"] / d["distance_m"][ok] - 1)
    assert np.median(rel) < 0.15


@pytest.mark.torch
def test_missing_keypoints_and_statuses(estimator):
    d = standin_data(40, seed=22)
    kp, K = _clean(d)
    kp[:, :5, 2] = 0.0                     # no face
    kp[:, [9, 14], 2] = 0.0                # a wrist and a knee lost
    ests = estimator.estimate_batch(kp, K)
    valid = [e for e in ests if e.has_value]
    assert len(valid) >= 35
    for e in valid:
        assert np.isfinite(e.distance_m) and np.isfinite(e.sigma_m) and e.sigma_m > 0
        assert e.distance_m == pytest.approx(float(np.linalg.norm(e.position_m)))
    r = estimator.predict_arrays(kp, K)
    assert not r["features"].mask[:, [0, 1, 2, 3, 4, 9, 14]].any()
    # too few keypoints -> no_estimate with a reason
    few = kp[0].copy()
    few[4:, 2] = 0.0
    few[[5, 11, 13], 2] = 0.9
    few[:3, 2] = 0.0
    e = estimator.estimate(few, K[0])
    assert e.status == "no_estimate" and e.distance_m is None and "keypoints" in e.reason
    # weak keypoints: an estimate from those below the threshold, flagged low_confidence
    weak = kp[1].copy()
    weak[:, 2] = np.where(weak[:, 2] > 0, 0.05, 0.0)
    e = estimator.estimate(weak, K[1])
    assert e.status == "low_confidence" and e.has_value and "below confidence" in e.reason
    # low mean confidence
    low = kp[1].copy()
    low[:, 2] = np.where(low[:, 2] > 0, 0.2, 0.0)
    e = estimator.estimate(low, K[1])
    assert e.status == "low_confidence" and "mean keypoint confidence" in e.reason
    # single estimate == batch estimate
    assert estimator.estimate(kp[3], K[3]).distance_m == pytest.approx(ests[3].distance_m, rel=1e-6)


@pytest.mark.torch
def test_save_load_round_trip_and_checksum(trained, estimator, tmp_path):
    from deepx_addon.runtime.model import LearnedEstimator
    res, json_path = trained
    d = standin_data(100, seed=23)
    kp, K = _clean(d)
    doc = json.loads(json_path.read_text())
    mem = LearnedEstimator.from_net(res.net, doc).predict_arrays(kp, K)
    disk = estimator.predict_arrays(kp, K)
    np.testing.assert_array_equal(mem["t"], disk["t"])
    np.testing.assert_array_equal(mem["log_b"], disk["log_b"])
    # damaged weights are refused
    bad = tmp_path / "bad.json"
    bad.write_text(json_path.read_text())
    blob = bytearray((json_path.parent / doc["weights"]).read_bytes())
    blob[-5] ^= 0xFF
    (tmp_path / doc["weights"]).write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="checksum"):
        LearnedEstimator.load(bad)
    wrong = dict(doc, features=dict(doc["features"], version=99))
    (tmp_path / "wrong.json").write_text(json.dumps(wrong))
    with pytest.raises(ValueError, match="feature version 99"):
        LearnedEstimator.load(tmp_path / "wrong.json")
    assert "tiny" in estimator.describe()


@pytest.mark.torch
def test_onnx_export_matches_torch_and_runs_without_torch(trained, estimator, tmp_path):
    pytest.importorskip("onnxruntime")
    res, json_path = trained
    onnx_path = estimator.export_onnx()
    assert onnx_path == json_path.with_suffix(".onnx") and onnx_path.exists()
    from deepx_addon.runtime.model import LearnedEstimator
    d = standin_data(300, seed=24)
    kp, K = _clean(d)
    a = estimator.predict_arrays(kp, K)
    b = LearnedEstimator.load(json_path, backend="onnx").predict_arrays(kp, K)
    np.testing.assert_allclose(b["distance_m"], a["distance_m"], rtol=1e-5)
    np.testing.assert_allclose(b["sigma_m"], a["sigma_m"], rtol=1e-4)
    # the torch-free runtime really imports no torch
    np.save(tmp_path / "kp.npy", kp[:5])
    np.save(tmp_path / "K.npy", K[:5])
    code = (f"import sys, numpy as np\nfrom deepx_addon.runtime.model import LearnedEstimator\n"
            f"e = LearnedEstimator.load({str(json_path)!r}, backend='onnx')\n"
            f"r = e.estimate_batch(np.load({str(tmp_path / 'kp.npy')!r}), np.load({str(tmp_path / 'K.npy')!r}))\n"
            f"print('torch' in sys.modules, [round(x.distance_m, 4) for x in r])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("False")
    ref = [round(x.distance_m, 4) for x in estimator.estimate_batch(kp[:5], K[:5])]
    got = json.loads(out.stdout.split(" ", 1)[1])
    np.testing.assert_allclose(got, ref, atol=2e-4)


@pytest.mark.torch
def test_shipped_model_runs_on_onnx_by_default_and_agrees_with_torch(real_data, tmp_path):
    """registry.build picks ONNX Runtime when NAME.onnx is there (no torch import: cold start), with
    the torch network's numbers to float32 rounding; a retrained model loses its stale .onnx."""
    pytest.importorskip("onnxruntime")
    from deepx_addon.core.paths import default_model_path
    from deepx_addon.core.records import read_jsonl
    from deepx_addon.ml import registry
    from deepx_addon.ml.model import load_model, save_model
    from deepx_addon.runtime.model import LearnedEstimator, OnnxRunner

    path = default_model_path()
    est = registry.build("default")
    assert isinstance(est.runner, OnnxRunner)
    recs = list(read_jsonl(real_data / "kitti_train.jsonl"))
    kp, K = np.stack([r.keypoints for r in recs]), np.stack([r.K for r in recs])
    a = est.predict_arrays(kp, K)
    b = LearnedEstimator.load(path, backend="torch").predict_arrays(kp, K)
    np.testing.assert_array_equal(a["status"], b["status"])
    np.testing.assert_allclose(a["distance_m"], b["distance_m"], rtol=1e-6)
    np.testing.assert_allclose(a["sigma_m"], b["sigma_m"], rtol=1e-5)
    code = ("import sys\nfrom deepx_addon.cli.main import main\n"
            f"assert main(['predict', '-i', {str(real_data / 'h36m_3dhp_images.jsonl')!r}, '-o', "
            f"{str(tmp_path / 'o.jsonl')!r}]) == 0\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False", out.stderr
    net, doc = load_model(path)
    meta = {k: v for k, v in doc.items() if k not in ("format", "format_version", "name", "weights",
                                                      "weights_sha256", "architecture", "normalisation")}
    (tmp_path / "m.onnx").write_bytes(path.with_suffix(".onnx").read_bytes())
    save_model(net, tmp_path / "m", meta)
    assert not (tmp_path / "m.onnx").exists() and registry.build(str(tmp_path / "m.json")).runner.__class__.__name__ == "TorchRunner"


@pytest.mark.torch
def test_evaluation_uses_batched_records(estimator, tmp_path):
    from deepx_addon.core.evaluation import evaluate_predictions, predict_file
    from deepx_addon.core.records import write_jsonl
    d = standin_data(60, seed=25)
    kp, K = _clean(d)
    rows = [{"id": f"p{i}", "image_size": [int(v) for v in d["image_size"][i]], "K": K[i].tolist(),
             "keypoints": kp[i].tolist(), "distance_m": float(d["distance_m"][i]),
             "depth_m": float(d["depth_m"][i])} for i in range(60)]
    rows[5]["keypoints"] = [[0, 0, 0]] * 17
    p = tmp_path / "people.jsonl"
    write_jsonl(p, rows)
    preds = predict_file(estimator, p)
    assert len(preds) == 60 and preds[5].estimate.status == "no_estimate"
    ev = evaluate_predictions("tiny", preds)
    assert ev.metrics["all"]["n_estimated"] == 59
    assert ev.metrics["all"]["median_rel"] < 0.2


def test_train_config_update():
    pytest.importorskip("torch")
    from deepx_addon.ml.train import TrainConfig
    c = TrainConfig().update(["hidden=128", "noise=false", "lr=1e-3", "noise_model=x.json"])
    assert (c.hidden, c.noise, c.lr, c.noise_model) == (128, False, 1e-3, "x.json")
    with pytest.raises(ValueError, match="key one of"):
        TrainConfig().update(["nope=1"])
    with pytest.raises(ValueError, match="needs a int"):
        TrainConfig().update(["hidden=wide"])
    with pytest.raises(ValueError, match="must be >= 1"):
        TrainConfig().update(["steps=0"])


@pytest.mark.torch
def test_cli_train_writes_model(tmp_path):
    from deepx_addon.cli import train as cmd_train
    from deepx_addon.ml import registry
    from deepx_addon.cli import CliError
    d = standin_data(3000, seed=31)
    data_dir = tmp_path / "chunks"
    data_dir.mkdir()
    for i, sl in enumerate((slice(0, 1500), slice(1500, 3000))):
        np.savez(data_dir / f"chunk_{i:03d}.npz", **{k: v[sl] for k, v in d.items()})
    p = argparse.ArgumentParser()
    cmd_train.add_arguments(p)
    out = tmp_path / "models" / "cli_model"
    args = p.parse_args(["--data", str(data_dir), "--out", str(out), "--steps", "20", "-q",
                         "--config", "hidden=32", "blocks=1", "batch_size=256", "eval_every=10", "threads=1", "min_person_px=0"])
    assert cmd_train.run(args) == 0
    for suffix in (".json", ".safetensors", "_curve.png"):
        assert (tmp_path / "models" / f"cli_model{suffix}").exists()
    doc = json.loads((tmp_path / "models" / "cli_model.json").read_text())
    assert doc["training"]["data"]["n_samples"] == 3000 and len(doc["training"]["data"]["sources"]) == 2
    est = registry.build(str(tmp_path / "models" / "cli_model.json"))
    kp, K = _clean(d, 3)
    assert all(e.has_value for e in est.estimate_batch(kp, K))
    bad = p.parse_args(["--data", str(tmp_path / "nothing"), "--out", str(out)])
    with pytest.raises(CliError, match="no such file"):
        cmd_train.run(bad)
    bad = p.parse_args(["--data", str(data_dir), "--out", str(out), "--config", "widthh=3"])
    with pytest.raises(CliError, match="widthh"):
        cmd_train.run(bad)


def test_mask_only_features_ignore_confidence_scale():
    """use_conf=False: a detector that reports lower confidences (same positions) gives the same input."""
    from deepx_addon.runtime import features as feat
    d = standin_data(50, seed=5)
    kp = d["keypoints_2d"].astype(float)
    kp[..., 2] = np.where(kp[..., 2] > 0, 0.9, 0.0)
    low = kp.copy()
    low[..., 2] = np.where(kp[..., 2] > 0, 0.35, 0.0)
    a, b = feat.extract(kp, d["K"], use_conf=False), feat.extract(low, d["K"], use_conf=False)
    np.testing.assert_array_equal(a.x, b.x)
    c = feat.extract(low, d["K"], use_conf=True)
    assert not np.array_equal(a.x, c.x)


def test_detector_rows_are_mixed_into_every_batch(tmp_path):
    """detector_fraction draws a share of each batch from detector-output (non-clean) rows."""
    from deepx_addon.ml import train as tr
    d = standin_data(3000, seed=8)
    clean = tr.TrainData.from_arrays(d["keypoints_2d"], d["K"], d["distance_m"], d["depth_m"], d["family"])
    kp = d["keypoints_2d"][:200].astype(float).copy()
    kp[..., 2] = np.where(kp[..., 2] > 0, 0.8, 0.0)
    det = tr.TrainData.from_arrays(kp, d["K"][:200], d["distance_m"][:200], clean=False, source="detections")
    data = tr.TrainData.concat([clean, det])
    seen = []
    real_prepare = tr.prepare

    def spy(data_, idx, *a, **k):
        seen.append(np.asarray(idx))
        return real_prepare(data_, idx, *a, **k)
    tr.prepare = spy
    try:
        cfg = tr.TrainConfig(hidden=16, blocks=1, steps=3, batch_size=100, eval_every=10, threads=1,
                             detector_fraction=0.25, min_person_px=0)
        tr.train(data, cfg, progress=False)
    finally:
        tr.prepare = real_prepare
    batches = seen[2:]                       # after the validation and normalisation probes
    assert len(batches) == 3
    for idx in batches:
        assert len(idx) == 100 and (~data.clean[idx]).sum() == 25
    with pytest.raises(ValueError, match="detector_fraction"):
        tr.TrainConfig(detector_fraction=1.0).validate()


def test_detector_rows_rotated_camera_keeps_distance_and_caps_repeats():
    """rotate_camera turns the camera about its centre: the rays to the 3D points keep their
    lengths, keypoints move; detector_max_repeats lowers the share so no row is used more often."""
    from deepx_addon.ml import train as tr
    d = standin_data(50, seed=9)
    K = d["K"].astype(float)
    kp = d["keypoints_2d"].astype(float)
    ang = np.random.default_rng(0).normal(0, 3.0, (len(kp), 3))
    out = tr.rotate_camera(kp, K, ang)
    assert np.array_equal(out[..., 2], kp[..., 2]) and np.all(out[kp[..., 2] == 0] == 0)
    assert np.abs(out - kp)[kp[..., 2] > 0].max() > 1.0
    # the same rotation applied to 3D points: the image of R p equals K R K^-1 of the image of p
    p = np.array([[0.3, -0.2, 7.0]])
    a = np.radians([[2.0, -1.0, 3.0]])
    c, s = np.cos(a[0]), np.sin(a[0])
    Ry = np.array([[c[0], 0, s[0]], [0, 1, 0], [-s[0], 0, c[0]]])
    Rx = np.array([[1, 0, 0], [0, c[1], -s[1]], [0, s[1], c[1]]])
    Rz = np.array([[c[2], -s[2], 0], [s[2], c[2], 0], [0, 0, 1]])
    q = (Rz @ Rx @ Ry @ p.T).T
    uv = lambda v: (K[0] @ (v / v[:, 2:3]).T).T[:, :2]
    kp1 = np.zeros((1, 17, 3))
    kp1[0, 0, :2], kp1[0, 0, 2] = uv(p)[0], 1.0
    got = tr.rotate_camera(kp1, K[:1], np.degrees(a))
    np.testing.assert_allclose(got[0, 0, :2], uv(q)[0], atol=1e-6)
    assert np.linalg.norm(q) == pytest.approx(np.linalg.norm(p))
    cfg = tr.TrainConfig(steps=100, detector_fraction=0.5, detector_max_repeats=2.0)
    cfg.validate()
    with pytest.raises(ValueError, match="detector_max_repeats"):
        tr.TrainConfig(detector_max_repeats=-1).validate()


def test_hip_drop_moves_only_the_hips_down_the_torso():
    """drop_hips moves both hips frac x size along mid-shoulder -> mid-hip and nothing else; people
    without both shoulders and hips stay as they are; prepare() applies it to every input, and 0 leaves
    the features and targets byte-identical."""
    from deepx_addon.core.keypoints import drop_hips
    from deepx_addon.ml import train as tr
    kp = np.zeros((3, 17, 3))
    kp[:, :, 2] = 1.0
    kp[:, 5, :2], kp[:, 6, :2] = (90, 100), (110, 100)          # shoulders
    kp[:, 11, :2], kp[:, 12, :2] = (95, 160), (105, 160)        # hips: the torso points straight down
    kp[1, 11, :2], kp[1, 12, :2] = (155, 100), (165, 120)       # mid-hip (160, 110): torso along +x
    kp[2, 6, 2] = 0.0                                            # a shoulder missing: no move
    out = drop_hips(kp, 0.02, np.array([200.0, 200.0, 200.0]))
    np.testing.assert_allclose(out[0, [11, 12], :2] - kp[0, [11, 12], :2], [[0, 4], [0, 4]], atol=1e-12)
    step = out[1, 11, :2] - kp[1, 11, :2]
    np.testing.assert_allclose(step, out[1, 12, :2] - kp[1, 12, :2])
    assert np.linalg.norm(step) == pytest.approx(4.0)
    assert np.dot(step, [160 - 100, 110 - 100]) > 0               # along mid-shoulder -> mid-hip
    assert np.array_equal(out[2], kp[2])
    others = [j for j in range(17) if j not in (11, 12)]
    assert np.array_equal(out[:, others], kp[:, others])
    d = standin_data(300, seed=3)
    data = tr.TrainData.from_arrays(d["keypoints_2d"], d["K"], d["distance_m"], d["depth_m"], d["family"])
    idx = np.arange(300)
    x0, t0, k0 = tr.prepare(data, idx, np.random.default_rng(1), tr.TrainConfig(noise=False), None, flip=False)
    x1, t1, k1 = tr.prepare(data, idx, np.random.default_rng(1), tr.TrainConfig(noise=False, hip_drop=0.0),
                            None, flip=False)
    assert np.array_equal(x0, x1) and np.array_equal(t0, t1)
    x2, t2, k2 = tr.prepare(data, idx, np.random.default_rng(1), tr.TrainConfig(noise=False, hip_drop=0.03),
                            None, flip=False)
    # the target is the distance relative to the keypoints' own scale, so it moves with them too
    assert np.array_equal(k0, k2) and not np.array_equal(x0, x2)
    with pytest.raises(ValueError, match="hip_drop"):
        tr.TrainConfig(hip_drop=0.5).validate()


def test_fine_tune_starts_from_a_saved_model(tmp_path):
    torch = pytest.importorskip("torch")
    from deepx_addon.ml import train as tr
    from deepx_addon.ml.model import load_model
    d = standin_data(2000, seed=4)
    data = tr.TrainData.from_arrays(d["keypoints_2d"], d["K"], d["distance_m"], d["depth_m"], d["family"])
    first = tr.train(data, tr.TrainConfig(hidden=16, blocks=1, steps=3, batch_size=256, threads=1,
                                          min_person_px=0), progress=False)
    json_path, _, _ = tr.save_result(first, tmp_path / "first")
    start, _ = load_model(json_path)
    res = tr.train(data, tr.TrainConfig(steps=2, batch_size=256, threads=1, min_person_px=0,
                                        init_model=str(json_path)), progress=False)
    assert res.config.hidden == 16 and res.config.blocks == 1
    assert torch.equal(res.net.x_mean, start.x_mean)                      # normalisation kept
    assert not torch.equal(res.net.stem.weight, start.stem.weight)        # and trained on



@pytest.mark.torch
def test_feature_version_2_model_trains_saves_and_predicts(tmp_path):
    pytest.importorskip("torch")
    from deepx_addon.ml import train as tr
    from deepx_addon.runtime.model import LearnedEstimator
    d = standin_data(2000, seed=4)
    data = tr.TrainData.from_arrays(d["keypoints_2d"], d["K"], d["distance_m"], d["depth_m"], d["family"])
    cfg = tr.TrainConfig(hidden=16, blocks=1, steps=3, batch_size=256, threads=1, min_person_px=0,
                         feature_version=2)
    res = tr.train(data, cfg, progress=False)
    assert res.net.arch["n_in"] == feat.n_features(2)
    json_path, _, _ = tr.save_result(res, tmp_path / "v2")
    doc = json.loads(json_path.read_text())
    assert doc["features"]["version"] == 2 and doc["features"]["names"][-1] == "log_px_scale"
    est = LearnedEstimator.load(json_path)
    kp, K = _clean(d, 50)
    out = est.predict_arrays(kp, K)
    assert np.isfinite(out["distance_m"]).sum() > 40
    # a fine-tune computes the features of the model it starts from
    ft = tr.train(data, tr.TrainConfig(steps=1, batch_size=256, threads=1, min_person_px=0,
                                       init_model=str(json_path)), progress=False)
    assert ft.config.feature_version == 2 and ft.net.arch["n_in"] == feat.n_features(2)
    with pytest.raises(ValueError, match="feature_version 3"):
        tr.TrainConfig(feature_version=3).validate()


@pytest.mark.torch
def test_streamed_training_holds_a_few_parts_learns_and_repeats(tmp_path, capsys):
    """train_stream reads the sampler's parts a few at a time (the buffer, not the dataset, bounds
    the memory), learns as train() does on the same data, and repeats itself exactly."""
    from deepx_addon.cli import main
    from deepx_addon.core.sampler import generate
    from deepx_addon.core.settings import GeneratorSettings
    from deepx_addon.core.standin import stick_figure_table
    from deepx_addon.ml.train import TrainConfig, TrainData, load_data, train, train_stream
    generate(stick_figure_table(400, seed=4), GeneratorSettings(cameras_per_pose=16, seed=2), tmp_path / "s",
             chunk_size=25, progress=False)                   # 16 parts of 400 samples
    files = sorted((tmp_path / "s").glob("part-*.npz"))
    cfg = dict(hidden=64, blocks=2, steps=150, batch_size=256, lr=3e-3, eval_every=50, val_fraction=0.1,
               seed=3, threads=1, stream_buffer=1000, probe_rows=500, val_max=300)
    a = train_stream(files, TrainConfig(**cfg), progress=False)
    # held at most: the buffer (+ one part) during training, or validation + probe rows (+ one part)
    assert a.data_recipe["max_rows_in_memory"] <= 1000 + 400 + 400 and a.data_recipe["n_samples"] == 6400
    assert a.data_recipe["streamed"] and a.data_recipe["epochs"] > 5        # many passes over the parts
    assert a.history["val_nll"][-1] < a.history["val_nll"][0] - 0.3
    b = train_stream(files, TrainConfig(**cfg), progress=False)
    for (k, va), vb in zip(a.net.state_dict().items(), b.net.state_dict().values()):
        assert np.array_equal(va.numpy(), vb.numpy()), k
    mem = train(load_data(files), TrainConfig(**{**cfg, "stream_buffer": 1_000_000}), progress=False)
    assert abs(a.metrics["median_rel"] - mem.metrics["median_rel"]) < 0.03, (a.metrics, mem.metrics)
    assert main(["train", "--stream", "-d", str(tmp_path / "s"), "-o", str(tmp_path / "m"), "--steps", "5", "-q",
                 "--config", "batch_size=256", "hidden=16", "blocks=1"]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["training"]["data"]["streamed"] is True
    with pytest.raises(ValueError, match="npz"):
        train_stream([tmp_path / "x.jsonl"], TrainConfig(**cfg), progress=False)
