"""scripts/render_detect.py's settings: its arguments and --set overrides, checked before anything renders."""
from __future__ import annotations

import pytest


def test_set_overrides_settings_and_keeps_the_rest(repo_module):
    rd = repo_module("scripts/render_detect.py")
    a = rd.parser().parse_args(["--out", "x", "--count", "40", "--seed", "7", "--occluders", "0.3",
                                "--set", "scene.p_jpeg=0", "--set", "scene.noise_sd=0,0"])
    s = rd.settings_from(a)
    assert (s.seed, s.count, s.camera.p_occluder) == (7, 40, 0.3)
    assert s.scene.p_jpeg == 0 and tuple(s.scene.noise_sd) == (0, 0)
    assert s.scene.p_blur == type(s.scene)().p_blur          # untouched fields keep their defaults


def test_set_refuses_unknown_or_invalid_settings(repo_module):
    from deepx_addon.core.settings import SettingsError
    rd = repo_module("scripts/render_detect.py")
    for bad, word in ((["--set", "scene.p_fog=1"], "p_fog"), (["--set", "scene.people=0,2"], "people")):
        with pytest.raises(SettingsError, match=word):
            rd.settings_from(rd.parser().parse_args(["--out", "x", "--count", "4"] + bad))
