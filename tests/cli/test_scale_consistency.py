"""scripts/scale_consistency.py: a detector's reading of a person on downscaled copies of one image."""
from __future__ import annotations

import numpy as np
import pytest

# a standing person in a unit box (x, y from the box's top-left; height 1)
_PERSON = np.array([[.5, .08], [.47, .06], [.53, .06], [.43, .07], [.57, .07], [.38, .2], [.62, .2], [.35, .35],
                    [.65, .35], [.34, .48], [.66, .48], [.43, .52], [.57, .52], [.43, .74], [.57, .74], [.43, .95],
                    [.57, .95]])


def _fake_detector(shrink_below_px=None, shrink=0.9):
    """Finds one person filling the middle 60 % of the image's height; optionally reads it short when
    it is under shrink_below_px tall (legs pulled up towards the hips)."""
    from deepx_addon.runtime.detections import Detection

    def detect(arr):
        h, w = arr.shape[:2]
        ph = 0.6 * h
        x0, y0 = w / 2 - ph * 0.25, 0.2 * h
        k = _PERSON.copy()
        if shrink_below_px and ph < shrink_below_px:
            k[11:, 1] = 0.52 + (k[11:, 1] - 0.52) * shrink
        pts = np.c_[x0 + k[:, 0] * ph * 0.5, y0 + k[:, 1] * ph, np.full(17, 0.9)]
        return [Detection(bbox=np.array([x0, y0, x0 + ph * 0.5, y0 + ph]), score=0.9, keypoints=pts)]
    return detect


def _image(tmp_path, size=(400, 500)):
    from PIL import Image
    p = tmp_path / "img.png"
    Image.new("RGB", size, (90, 90, 90)).save(p)
    return p


def test_a_consistent_detector_reads_one_at_every_size(repo_module, tmp_path):
    m = repo_module("scripts/scale_consistency.py")
    rows = m.run_group(_fake_detector(), [_image(tmp_path)], min_px=120)
    assert len(rows) == 1 and rows[0]["height_px"] == pytest.approx(300)
    sizes = rows[0]["sizes"]
    assert set(sizes) == {str(t) for t in m.TARGETS}
    for t, r in sizes.items():
        for name in ("sh_ankle", "leg", "torso", "box_h"):
            assert r[name] == pytest.approx(1.0, abs=0.02), (t, name)


def test_a_detector_that_reads_small_people_short_shows_it(repo_module, tmp_path):
    m = repo_module("scripts/scale_consistency.py")
    rows = m.run_group(_fake_detector(shrink_below_px=70), [_image(tmp_path)], min_px=120)
    sizes = rows[0]["sizes"]
    assert sizes["96"]["leg"] == pytest.approx(1.0, abs=0.02)
    assert sizes["64"]["leg"] == pytest.approx(0.9, abs=0.02) and sizes["32"]["leg"] == pytest.approx(0.9, abs=0.02)
    assert sizes["64"]["torso"] == pytest.approx(1.0, abs=0.02)
    text = m.table("fake", rows)
    assert "fake: 1 whole people" in text and " 64px" in text


def test_people_cut_by_the_border_or_too_small_are_not_read(repo_module, tmp_path):
    m = repo_module("scripts/scale_consistency.py")
    assert m.run_group(_fake_detector(), [_image(tmp_path)], min_px=400) == []
    detect = _fake_detector()
    cut = lambda arr: [type(d)(bbox=d.bbox - [0, d.bbox[1], 0, 0], score=d.score, keypoints=d.keypoints)  # noqa: E731
                       for d in detect(arr)]
    assert m.run_group(cut, [_image(tmp_path)], min_px=120) == []


def test_out_must_not_be_an_input(repo_module, tmp_path):
    m = repo_module("scripts/scale_consistency.py")
    img = _image(tmp_path)
    with pytest.raises(SystemExit):
        m.main(["--group", "g", str(img), "--out", str(img)])
    assert img.stat().st_size > 0
