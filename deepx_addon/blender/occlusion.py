"""Occluders in front of the person and per-keypoint visibility by ray casting (bpy).

Visibility follows COCO: 2 = visible, 1 = in the frame but hidden (by an occluder, another object of
the scene or the person's own body), 0 = outside the frame (or behind the camera).

A keypoint is a joint centre *inside* the body, so a ray from the camera to it always leaves
through the body's own surface just before it. ``keypoint_visibility`` casts a ray from the camera
centre towards every keypoint (``Scene.ray_cast`` on the evaluated scene) and calls the keypoint
hidden when something is hit more than ``eps[k]`` metres before it; ``SURFACE_EPS_M`` holds the
depth of each joint below the skin for a 1.75 m adult (scaled by stature and girth by the caller).
So a far-side arm behind the torso, a hip seen through the other thigh or a wall in front are all
"hidden", while the near surface of the limb itself is not.

Occluders (``CameraSettings.p_occluder``): a pool of box objects, shown and placed per sample
between camera and person (a wall: thin and wide; a box: crate/car-like), hidden otherwise, so the
scene's object set (and Cycles' persistent data) stays the same between samples.
"""
from __future__ import annotations

import math

import bpy
import numpy as np

from ..core.keypoints import NUM_KEYPOINTS
from .scene import diffuse_material, set_rgb

OCCLUDER_PREFIX = "DeepX_Occluder_"
MAX_OCCLUDERS = 2

# Depth of each COCO keypoint below the body surface (metres, 1.75 m adult, girth 1): a hit on the
# ray closer than this to the keypoint is the body's own skin around the joint, not an occlusion.
SURFACE_EPS_M = np.array([
    0.03,                 # nose (on the surface)
    0.03, 0.03,           # eyes
    0.04, 0.04,           # ears
    0.08, 0.08,           # shoulders
    0.06, 0.06,           # elbows
    0.05, 0.05,           # wrists
    0.15, 0.15,           # hips (deep in the pelvis / buttocks)
    0.08, 0.08,           # knees
    0.06, 0.06,           # ankles
])
assert len(SURFACE_EPS_M) == NUM_KEYPOINTS

# Occluder shapes: (width, height, depth) ranges in metres.
WALL_SIZE = ((1.2, 3.5), (0.9, 2.4), (0.1, 0.25))
BOX_SIZE = ((0.4, 1.6), (0.4, 1.3), (0.3, 1.0))


def surface_eps(stature_m: float = 1.75, girth: float = 1.0) -> np.ndarray:
    """SURFACE_EPS_M scaled to a body (linear in stature, radii also scaled by girth)."""
    return SURFACE_EPS_M * (float(stature_m) / 1.75) * float(girth)


def in_frame(uv, depth, width: int, height: int) -> np.ndarray:
    """(N,) bool: the point is in front of the camera and inside [0, W] x [0, H]."""
    uv = np.asarray(uv, float)
    depth = np.asarray(depth, float)
    with np.errstate(invalid="ignore"):
        return ((depth > 0) & np.isfinite(uv).all(-1) & (uv[:, 0] >= 0) & (uv[:, 0] <= width)
                & (uv[:, 1] >= 0) & (uv[:, 1] <= height))


def keypoint_visibility(keypoints_world, cam_position, uv, depth, width: int, height: int, eps=None,
                        scene=None, depsgraph=None, blockers: list | None = None) -> np.ndarray:
    """(17,) int COCO visibility of world keypoints seen from a camera at ``cam_position``.

    uv/depth: the keypoints' pixels and camera-frame depths (for the in-frame test); eps: (17,)
    surface depths in metres (default ``surface_eps()``). The scene must be up to date (pose and
    occluders applied); it is evaluated here. ``blockers``: a list that receives, per keypoint, the
    name of the object hiding it (None when visible or out of frame).
    """
    scene = scene or bpy.context.scene
    if depsgraph is None:
        depsgraph = bpy.context.evaluated_depsgraph_get()
    from mathutils import Vector
    kps = np.asarray(keypoints_world, float).reshape(-1, 3)
    eps = surface_eps() if eps is None else np.broadcast_to(np.asarray(eps, float), (len(kps),))
    origin = np.asarray(cam_position, float)
    inside = in_frame(uv, depth, width, height)
    vis = np.zeros(len(kps), dtype=int)
    o = Vector(origin)
    hits = [None] * len(kps)
    for k, p in enumerate(kps):
        if not inside[k]:
            continue
        d = p - origin
        dist = float(np.linalg.norm(d))
        limit = dist - float(eps[k])
        if limit <= 0:
            vis[k] = 2
            continue
        hits[k] = _blocker(scene, depsgraph, o, Vector(d / dist), limit)
        vis[k] = 1 if hits[k] is not None else 2
    if blockers is not None:
        blockers[:] = hits
    return vis


def _blocker(scene, depsgraph, origin, direction, distance: float, max_hits: int = 16) -> str | None:
    """The name of the rendered object on the ray within ``distance`` (None: nothing). Objects
    hidden from the render (hide_render, e.g. the panel's own mannequin during a batch) are seen
    through."""
    for _ in range(max_hits):
        hit, loc, _n, _i, obj, _m = scene.ray_cast(depsgraph, origin, direction, distance=distance)
        if not hit:
            return None
        orig = getattr(obj, "original", obj)
        if not orig.hide_render:
            return orig.name
        step = (loc - origin).length + 1e-5
        origin = origin + direction * step
        distance -= step
        if distance <= 0:
            return None
    return "?"



# ------------------------------------------------------------------------------------------------
# occluders

def _occluder_material(name: str):
    return bpy.data.materials.get(name) or diffuse_material(name, (0.4, 0.4, 0.4))


def _unit_cube_mesh():
    me = bpy.data.meshes.get("DeepX_Occluder_Cube")
    if me is None:
        v = [(x, y, z) for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (0.0, 1.0)]
        f = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
        me = bpy.data.meshes.new("DeepX_Occluder_Cube")
        me.from_pydata(v, [], f)
        me.update()
        me.materials.append(_occluder_material(f"{OCCLUDER_PREFIX}0"))   # one slot; objects link their own
    return me


def occluder_pool(collection, n: int = MAX_OCCLUDERS, prefix: str = OCCLUDER_PREFIX, mesh=None,
                  material=None) -> list:
    """The n objects ``<prefix><i>`` (default: unit cubes standing on z = 0, scaled per sample),
    created once, hidden; each links its own material (``material(name)``) to the mesh's one slot."""
    mesh = mesh or _unit_cube_mesh
    material = material or _occluder_material
    out = []
    for i in range(n):
        name = f"{prefix}{i}"
        obj = bpy.data.objects.get(name)
        if obj is None:
            me = mesh()
            if not me.materials:
                me.materials.append(material(f"{prefix}base"))
            obj = bpy.data.objects.new(name, me)
            obj.material_slots[0].link = "OBJECT"
            obj.material_slots[0].material = material(name)
            _hide(obj, True)
        if obj.name not in collection.objects:
            collection.objects.link(obj)
        out.append(obj)
    return out


def _hide(obj, hidden: bool) -> None:
    if obj.hide_render != hidden:
        obj.hide_render = hidden
    if obj.hide_viewport != hidden:
        obj.hide_viewport = hidden


def hide_occluders(pool) -> None:
    for obj in pool:
        _hide(obj, True)


def place_occluder(obj, kind: str, center_xy, size, yaw_deg: float, rgb=(0.4, 0.4, 0.4)) -> dict:
    """Show ``obj`` as a box of size (width, height, depth) standing on the ground at center_xy,
    its width axis turned by yaw_deg about Z. Returns its description for the label."""
    w, h, d = (float(x) for x in size)
    obj.location = (float(center_xy[0]), float(center_xy[1]), 0.0)
    obj.rotation_mode = "XYZ"
    obj.rotation_euler = (0.0, 0.0, math.radians(yaw_deg))
    obj.scale = (w, d, h)
    set_rgb(obj.material_slots[0].material, rgb)
    _hide(obj, False)
    return {"kind": kind, "center": [float(center_xy[0]), float(center_xy[1]), h / 2],
            "size_whd": [w, h, d], "yaw_deg": float(yaw_deg), "rgb": [float(c) for c in rgb]}


def sample_occluders(pool, rng, p_occluder: float, cam_position, target_world, pelvis_world=None,
                     reach_m: float = 0.95) -> list[dict]:
    """With probability p_occluder show one occluder between the camera and the person.

    It stands on the line from the camera to ``target_world`` (a point on the person: pelvis or a
    keypoint), facing the camera, with its footprint at least 0.3 m from the camera and ``reach_m``
    (the person's horizontal reach: half the arm span) from the pelvis (default: the target), so it
    never encloses either. Unused pool objects are hidden. Returns the occluders' descriptions
    (empty list: none this time). Always draws the same number of random values.
    """
    placed = _place_one(pool, rng, p_occluder, cam_position, target_world, pelvis_world, reach_m)
    # the unused ones are hidden after the placement, not all first and one shown again: each set
    # of an object's visibility makes Cycles re-sync (scripts/bench_resync.py: ~20-30 ms at 160x160)
    hide_occluders(pool[len(placed):])
    return placed


def _place_one(pool, rng, p_occluder, cam_position, target_world, pelvis_world, reach_m) -> list[dict]:
    u_show, u_kind, u_w, u_h, u_d, u_along, n_lat, n_yaw = rng.random(8)
    rgb = tuple(float(x) for x in rng.uniform(0.1, 0.8, 3))
    if not pool or p_occluder <= 0 or u_show >= p_occluder:
        return []
    cam = np.asarray(cam_position, float)
    tgt = np.asarray(target_world, float)
    pel = tgt if pelvis_world is None else np.asarray(pelvis_world, float)
    horiz = tgt[:2] - cam[:2]
    dist = float(np.linalg.norm(horiz))
    kind = "wall" if u_kind < 0.5 else "box"
    ranges = WALL_SIZE if kind == "wall" else BOX_SIZE
    w, h, d = (lo + u * (hi - lo) for u, (lo, hi) in zip((u_w, u_h, u_d), ranges))
    half_diag = 0.5 * math.hypot(w, d)
    lo, hi = 0.3 + half_diag, dist - reach_m - half_diag
    if dist <= 0 or hi <= lo:
        return []
    along = lo + u_along * (hi - lo)
    u = horiz / dist
    side = np.array([-u[1], u[0]])
    lateral = 0.25 * w * _normal(n_lat)
    center = cam[:2] + u * along + side * lateral
    if (np.linalg.norm(center - cam[:2]) < lo or np.linalg.norm(center - pel[:2]) < reach_m + half_diag):
        return []
    yaw = math.degrees(math.atan2(u[1], u[0])) + 90.0 + 10.0 * _normal(n_yaw)
    return [place_occluder(pool[0], kind, center, (w, h, d), yaw, rgb)]


def _normal(u: float) -> float:
    """A standard normal value from one uniform (inverse CDF by bisection-free approximation)."""
    from statistics import NormalDist
    return NormalDist().inv_cdf(min(max(float(u), 1e-12), 1 - 1e-12))
