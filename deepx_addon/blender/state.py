"""The DeepX scene state the operators, the property callbacks and the panel share (bpy): the
mannequin, the poll checks, the user's preset folder and the presets seen from Blender, the walk
preview and the output-folder check. Imports nothing else of the Blender layer but posing."""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import bpy

from ..core import poses
from ..core.paths import preset_dirs
from . import posing
from .posing import apply_pose, pelvis_world

MANNEQUIN_NAME = "DeepX_Mannequin"


# --------------------------------------------------------------------------------------------------
# helpers shared by operators, props (update callbacks) and the panel

def scene_props(context):
    return getattr(context.scene, "deepx", None) if context.scene else None


def get_mannequin(context):
    """The panel's armature, or None (a deleted object's pointer is cleared)."""
    dx = scene_props(context)
    obj = dx.mannequin if dx else None
    if obj is not None and (obj.type != 'ARMATURE' or obj.name not in context.scene.objects):
        return None
    return obj


def poll_mannequin(cls, context) -> bool:
    if not poll_scene(cls, context):
        return False
    if get_mannequin(context) is None:
        cls.poll_message_set("Create the mannequin first (DeepX > Mannequin)")
        return False
    return True


def poll_scene(cls, context) -> bool:
    if scene_props(context) is None:
        cls.poll_message_set("DeepX is not registered for this scene")
        return False
    return True


def user_presets_root(create: bool = True) -> Path:
    """Blender's user folder for DeepX presets (<user scripts>/presets/deepx): the ``user_dir`` the
    Blender layer passes to core's preset look-up (core/paths.py find_preset / preset_dirs)."""
    p = bpy.utils.user_resource('SCRIPTS', path=os.path.join("presets", "deepx"), create=create)
    if not p:
        raise OSError("Blender has no user scripts folder to keep DeepX presets in")
    return Path(p)


def user_preset_dir(kind: str, create: bool = True) -> Path:
    """The user's folder for presets of one kind (<user scripts>/presets/deepx/<kind>)."""
    d = preset_dirs(kind, user_presets_root(create))[-1]
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d


def pose_presets(skipped: list | None = None) -> dict:
    """Shipped pose presets plus the user's own (a user preset of the same name wins). A broken
    user file is left out (collected in ``skipped``), not a reason to lose every preset."""
    return poses.all_presets(user_presets_root(), [] if skipped is None else skipped)


def pose_preset_names() -> list[str]:
    return sorted(pose_presets())


def apply_in_place(context, arm, rotations, support="ground", box_height_m=0.0):
    """Pose the mannequin where it stands: the pelvis keeps its x, y and the body its heading."""
    pel = pelvis_world(arm)
    yaw = math.degrees(arm.rotation_euler.z) if arm.rotation_mode == 'XYZ' else 0.0
    apply_pose(arm, rotations, support, float(box_height_m), location=(pel[0], pel[1]), yaw_deg=yaw)


def walk_preview(context, quiet=False) -> str | None:
    """Pose the mannequin at the panel's walk phase (the Walk sub-panel's update callback).
    Returns an error text (None on success); never raises when quiet."""
    try:
        arm = get_mannequin(context)
        if arm is None:
            return "no mannequin"
        dx = context.scene.deepx
        presets = pose_presets()
        rot = dict(presets["standing"].rotations) if "standing" in presets else {}
        pr = dx.walk_phase_right if dx.walk_both_legs else None
        rot.update(poses.walk_pose(dx.walk_phase, dx.pose.stride, pr))
        rot.update(poses.walk_arms(dx.walk_phase, dx.pose.stride, pr))
        apply_in_place(context, arm, rot, "ground", 0.0)
        return None
    except Exception as e:   # an update callback must not raise into the UI
        if not quiet:
            raise
        print(f"DeepX walk preview: {e}")
        return str(e)


def blend_preview(context, quiet=False):
    """Pose the mannequin between Preset A and B at the Blend slider (its update callback and the
    Blend Presets operator). Returns the blended PosePreset; None (quiet) or raises on an error."""
    try:
        arm = get_mannequin(context)
        if arm is None:
            raise ValueError("no mannequin: create it first (DeepX > Mannequin)")
        dx = context.scene.deepx
        presets = pose_presets()
        missing = [n for n in (dx.preset_a, dx.preset_b) if n not in presets]
        if missing:
            raise ValueError(f"No pose preset {missing[0]!r}")
        p = poses.blend(presets[dx.preset_a], presets[dx.preset_b], dx.blend_t)
        apply_in_place(context, arm, p.rotations, p.support, p.box_height_m)
        return p
    except Exception as e:   # an update callback must not raise into the UI
        if not quiet:
            raise
        print(f"DeepX blend preview: {e}")
        return None


LIMIT_CONSTRAINT = "DeepX Limit"


def refresh_limit_constraints(context, bone: str | None = None, add: bool = False) -> int:
    """Make the mannequin's Limit Rotation constraints mirror the Joint Limits list (local space,
    the same Euler XYZ degrees the sampler uses), for one bone or all; only bones that already have
    one unless ``add``. Returns the number of constraints set. Never raises (update callback)."""
    try:
        arm = get_mannequin(context)
        dx = context.scene.deepx
        if arm is None or not len(dx.limits):
            return 0
        items = ([dx.limits[bone]] if bone in dx.limits else []) if bone else list(dx.limits)
        n = 0
        for item in items:
            pb = arm.pose.bones.get(item.name)
            if pb is None:
                continue
            c = pb.constraints.get(LIMIT_CONSTRAINT)
            if c is None:
                if not add:
                    continue
                c = pb.constraints.new('LIMIT_ROTATION')
                c.name = LIMIT_CONSTRAINT
            c.owner_space = 'LOCAL'
            for ax in "xyz":
                lo, hi = getattr(item, f"{ax}_min"), getattr(item, f"{ax}_max")
                setattr(c, f"use_limit_{ax}", True)
                setattr(c, f"min_{ax}", math.radians(min(lo, hi)))
                setattr(c, f"max_{ax}", math.radians(max(lo, hi)))
            n += 1
        return n
    except Exception as e:
        print(f"DeepX limit constraints: {e}")
        return 0


def check_output_dir(text: str) -> Path:
    """The batch output folder as an absolute, writable path, or ValueError saying what is wrong."""
    if not text or not text.strip():
        raise ValueError("Output folder is empty: choose a folder in Batch Render")
    if text.startswith("//") and not bpy.data.filepath:
        raise ValueError(f"Output folder {text!r} is relative to the .blend file, which is not saved yet: "
                         "save the file or choose an absolute folder")
    p = Path(bpy.path.abspath(text)).resolve()
    if p.exists() and not p.is_dir():
        raise ValueError(f"Output folder {p} is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".deepx-write-test-", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"Output folder {p} is not writable ({e.strerror or e})") from None
    return p


def pose_degrees(arm) -> dict:
    """The armature's current pose as {bone: (x, y, z)} Euler degrees, bones at rest left out."""
    out = {}
    for bone, rot in posing.read_pose(arm).items():
        deg = tuple(round(a, 3) + 0.0 for a in rot)
        if any(abs(a) > 1e-3 for a in deg):
            out[bone] = deg
    return out
