import pytest

from deepx_addon.core.settings import CameraSettings, GeneratorSettings, RenderSettings, SettingsError


def test_round_trip_and_validation():
    g = GeneratorSettings(seed=3)
    g.camera.image_size = (640, 480)          # a (width, height) pair, not a range
    g.render.downscale_levels = (1.0, 0.5)    # a list of scales, not a range
    assert GeneratorSettings.from_dict(g.to_dict()) == g
    with pytest.raises(SettingsError, match=r"CameraSettings.distance_m: min 50 > max 5"):
        CameraSettings(distance_m=(50, 5)).validate()
    with pytest.raises(SettingsError, match="probability"):
        GeneratorSettings.from_dict({"pose": {"p_hands_up": 1.5}})
    with pytest.raises(SettingsError, match="unknown setting"):
        GeneratorSettings.from_dict({"camera": {"focal": 3}})
    with pytest.raises(SettingsError, match="positive integers"):
        RenderSettings(resolution=(640, 0)).validate()
    with pytest.raises(SettingsError, match="downscale_levels"):
        RenderSettings(downscale_levels=(1.0, 1.5)).validate()
