"""Posing the mannequin and reading its keypoints (bpy).

Rotations are {bone: (x, y, z)} Euler XYZ degrees relative to rest (core/rig.py documents the
axes). Placement uses core/rig.py's contact spheres, read from Blender's evaluated pose matrices,
so the mesh and the armature-only pose table agree on where the ground is.
"""
from __future__ import annotations

import math

import bpy
import numpy as np

from ..core import rig
from ..core.keypoints import pelvis_of
from ..core.limits import to_array
from .mannequin import get_body

NB = len(rig.BONES)


def _check(arm) -> None:
    if arm is None or arm.type != "ARMATURE" or len(arm.pose.bones) != NB:
        raise ValueError(f"{getattr(arm, 'name', arm)!r} is not a DeepX mannequin armature")


def set_rotations(arm, rotations) -> None:
    """Set every pose bone's Euler XYZ rotation (degrees): a {bone: (x, y, z)} dict (missing
    bones go to rest) or a (B, 3) array in ``rig.BONE_NAMES`` order. No scene update."""
    arr = rotations if isinstance(rotations, np.ndarray) else to_array(rotations)
    arm.pose.bones.foreach_set("rotation_euler", np.deg2rad(np.asarray(arr, float)).astype(np.float32).ravel())
    arm.update_tag()   # foreach_set does not tag the depsgraph by itself


def pose_matrices(arm) -> tuple[np.ndarray, np.ndarray]:
    """Evaluated pose matrices in armature space: A (B, 3, 3) and T (B, 3) (rig.forward_kinematics's
    convention). Call after a view-layer update."""
    buf = np.empty(NB * 16, np.float32)
    arm.pose.bones.foreach_get("matrix", buf)
    m = buf.reshape(NB, 4, 4).transpose(0, 2, 1).astype(np.float64)   # Blender stores columns
    return m[:, :3, :3], m[:, :3, 3]


def object_scale(arm) -> float:
    return float(arm.get("deepx_object_scale", arm.scale[0]))



def _body_scales(arm):
    body = get_body(arm)
    s, sc = body.scales()
    return body, object_scale(arm), sc


def contact_radii(arm) -> np.ndarray:
    body, s, sc = _body_scales(arm)
    return rig.contact_radii(sc, s, body.girth)


def _placement(A, T, s, radii, support, box_height_m, location, yaw_deg):
    cz = rig.points(A, T, rig.CONTACT_BONE, rig.CONTACT_LOCAL)[:, 2] * s
    dz, seat = rig.support_offset(cz, radii, support, box_height_m)
    kp = rig.keypoints_from_matrices(A, T) * s
    pel = pelvis_of(kp)
    c, si = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    px, py = c * pel[0] - si * pel[1], si * pel[0] + c * pel[1]
    loc = (float(location[0]) - px, float(location[1]) - py, float(dz))
    return loc, float(seat), float(pel[2] + dz)


def apply_pose(arm, rotations, support: str = "ground", box_height_m: float = 0.0,
               location=(0.0, 0.0), yaw_deg: float = 0.0, update: bool = True) -> dict:
    """Pose the mannequin and put it on its support.

    Sets the rotations (``set_rotations``) and moves and turns the armature object so the pelvis
    (mid-point of the hip joints) is at world ``location`` (x, y), the person faces -Y turned by
    ``yaw_deg`` about Z, and - ``support`` "ground" - the lowest foot/knee/shin/buttock/hand surface
    touches z = 0, or - "box" - the buttocks/thighs rest on a box top at ``box_height_m`` (raised if
    a foot would go below the ground; core/rig.py ``support_offset``).

    Armature only: Blender evaluates the pose, the placement is computed from its pose matrices
    and the object is moved (two cheap updates). With the mesh (an evaluation costs milliseconds)
    the placement comes from core/rig.py's forward kinematics (identical to Blender's evaluation of
    this rig) so the scene is evaluated once; the evaluated matrices are then checked against it
    and, if the rig was edited by hand, the placement is redone from Blender's own matrices.
    ``update=False`` (mesh only) skips the evaluation. Returns {"seat_height_m", "pelvis": world (3,),
    "location"}.
    """
    _check(arm)
    if support not in ("ground", "box"):
        raise ValueError(f"support must be 'ground' or 'box', got {support!r}")
    rot = rotations if isinstance(rotations, np.ndarray) else to_array(rotations)
    set_rotations(arm, rot)
    body, s, sc = _body_scales(arm)
    radii = rig.contact_radii(sc, s, body.girth)
    layer = bpy.context.view_layer
    arm.rotation_mode = 'XYZ'
    arm.rotation_euler = (0.0, 0.0, math.radians(yaw_deg))
    with_mesh = any(c.type == "MESH" for c in arm.children)
    if with_mesh:
        A, T = rig.forward_kinematics(rot, sc)
    else:
        layer.update()
        A, T = pose_matrices(arm)
    loc, seat, pel_z = _placement(A, T, s, radii, support, box_height_m, location, yaw_deg)
    arm.location = loc
    if update or not with_mesh:
        layer.update()
    if with_mesh and update:
        A2, T2 = pose_matrices(arm)
        if np.abs(T2 - T).max() > 1e-4 or np.abs(A2 - A).max() > 1e-4:   # a hand-edited rig
            loc, seat, pel_z = _placement(A2, T2, s, radii, support, box_height_m, location, yaw_deg)
            arm.location = loc
            layer.update()
    return {"seat_height_m": seat, "location": loc,
            "pelvis": np.array([float(location[0]), float(location[1]), pel_z])}


def reset_pose(arm, update: bool = True) -> None:
    """All bones back to rest (body scales kept), standing on the ground at the origin."""
    apply_pose(arm, np.zeros((NB, 3)), update=update)


def read_pose(arm) -> dict:
    """The current {bone: (x, y, z)} Euler degrees of the mannequin's pose bones."""
    buf = np.empty(NB * 3, np.float32)
    arm.pose.bones.foreach_get("rotation_euler", buf)
    deg = np.rad2deg(buf.reshape(NB, 3).astype(np.float64))
    return {n: tuple(float(x) for x in deg[i]) for i, n in enumerate(rig.BONE_NAMES)}


def world_keypoints(arm) -> np.ndarray:
    """(17, 3) world coordinates of the COCO keypoint anchors (``rig.KEYPOINT_ANCHORS``) from the
    evaluated pose-bone matrices and the armature's world matrix."""
    A, T = pose_matrices(arm)
    kp = rig.keypoints_from_matrices(A, T)
    M = np.array(arm.matrix_world)
    return kp @ M[:3, :3].T + M[:3, 3]


def pelvis_world(arm) -> np.ndarray:
    """World position of the pelvis: mid-point of the two hip keypoints."""
    kp = world_keypoints(arm)
    return pelvis_of(kp)
