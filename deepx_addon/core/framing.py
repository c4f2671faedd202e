"""Is the person whole and big enough in the frame? One rule for `deepx estimate` (detector boxes)
and `deepx predict` (keypoint rows), so both give a cut-off or tiny person the same status.

- too_small: the person's box (detector box, else the extent of the present keypoints) is under
  MIN_BOX_PX tall: keypoints that small are noise; no number.
- truncated: the box reaches an image border and a key joint (shoulders, hips, knees, ankles) is
  missing or outside the image: the body continues beyond the frame, a number with a warning.
"""
from __future__ import annotations

import warnings

import numpy as np

from .keypoints import COCO_KEYPOINTS, L_ANKLE, L_HIP, L_KNEE, L_SHOULDER, R_ANKLE, R_HIP, R_KNEE, R_SHOULDER

TRUNCATED, TOO_SMALL = "truncated", "too_small"
KEY_JOINTS = (L_SHOULDER, R_SHOULDER, L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE)
KEY_JOINT_MIN_CONF = 0.3      # a key joint below this (or outside the image) counts as missing
BORDER_PX = 2.0               # a detector box edge this close to the image edge "touches" it
MIN_BOX_PX = 24.0             # shorter people get too_small
# Without a detector box the present keypoints stop short of the border where the body is cut (a
# person cut at mid-thigh shows the hips as lowest point): their extent "reaches" a border when the
# gap is under this fraction of the extent's height (a thigh is ~0.5 of nose-to-hip).
KEYPOINT_GAP = 0.6


def judge_many(kp, image_size, bbox=None, min_px: float = MIN_BOX_PX) -> tuple[list, list]:
    """For n people: (too_small reasons, truncated reasons), each a list with None where the rule
    does not apply. kp (n, 17, 3); image_size (n, 2) (NaN: unknown, nothing judged); bbox (n, 4)
    detector boxes or None / NaN rows (then the present keypoints' extent is used)."""
    kp = np.asarray(kp, float).reshape(-1, len(COCO_KEYPOINTS), 3)
    n = len(kp)
    size = np.asarray(image_size, float).reshape(n, 2)
    box = np.full((n, 4), np.nan) if bbox is None else np.asarray(bbox, float).reshape(n, 4)
    has_box = np.isfinite(box).all(1)
    pres = kp[..., 2] > 0
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # a person with no keypoint: all-NaN rows
        x = np.where(pres, kp[..., 0], np.nan)
        y = np.where(pres, kp[..., 1], np.nan)
        ext = np.stack([np.nanmin(x, 1), np.nanmin(y, 1), np.nanmax(x, 1), np.nanmax(y, 1)], 1) \
            if n else np.zeros((0, 4))
    known = np.isfinite(size).all(1)
    rect = np.where(has_box[:, None], box, ext)
    height = rect[:, 3] - rect[:, 1]
    small = known & np.isfinite(height) & (height < min_px)
    margin = np.where(has_box, BORDER_PX, KEYPOINT_GAP * np.maximum(height, 1.0))
    W, H = size[:, 0], size[:, 1]
    with np.errstate(invalid="ignore"):
        sides = np.stack([rect[:, 0] <= margin, rect[:, 1] <= margin, rect[:, 2] >= W - margin,
                          rect[:, 3] >= H - margin], 1) & known[:, None]
        kj = kp[:, KEY_JOINTS]
        gone = (kj[..., 2] < KEY_JOINT_MIN_CONF) | ~((kj[..., 0] >= 0) & (kj[..., 0] <= W[:, None])
                                                    & (kj[..., 1] >= 0) & (kj[..., 1] <= H[:, None]))
    trunc = sides.any(1) & gone.any(1) & ~small
    small_txt = [None] * n
    trunc_txt = [None] * n
    for i in np.flatnonzero(small):
        small_txt[i] = f"person {'box ' if has_box[i] else ''}{height[i]:.0f} px tall (< {min_px:g} px): no estimate"
    for i in np.flatnonzero(trunc):
        names = [s for s, hit in zip(("left", "top", "right", "bottom"), sides[i]) if hit]
        missing = [COCO_KEYPOINTS[j] for j, g in zip(KEY_JOINTS, gone[i]) if g]
        trunc_txt[i] = (f"{'box' if has_box[i] else 'person'} reaches the image border ({', '.join(names)}); "
                        f"missing: {', '.join(missing)}")
    return small_txt, trunc_txt


def truncation(kp, width, height, bbox=None) -> str | None:
    """The reason text when one person is cut off by the frame, else None."""
    return judge_many(kp, [width, height], bbox, min_px=0.0)[1][0]


def too_small(kp, bbox=None, min_px: float = MIN_BOX_PX) -> str | None:
    """The reason text when one person is too small to estimate, else None (no image size needed)."""
    return judge_many(kp, [1.0, 1.0], bbox, min_px)[0][0]
