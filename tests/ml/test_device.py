"""The detector on a GPU (--device / device=): what cannot work is refused before any weights load,
and where torch sees a CUDA GPU the detections and distances agree with the CPU's. The GPU half
skips on machines without one (CI); it ran on an H200 (README "Estimating distances")."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deepx_addon.cli import main  # noqa: E402
from deepx_addon.ml import detector as det_mod  # noqa: E402
from deepx_addon.ml.detector import check_device  # noqa: E402

CUDA = torch.cuda.is_available()


def test_device_names_are_checked_before_anything_loads():
    assert check_device("cpu") == check_device(" CPU ") == "cpu"
    for bad in ("gpu", "cuda:", "cuda:-1", "cuda:0,1", "tpu", ""):
        with pytest.raises(ValueError, match="device must be"):
            check_device(bad)
    if CUDA:
        assert check_device("cuda") == check_device("0") == "cuda:0"
        with pytest.raises(ValueError, match="CUDA GPU"):
            check_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            check_device("cuda")


@pytest.mark.skipif(CUDA, reason="this machine has a CUDA GPU")
def test_estimate_on_a_missing_gpu_is_refused_before_reading_anything(tmp_path, capsys):
    assert main(["estimate", str(tmp_path / "nothing.jpg"), "--device", "cuda", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--device" in err and "sees no CUDA GPU" in err
    assert main(["estimate", str(tmp_path / "nothing.jpg"), "--device", "gpu", "--out", str(tmp_path / "o")]) == 2
    assert "device must be" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_gpu_detections_and_distances_agree_with_the_cpu(real_data, tmp_path):
    rows = [json.loads(line) for line in open(real_data / "h36m_3dhp_images.jsonl", encoding="utf-8")]
    images = [det_mod.read_image(real_data / r["image"]) for r in rows]
    cpu, gpu = det_mod.PoseDetector(device="cpu"), det_mod.PoseDetector(device="cuda")
    for img, a, b in zip(images, cpu.detect(images), gpu.detect(images)):
        assert len(a) == len(b) >= 1
        for da, db in zip(a, b):
            assert np.abs(da.keypoints[:, :2] - db.keypoints[:, :2]).max() < 1.0      # pixels
            assert np.abs(da.keypoints[:, 2] - db.keypoints[:, 2]).max() < 0.02
            assert abs(da.score - db.score) < 0.02
    out = {}
    for dev in ("cpu", "cuda"):
        assert main(["estimate", *[str(real_data / r["image"]) for r in rows], "--device", dev, "--fov", "60",
                     "--no-annotate", "--out", str(tmp_path / dev)]) == 0
        doc = json.loads((tmp_path / dev / "results.json").read_text())
        assert doc["detector"]["device"] == ("cpu" if dev == "cpu" else "cuda:0")
        out[dev] = [p["distance_m"] for f in doc["files"] for p in f["persons"]]
    assert len(out["cpu"]) == len(out["cuda"]) >= len(rows)
    for a, b in zip(out["cpu"], out["cuda"]):
        assert (a is None) == (b is None)
        if a is not None:
            assert abs(a / b - 1) < 0.01
