"""Street and room clutter around the people: poles, boxes, cars, facades/walls (bpy).

A fixed pool of objects is made once per scene (so the object set, and Cycles' persistent data,
stay the same between samples); ``place_clutter`` shows some of them per sample at seeded places in
the camera's view, hides the rest and returns their descriptions for the label. Objects keep
``MIN_GAP_M`` from every person's footprint (nothing stands inside a person) and from the camera;
one standing between the camera and a person is an occlusion the visibility ray cast then sees.
"""
from __future__ import annotations

import math

import bpy
import numpy as np

from .occlusion import _hide, _unit_cube_mesh, occluder_pool
from .scene import GROUND_LOOKS, sample_texture, set_texture, textured_material

PREFIX = "DeepX_Clutter_"
# kind -> pool size; sizes (width, height, depth) ranges in metres
POOL = {"pole": 3, "box": 3, "car": 2, "facade": 3}
SIZES = {"pole": ((0.08, 0.3), (2.2, 6.0), None),
         "box": ((0.35, 1.5), (0.4, 1.3), (0.3, 1.0)),
         "car": ((3.8, 4.8), (1.35, 1.75), (1.65, 1.95)),
         "facade": ((6.0, 30.0), (3.0, 14.0), (0.5, 1.5))}
KIND_WEIGHTS = {"pole": 2.0, "box": 2.0, "car": 1.5, "facade": 1.5}
FACADE_LOOKS = (("brick", 2.0, (0.18, 0.07, 0.04), (0.35, 0.14, 0.08), True),
                ("plaster", 2.0, (0.40, 0.37, 0.32), (0.60, 0.56, 0.50), False),
                ("concrete", 1.5, (0.22, 0.22, 0.22), (0.40, 0.40, 0.39), False),
                ("glass_dark", 1.0, (0.03, 0.04, 0.05), (0.10, 0.12, 0.14), True))
MIN_GAP_M = 0.35
NEAREST_M = 2.5              # no clutter nearer the camera than this (it would fill the frame)


def _unit_cylinder_mesh():
    me = bpy.data.meshes.get("DeepX_Clutter_Cylinder")
    if me is None:
        n = 12
        ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
        v = [(0.5 * math.cos(a), 0.5 * math.sin(a), z) for z in (0.0, 1.0) for a in ang]
        f = [(k, (k + 1) % n, n + (k + 1) % n, n + k) for k in range(n)]
        f += [tuple(range(n - 1, -1, -1)), tuple(range(n, 2 * n))]
        me = bpy.data.meshes.new("DeepX_Clutter_Cylinder")
        me.from_pydata(v, [], f)
        for p in me.polygons:
            p.use_smooth = len(p.vertices) == 4
        me.update()
    return me


def _car_mesh():
    """A unit car (1 long x 1 wide x 1 high, on z = 0): a body box and a narrower cabin on top."""
    me = bpy.data.meshes.get("DeepX_Clutter_Car")
    if me is None:
        def box(x0, x1, y0, y1, z0, z1, off):
            v = [(x, y, z) for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)]
            f = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
            return v, [tuple(i + off for i in q) for q in f]
        v1, f1 = box(-0.5, 0.5, -0.5, 0.5, 0.12, 0.58, 0)
        v2, f2 = box(-0.25, 0.22, -0.44, 0.44, 0.58, 1.0, 8)
        v3, f3 = box(-0.42, -0.28, -0.52, 0.52, 0.0, 0.3, 16)   # wheels as dark blocks
        v4, f4 = box(0.28, 0.42, -0.52, 0.52, 0.0, 0.3, 24)
        me = bpy.data.meshes.new("DeepX_Clutter_Car")
        me.from_pydata(v1 + v2 + v3 + v4, [], f1 + f2 + f3 + f4)
        me.update()
    return me


def clutter_pool(collection) -> dict[str, list]:
    """{kind: [objects]} made once (hidden); each object has its own textured material."""
    meshes = {"pole": _unit_cylinder_mesh, "box": _unit_cube_mesh, "car": _car_mesh, "facade": _unit_cube_mesh}
    return {kind: occluder_pool(collection, n, f"{PREFIX}{kind}_", meshes[kind], textured_material)
            for kind, n in POOL.items()}


def _material(obj):
    return obj.material_slots[0].material


def _clear(xy, r, people, cam_xy) -> bool:
    if np.linalg.norm(xy - cam_xy) < r + 0.8:
        return False
    return all(np.linalg.norm(xy - np.asarray(p[:2])) >= r + pr + MIN_GAP_M for p, pr in people)


def place_clutter(pool: dict, rng, n_range, cam_position, cam_yaw_deg: float, hfov_deg: float,
                  people, main_distance: float, indoor: bool = False) -> list[dict]:
    """Show 0..n clutter objects in the view of a camera at ``cam_position`` heading ``cam_yaw_deg``
    (counter-clockwise from +X); ``people`` = [(xy, footprint radius)]. Returns descriptions.
    Indoors: only boxes and walls (facades close behind the people). Rejected places are skipped,
    not retried elsewhere, so the draw count per sample is fixed."""
    out = _place(pool, rng, n_range, cam_position, cam_yaw_deg, hfov_deg, people, main_distance, indoor)
    # the unused objects are hidden after the placement, not all first and the used ones shown
    # again: each set of an object's visibility makes Cycles re-sync (scripts/bench_resync.py)
    shown = {d["name"] for d in out}
    for objs in pool.values():
        for o in objs:
            if o.name not in shown:
                _hide(o, True)
    return out


def _place(pool, rng, n_range, cam_position, cam_yaw_deg, hfov_deg, people, main_distance, indoor) -> list[dict]:
    n_max = int(n_range[1])
    draws = rng.random((n_max + 1, 8))
    n = int(n_range[0] + math.floor(draws[-1, 0] * (n_range[1] - n_range[0] + 1)))
    kinds = ("box", "facade") if indoor else tuple(KIND_WEIGHTS)
    w = np.array([KIND_WEIGHTS[k] for k in kinds])
    cum = np.cumsum(w) / w.sum()
    used = {k: 0 for k in POOL}
    cam = np.asarray(cam_position, float)
    out = []
    far = max(6.0, 1.3 * main_distance + 6.0)
    for d in draws[:n]:
        kind = kinds[min(int(np.searchsorted(cum, d[0], side="right")), len(kinds) - 1)]
        if used[kind] >= len(pool[kind]):
            continue
        (w0, w1), (h0, h1), dr = SIZES[kind]
        width = w0 + d[1] * (w1 - w0)
        height = h0 + d[2] * (h1 - h0)
        depth = width if dr is None else dr[0] + d[3] * (dr[1] - dr[0])
        if kind == "facade":
            if indoor:
                height = min(height, 3.2)
                dist = main_distance + 0.8 + 3.0 * d[4]
            else:
                dist = main_distance + 2.0 + d[4] * (far - main_distance)
            lat = (d[5] - 0.5) * 1.2
            yaw_obj = cam_yaw_deg + 90.0 + (d[6] - 0.5) * 60.0     # faces the camera, roughly
        else:
            dist = NEAREST_M + d[4] * far
            lat = (d[5] - 0.5) * 1.1
            yaw_obj = d[6] * 360.0
        ang = math.radians(cam_yaw_deg) + lat * math.radians(hfov_deg) / 2
        xy = cam[:2] + dist * np.array([math.cos(ang), math.sin(ang)])
        r = 0.5 * math.hypot(width, depth) if kind != "facade" else 0.5 * depth
        if kind == "facade":
            # the person side of a facade: no person within its footprint, measured along its normal
            if not _clear(xy, 0.5 * depth, people, cam[:2]):
                continue
            if any(_inside_wall(np.asarray(p[:2]), xy, width, depth + 2 * (pr + MIN_GAP_M), yaw_obj)
                   for p, pr in people) or _inside_wall(cam[:2], xy, width, depth + 1.6, yaw_obj):
                continue
        elif not _clear(xy, r, people, cam[:2]):
            continue
        obj = pool[kind][used[kind]]
        used[kind] += 1
        obj.location = (float(xy[0]), float(xy[1]), 0.0)
        obj.rotation_mode = "XYZ"
        obj.rotation_euler = (0.0, 0.0, math.radians(yaw_obj))
        obj.scale = (width, depth, height) if kind != "car" else (width, depth, height)
        tex = sample_texture(rng, FACADE_LOOKS if kind == "facade" else GROUND_LOOKS)
        if kind in ("car", "box", "pole"):      # painted objects: one saturated-ish colour
            c = rng.uniform(0.02, 0.7, 3)
            tex.update(a=tuple(map(float, c)), b=tuple(map(float, np.clip(c * 1.2, 0, 0.9))), brick=False,
                       look="paint")
        tex["mapping_scale"] = (float(width), float(depth), float(height))   # object coords -> metres
        set_texture(_material(obj), tex)
        _hide(obj, False)
        out.append({"kind": kind, "name": obj.name, "center": [float(xy[0]), float(xy[1]), height / 2],
                    "size_whd": [float(width), float(height), float(depth)], "yaw_deg": float(yaw_obj),
                    "look": tex["look"]})
    return out


def _inside_wall(p, centre, width, depth, yaw_deg) -> bool:
    """Is the point p within the (width x depth) footprint turned by yaw_deg around centre?"""
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    d = p - centre
    u = c * d[0] + s * d[1]
    v = -s * d[0] + c * d[1]
    return abs(u) <= width / 2 and abs(v) <= depth / 2
