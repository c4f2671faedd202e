"""Reading the panel for an operator: the core objects, or a report saying what is wrong (bpy)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.limits import LimitsError
from ..core.limits import JointLimits
from ..core.poses import PoseError
from ..core.settings import SettingsError
from . import state
from .props import check_scene, limits_from_scene, to_settings
from .state import check_output_dir, pose_presets


def _or_report(op, read, errors, what: str):
    """read() with an ERROR report instead of an exception the artist can fix; None when refused."""
    try:
        return read()
    except errors as e:
        op.report({'ERROR'}, f"{what}: {e}")
        return None


def presets_or_report(op):
    """pose_presets(), or None after reporting why not; a broken user preset file is skipped with
    a warning (the other presets, shipped ones included, stay usable)."""
    skipped = []
    presets = _or_report(op, lambda: pose_presets(skipped), (PoseError, OSError), "Pose presets")
    for e in skipped:
        op.report({'WARNING'}, f"Pose preset skipped: {e}")
    return presets


def settings_or_report(op, context):
    """props.to_settings, or None after reporting the invalid setting."""
    return _or_report(op, lambda: to_settings(context.scene), SettingsError, "Invalid setting")


def limits_or_report(op, context):
    """props.limits_from_scene, or None after reporting the invalid limits."""
    return _or_report(op, lambda: limits_from_scene(context.scene), LimitsError, "Invalid joint limits")


def check_limits_saved(context, settings) -> None:
    """Refuse a batch whose panel limits differ from the preset file it would read."""
    if not len(context.scene.deepx.limits):
        return
    panel = limits_from_scene(context.scene)
    name = settings.pose.limits_preset
    disk = JointLimits.load(name, state.user_presets_root(create=False))   # shipped or the user's
    if not np.allclose(panel.array, disk.array, atol=1e-3):
        raise ValueError(f"The joint limits in the panel differ from the limit preset {Path(name).stem!r}: "
                         "save them as a preset (Joint Limits > +) or reload the preset, then render")


def prepare_batch(op, context):
    """(settings, out_dir, shard) or None after reporting why not."""
    dx = context.scene.deepx
    # check_scene: the settings, the limits the sampler would use, count >= cameras per pose
    settings = _or_report(op, lambda: check_scene(context.scene), SettingsError, "Invalid setting")
    if settings is None:
        return None
    if not 0 <= dx.shard_index < dx.shards:
        op.report({'ERROR'}, f"Shard {dx.shard_index} does not exist: shards are 0..{dx.shards - 1}")
        return None
    try:
        out = check_output_dir(dx.output_dir)
        check_limits_saved(context, settings)
    except (ValueError, LimitsError) as e:
        op.report({'ERROR'}, str(e))
        return None
    return settings, out, (int(dx.shard_index), int(dx.shards))
