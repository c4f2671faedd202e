import json

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
    for key in ("p_skirt", "p_coat", "p_umbrella"):                   # the outfit pieces' chances
        assert 0 < getattr(g.scene, key) <= 0.15
        with pytest.raises(SettingsError, match=f"SceneSettings.{key}: probability"):
            GeneratorSettings.from_dict({"scene": {key: -0.1}})
    assert GeneratorSettings().update(["scene.p_umbrella=0.5"]).scene.p_umbrella == 0.5
    with pytest.raises(SettingsError, match="unknown setting"):
        GeneratorSettings.from_dict({"camera": {"focal": 3}})
    with pytest.raises(SettingsError, match="positive integers"):
        RenderSettings(resolution=(640, 0)).validate()
    with pytest.raises(SettingsError, match="downscale_levels"):
        RenderSettings(downscale_levels=(1.0, 1.5)).validate()
    with pytest.raises(SettingsError, match="denoise 'fast' not in auto, oidn, off"):
        GeneratorSettings().update(["render.denoise=fast"])
    assert GeneratorSettings().update(["render.denoise=auto"]).render.denoise == "auto"
    with pytest.raises(SettingsError, match="subdivision '3' not in auto, 1, 2"):
        GeneratorSettings().update(["render.subdivision=3"])


def test_subdivision_auto_follows_the_image_size():
    """"auto": level 1 while both sides are <= 320 px, else 2; a number on the command line or in a
    settings file is the level itself."""
    from deepx_addon.core.settings import GeneratorSettings, RenderSettings
    assert [RenderSettings(resolution=r).subdivision_level() for r in ((160, 160), (320, 200), (321, 100),
                                                                       (640, 640))] == [1, 1, 2, 2]
    assert RenderSettings(resolution=(160, 160), subdivision="2").subdivision_level() == 2
    g = GeneratorSettings().update(["render.subdivision=1"])          # parsed as the number 1
    assert g.render.subdivision == "1" and g.render.subdivision_level() == 1
    assert GeneratorSettings.from_dict(g.to_dict()).render.subdivision == "1"
    assert GeneratorSettings.from_dict({"render": {"subdivision": 2}}).render.subdivision_level() == 2


def test_update_applies_key_value_overrides_and_names_bad_keys(tmp_path):
    from deepx_addon.core.settings import GeneratorSettings, SettingsError
    g = GeneratorSettings()
    h = g.update(["count=7", "render.engine=BLENDER_WORKBENCH", "camera.distance_m=2,10", "render.depth_pass=true"])
    assert (h.count, h.render.engine, h.camera.distance_m, h.render.depth_pass) == (7, "BLENDER_WORKBENCH", (2, 10), True)
    assert g.count == 100                                              # a copy: the original is unchanged
    assert g.update({"camera.image_size": [320, 240]}).camera.image_size == (320, 240)
    for bad, msg in (("nope=1", "unknown setting 'nope'"), ("render.nope=1", "unknown setting"),
                     ("render=1", "unknown setting"), ("count", "key=value"),
                     ("camera.distance_m=10,2", "min 10 > max 2")):
        with pytest.raises(SettingsError, match=msg):
            g.update([bad])
    # a mapping setting takes new keys (a preset's weight from the command line); nested settings
    # and a mapping as a whole do not
    w = g.update(["pose.preset_weights.squatting=3", "pose.preset_weights.standing=0"]).pose.preset_weights
    assert w == {"squatting": 3, "standing": 0} and g.pose.preset_weights == {}
    for bad, msg in (("pose.preset_weights=1", "unknown setting"), ("pose.nope=1", "unknown setting"),
                     ("pose.preset_weights.squatting=-1", "finite numbers >= 0"),
                     ("scene.camera_kinds.drone=1", "unknown kind")):
        with pytest.raises(SettingsError, match=msg):
            g.update([bad])
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"format": "deepx-render", "settings": h.to_dict()}))
    assert GeneratorSettings.from_file(f) == h
    f.write_text("{")
    with pytest.raises(SettingsError, match="cannot read JSON"):
        GeneratorSettings.from_file(f)
