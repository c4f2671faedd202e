"""scripts/coco_convention.py: the rig's labels it compares COCO's convention with."""
from __future__ import annotations

import builtins

import numpy as np
import pytest

from deepx_addon.core.anthropometry import LANDMARK_HEIGHT, SEGMENT


def test_rig_rest_keypoints_are_the_anthropometric_landmarks(repo_module):
    m = repo_module("scripts/coco_convention.py")
    kp = m.rig_rest_keypoints()
    assert kp.shape == (17, 3)
    np.testing.assert_allclose(kp[:, 2], LANDMARK_HEIGHT, atol=0.004)      # soles at 0, fractions of stature
    assert np.linalg.norm(kp[5] - kp[6]) == pytest.approx(SEGMENT["shoulder_joints"], abs=0.002)
    assert kp[5, 0] * kp[6, 0] < 0 and kp[11, 0] * kp[12, 0] < 0           # left and right on either side


def test_without_anny_it_says_how_to_install_it(repo_module, monkeypatch, capsys):
    m = repo_module("scripts/coco_convention.py")
    real_import = builtins.__import__

    def no_anny(name, *a, **k):
        if name == "anny":
            raise ImportError("no anny here")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_anny)
    assert m.main() == 2
    assert "pip install --target" in capsys.readouterr().err
