"""Body proportions as a keypoint source reads them, for any keypoint JSONL: no ground truth needed.

    .venv/bin/python scripts/keypoint_proportions.py FILE.jsonl [FILE2.jsonl ...] [--exact] [--street-like]

For every upright person whose shoulders, hips, knees and ankles are all present (confidence >= 0.3,
and in that order from top to bottom of the image), prints the medians of torso / leg (mid-shoulder to
mid-hip over mid-hip to mid-knee to mid-ankle), thigh / shin and shoulder width / torso, and, where the
nose is present too and above the shoulders, nose to mid-shoulder / torso. Comparing a
real set read by one detector (KITTI's PifPaf keypoints) with rendered people read by another
(scripts/render_detect.py pairs, YOLO11n-pose) and with the renders' exact keypoints says which
proportions the renders get wrong in the detector's eyes, without any real ground truth.

``--exact`` reads pair rows' ``gt_keypoints`` instead of ``keypoints``; ``--street-like`` keeps only
the pair rows scripts/detector_vs_truth.py calls street-like (eye-level camera, standing or walking,
whole, in clear view, adult, >= 64 px). An evaluation only: nothing is fitted.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detector_vs_truth import CONDITIONS, upright_chain  # noqa: E402  (sibling script: street-like, upright)
from split_pairs import exact_row  # noqa: E402  (the one definition of exact keypoints)

MIN_CONF = 0.3


def proportions(kp) -> tuple[float, float, float, float] | None:
    """(torso / leg, thigh / shin, shoulder width / torso, nose to mid-shoulder / torso) of one upright
    person, or None; the last is NaN when the nose is missing or not above the shoulders."""
    k = np.asarray(kp, float)
    if k.shape != (17, 3) or (k[5:17, 2] < MIN_CONF).any():
        return None
    chain = upright_chain(k)
    if chain is None:
        return None
    sh, hip, knee, ankle = chain
    torso, thigh, shin = (np.linalg.norm(a - b) for a, b in ((sh, hip), (hip, knee), (knee, ankle)))
    if min(torso, thigh, shin) <= 0:
        return None
    head = float(np.linalg.norm(k[0, :2] - sh)) / torso if k[0, 2] >= MIN_CONF and k[0, 1] < sh[1] else np.nan
    return torso / (thigh + shin), thigh / shin, float(np.linalg.norm(k[5, :2] - k[6, :2])) / torso, head


def read_keypoints(path, exact: bool = False, street_like: bool = False) -> list:
    out = []
    for n, line in enumerate(open(path), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue                     # a torn last line of a file being written
        if street_like and not CONDITIONS["street-like"](r):
            continue
        if exact:
            if "gt_keypoints" not in r:
                raise SystemExit(f"{path}:{n}: --exact needs pair rows with gt_keypoints")
            if not r.get("detected", True):
                continue
            out.append(exact_row(r)["keypoints"])
        elif r.get("detected", True) and r.get("keypoints"):
            out.append(r["keypoints"])
    return out


def summary(kps) -> dict:
    p = np.array([x for x in map(proportions, kps) if x is not None]).reshape(-1, 4)
    med = np.median(p[:, :3], axis=0) if len(p) else [np.nan] * 3
    head = p[np.isfinite(p[:, 3]), 3]
    return {"n": len(p), "torso/leg": float(med[0]), "thigh/shin": float(med[1]),
            "shoulder width/torso": float(med[2]), "n_nose": len(head),
            "nose-shoulders/torso": float(np.median(head)) if len(head) else float("nan")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+")
    p.add_argument("--exact", action="store_true", help="pair rows' exact keypoints (gt_keypoints)")
    p.add_argument("--street-like", action="store_true", help="only street-like pair rows")
    a = p.parse_args(argv)
    kps = [k for f in a.files for k in read_keypoints(f, a.exact, a.street_like)]
    s = summary(kps)
    print(f"{len(kps)} people read, {s['n']} upright with shoulders, hips, knees and ankles"
          + (" (exact keypoints)" if a.exact else "") + (" (street-like)" if a.street_like else ""))
    print(f"  torso / leg            {s['torso/leg']:.3f}")
    print(f"  thigh / shin           {s['thigh/shin']:.3f}")
    print(f"  shoulder width / torso {s['shoulder width/torso']:.3f}")
    print(f"  nose to shoulders / torso {s['nose-shoulders/torso']:.3f} (n={s['n_nose']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
