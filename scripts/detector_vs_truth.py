"""Where the real detector puts a rendered person's joints, against the truth.

    .venv/bin/python scripts/detector_vs_truth.py PAIRS.jsonl [PAIRS2.jsonl ...] [--decompose] [--by-outfit] [--by-view]
    .venv/bin/python scripts/detector_vs_truth.py --real examples/real/h36m_3dhp_images.jsonl

Reads (truth, detection) pair rows (scripts/render_detect.py, `deepx detect`) and prints, over
detected people who are not cut by the border:

1. **segment lengths**: median detected / true length of torso (mid-shoulder to mid-hip), thigh,
   shin, upper arm, shoulder width, hip width and nose to mid-shoulder, with every end point visible
   (visibility 2) and detected with confidence >= 0.3, true length >= 6 px;
2. **offsets** of single joints for upright people (standing, walking, hands up): median vertical
   offset (detected - true, + = down) as a share of the person's height, and for people seen from
   the front or back (yaw within 40 deg) the sideways offset (+ = away from the body's middle);
3. with ``--by-size``: the segment ratios again per bin of the person's height in pixels (does the
   detector read small people shorter than big ones?); with ``--by-outfit`` the torso and shoulder
   width ratios and the upright hips' vertical offset per clothing group (a coat; a skirt or dress;
   trousers or shorts, whose shirt hem is the one waistline every such person wears); with ``--by-view``
   the torso ratio and the upright hips' vertical offset per yaw to the camera (front, turned, side, back);
   with ``--by-elevation`` the upright mid-hip per view and camera elevation, and how far the detector puts a
   visible hip towards the hidden one (side views seen from above read "hips high" from that alone);
4. with ``--decompose``: the default model's median signed error with the detected keypoints, then
   with one group (face, shoulders, arms, hips, knees, ankles, all) replaced by the truth — how much
   of the detector-induced bias each group carries. It runs ``deepx predict`` in this interpreter;
5. with ``--conditions``: over every detected person (cut ones too), the estimator's bias (mean
   signed relative error) and median signed error with the detected keypoints and with the same
   people's exact keypoints, per condition: street-like (eye-level camera, upright, whole, in clear
   view, adult, >= 64 px: what the real pedestrian sets hold), each camera kind (standing or walking
   whole, clear adults) and pose family (whole, clear adults), people cut by the border, hidden by
   others, children. The gap between the
   two columns is what the detector adds in that condition. A third column scores the detected
   keypoints scaled and moved onto the exact ones (``at_true_scale``): the detector's *shape* of the
   person at the true size. If it reads as far as the detected column, the detector's error is in
   where it puts the joints relative to each other, not in how big it sees the person.

With ``--real`` the pairs are made from real photos with ground-truth 2D joints instead (a keypoint
JSONL whose rows name an image, e.g. examples/real/h36m_3dhp_images.jsonl): YOLO11n-pose reads each
photo and the detection matching the row's person (OKS) is paired with the dataset's joints; 1 and 2
then say where the detector puts a *real* person's joints against motion-capture joint centres, the
same comparison as for the renders. An evaluation only: nothing is fitted on the photos.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from split_pairs import exact_row  # noqa: E402  (a sibling script: the one definition of "exact keypoints")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deepx_addon.core.keypoints import pelvis_of  # noqa: E402

SEGMENTS = {"torso": ((5, 6), (11, 12)), "thigh": ((11, 12), (13, 14)), "shin": ((13, 14), (15, 16)),
            "upper arm": ((5, 6), (7, 8)), "shoulder width": ((5,), (6,)), "hip width": ((11,), (12,)),
            "nose-shoulders": ((0,), (5, 6))}
GROUPS = {"face": [0, 1, 2, 3, 4], "shoulders": [5, 6], "arms": [7, 8, 9, 10], "hips": [11, 12],
          "knees": [13, 14], "ankles": [15, 16], "all": list(range(17))}
SIZE_EDGES = (16, 32, 64, 128, 256, 100000)
UPRIGHT = ("standing", "walking", "hands_up")   # the families whose joint offsets are read vertically
JOINTS = {"nose": 0, "left shoulder": 5, "right shoulder": 6, "left hip": 11, "right hip": 12,
          "left knee": 13, "right knee": 14, "left ankle": 15, "right ankle": 16}


def read_rows(paths, whole_only: bool = True) -> list[dict]:
    rows = []
    for p in paths:
        for line in open(p):
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if r.get("detected") and not (whole_only and r.get("truncated")):
                rows.append(r)
    return rows


def real_rows(jsonl, detector=None) -> list[dict]:
    """Pair rows (read_rows' shape) from real photos with ground-truth 2D joints. Real rows carry no
    pose family: a person whose true joints stand upright (shoulders over hips over knees over ankles,
    the trunk within 25 deg of vertical) counts as "standing", anyone else as "other"; the person's
    height in pixels is read from nose to ankles (0.866 of stature upright, core/anthropometry.py).
    Photos in which the detector finds nobody matching are left out, and named on stderr."""
    from deepx_addon.core.anthropometry import LANDMARK_HEIGHT
    from deepx_addon.core.records import read_jsonl
    from deepx_addon.ml.detector import read_image
    from deepx_addon.runtime.detections import match_detections

    if detector is None:
        from deepx_addon.ml.api import default_detector
        detector = default_detector()
    rows, missed = [], []
    for rec in read_jsonl(jsonl):
        if not rec.image:
            continue
        g = np.array(rec.keypoints, float)
        dets = detector.detect(read_image(Path(jsonl).parent / rec.image))[0]
        m = match_detections(dets, [rec.keypoints])
        if not m:
            missed.append(rec.id)
            continue
        vis = [2 if c > 0 else 0 for c in g[:, 2]]
        chain = upright_chain(g) if all(vis[i] for i in (0, 5, 6, 11, 12, 13, 14, 15, 16)) else None
        up = False
        if chain is not None:
            sh, hip = chain[0], chain[1]
            up = np.degrees(np.arctan2(abs(sh[0] - hip[0]), hip[1] - sh[1])) < 25
        height = (_mid(g, (15, 16))[1] - g[0][1]) / (LANDMARK_HEIGHT[0] - LANDMARK_HEIGHT[15]) if up else None
        rows.append({"id": rec.id, "detected": True, "truncated": False, "family": "standing" if up else "other",
                     "person_yaw_deg": None, "person_height_px": height, "visibility": vis,
                     "gt_keypoints": g.tolist(), "keypoints": np.asarray(dets[m[0].det].keypoints, float).tolist()})
    if missed:
        print(f"{jsonl}: no detection matches the person in {len(missed)} photo(s), left out: {', '.join(missed)}",
              file=sys.stderr)
    return rows


def upright_chain(k):
    """Mid-shoulder, mid-hip, mid-knee and mid-ankle (x, y) of a person whose joints stand in that
    order from the top of the image down, or None (the one upright test of detector_vs_truth.py and
    keypoint_proportions.py; confidences are the caller's to check)."""
    chain = [_mid(np.asarray(k, float), (a, a + 1)) for a in (5, 11, 13, 15)]
    return chain if all(chain[i][1] < chain[i + 1][1] for i in range(3)) else None


def _mid(k, idx):
    return np.mean([k[i][:2] for i in idx], axis=0)


def segment_ratios(rows) -> dict[str, tuple[int, float]]:
    out = {}
    for name, (a, b) in SEGMENTS.items():
        rat = []
        for r in rows:
            d, g, vis = np.array(r["keypoints"]), np.array(r["gt_keypoints"]), r.get("visibility")
            if any(d[i][2] < 0.3 for i in a + b) or (vis and any(vis[i] != 2 for i in a + b)):
                continue
            lg = np.linalg.norm(_mid(g, a) - _mid(g, b))
            if lg >= 6:
                rat.append(np.linalg.norm(_mid(d, a) - _mid(d, b)) / lg)
        out[name] = (len(rat), float(np.median(rat)) if rat else float("nan"))
    return out


def yaw_from_front(r) -> float | None:
    """The person's yaw to the camera folded to 0-180 deg (0 = facing it, 180 = back to it), or None."""
    y = r.get("person_yaw_deg")
    return None if y is None else abs((float(y) + 180) % 360 - 180)


def joint_offsets(rows) -> dict[str, tuple[int, float, int, float]]:
    up = [r for r in rows if r.get("family") in UPRIGHT]
    out = {}
    for name, j in JOINTS.items():
        dy, dx = [], []
        for r in up:
            d, g, h = r["keypoints"], r["gt_keypoints"], r.get("person_height_px") or 0
            if h <= 0 or d[j][2] < 0.3 or r["visibility"][j] != 2:
                continue
            dy.append((d[j][1] - g[j][1]) / h)
            yaw = yaw_from_front(r)                      # no yaw: not counted as front/back
            if yaw is not None and (yaw < 40 or yaw > 140):
                cx = (g[5][0] + g[6][0] + g[11][0] + g[12][0]) / 4
                dx.append(np.sign(g[j][0] - cx) * (d[j][0] - g[j][0]) / h)
        out[name] = (len(dy), float(np.median(dy)) if dy else float("nan"),
                     len(dx), float(np.median(dx)) if dx else float("nan"))
    return out


def decompose(rows, estimator="default") -> dict[str, tuple[int, float]]:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for g, idx in {"none": [], **GROUPS}.items():
            src, dst = Path(tmp) / f"{g}.jsonl", Path(tmp) / f"{g}.out.jsonl"
            with open(src, "w") as f:
                for r in rows:
                    kp = [list(k) for k in r["keypoints"]]
                    for i in idx:
                        x, y, v = r["gt_keypoints"][i]
                        kp[i] = [x, y, 0.9] if v > 0 else [0.0, 0.0, 0.0]
                    f.write(json.dumps({**r, "keypoints": kp}) + "\n")
            subprocess.run([sys.executable, "-m", "deepx_addon.cli", "predict", "-i", str(src), "-o", str(dst),
                            "--estimator", estimator], check=True, capture_output=True)
            rel = [p["distance_m"] / r["distance_m"] - 1 for p, r in
                   zip(map(json.loads, open(dst)), rows) if p.get("distance_m")]
            out[g] = (len(rel), float(np.median(rel)) if rel else float("nan"))
    return out


def _clear_adult(r) -> bool:
    return (not r.get("truncated") and (r.get("height_m") or 0) >= CHILD_M
            and not any(o not in (None, "self") for o in r.get("occluded_by") or []))


CHILD_M = 1.45       # shorter: a child (core/body.py draws children 1.0-1.45 m)
CONDITIONS = {
    "all": lambda r: True,
    "street-like": lambda r: (_clear_adult(r) and r.get("camera_kind") in ("dashcam", "handheld")
                              and r.get("family") in ("standing", "walking") and (r.get("person_height_px") or 0) >= 64),
    **{f"camera {k}": (lambda r, k=k: _clear_adult(r) and r.get("camera_kind") == k
                       and r.get("family") in ("standing", "walking"))
       for k in ("dashcam", "handheld", "indoor", "cctv", "any")},
    **{f"family {f}": (lambda r, f=f: _clear_adult(r) and r.get("family") == f)
       for f in ("standing", "walking", "hands_up", "crouching", "kneeling", "sitting", "bending")},
    "cut by the border": lambda r: bool(r.get("truncated")),
    "hidden by another": lambda r: any(o not in (None, "self") for o in r.get("occluded_by") or []),
    "children": lambda r: 0 < (r.get("height_m") or 0) < CHILD_M,
}


def at_true_scale(r) -> list | None:
    """The detected keypoints scaled about their centre to the exact ones' size and moved onto them:
    the detector's shape of the person at the true size. The scale is the median ratio of the
    distances between joints both have (pairs at least a tenth of the person apart), robust to a
    misplaced limb and, unlike a least-squares fit, not shrunk by the detector's noise. None: fewer
    than 8 such joints."""
    d, g = np.array(r["keypoints"], float), np.array(r["gt_keypoints"], float)
    m = (d[:, 2] > 0) & (g[:, 2] > 0)
    if m.sum() < 8:
        return None
    y, x = d[m, :2], g[m, :2]
    i, j = np.triu_indices(len(x), 1)
    lx, ly = np.linalg.norm(x[i] - x[j], axis=1), np.linalg.norm(y[i] - y[j], axis=1)
    far = (lx >= 0.1 * lx.max()) & (ly > 0)
    out = d.copy()
    out[m, :2] = (y - y.mean(0)) * np.median(lx[far] / ly[far]) + x.mean(0)
    return out.tolist()


KEYPOINTS = {   # which keypoints condition_table scores a row with
    "detected": lambda r: r["keypoints"],
    "exact": lambda r: exact_row(r)["keypoints"],
    "shape": at_true_scale,
}


def signed_errors(rows, est, which: str) -> np.ndarray:
    """Relative distance error per row (NaN: no estimate) of the Estimator est with the
    KEYPOINTS[which] of each row."""
    from deepx_addon.core.evaluation import predict_file
    kps = [KEYPOINTS[which](r) for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "rows.jsonl"
        with open(src, "w") as f:
            for r, kp in zip(rows, kps):
                f.write(json.dumps({k: r[k] for k in ("id", "K", "distance_m", "image_size") if k in r}
                                   | {"keypoints": kp or [[0.0, 0.0, 0.0]] * 17}) + "\n")
        preds = predict_file(est, src)
    return np.array([p.estimate.distance_m / p.true_distance_m - 1 if p.estimate.has_value and kp else np.nan
                     for p, kp in zip(preds, kps)])


def condition_table(rows, estimator="default") -> dict[str, tuple]:
    """condition -> (n, then bias and median signed error with the detected keypoints, the exact ones,
    and the detected shape at the true size), over the rows where all three have an estimate."""
    from deepx_addon.ml import registry
    est = registry.build(estimator, quiet=True)     # loaded once for the three readings
    errs = [signed_errors(rows, est, w) for w in KEYPOINTS]
    ok = np.logical_and.reduce([np.isfinite(e) for e in errs])
    out = {}
    for name, keep in CONDITIONS.items():
        m = ok & np.array([keep(r) for r in rows], bool)
        out[name] = ((int(m.sum()), *(float(f(e[m])) for e in errs for f in (np.mean, np.median))) if m.any()
                     else (0,) + (np.nan,) * 6)
    return out


OUTFIT_GROUPS = {  # label "outfit" -> group (a coat hides the waistline; a skirt's waist sits higher)
    "coat": lambda o: o.get("coat", "none") != "none",
    "skirt or dress": lambda o: o.get("coat", "none") == "none" and o.get("lower") in ("skirt", "dress"),
    "trousers or shorts": lambda o: o.get("coat", "none") == "none" and o.get("lower") not in ("skirt", "dress"),
}


def outfit_table(rows) -> dict[str, tuple]:
    """group -> (people, torso ratio (n, median), shoulder width ratio (n, median), left and right hip
    (n, vertical offset)); rows without an outfit (plain scenes) are in no group."""
    out = {}
    for name, test in OUTFIT_GROUPS.items():
        sub = [r for r in rows if isinstance(r.get("outfit"), dict) and test(r["outfit"])]
        seg, off = segment_ratios(sub), joint_offsets(sub)
        out[name] = (len(sub), seg["torso"], seg["shoulder width"], off["left hip"][:2], off["right hip"][:2])
    return out


VIEW_BINS = ((0, 30, "front"), (30, 60, "front, turned"), (60, 120, "side"), (120, 150, "back, turned"),
             (150, 181, "back"))      # |person_yaw_deg| (0 = facing the camera)


def view_table(rows) -> dict[str, tuple]:
    """view -> (people, torso ratio (n, median), left and right hip (n, vertical offset)) by the person's
    yaw to the camera; rows without a yaw are in no group."""
    yaw = [yaw_from_front(r) for r in rows]
    out = {}
    for lo, hi, name in VIEW_BINS:
        sub = [r for r, y in zip(rows, yaw) if y is not None and lo <= y < hi]
        seg, off = segment_ratios(sub), joint_offsets(sub)
        out[f"{name} ({lo}-{min(hi, 180)} deg)"] = (len(sub), seg["torso"], off["left hip"][:2], off["right hip"][:2])
    return out


ELEV_BINS = ((-90, 5), (5, 15), (15, 30), (30, 90))   # camera elevation over the pelvis, deg (0 = level)


def camera_elevation_deg(r) -> float | None:
    """How far above the pelvis the camera looks down at it: the angle of the camera -> pelvis ray below the
    horizontal (world Z up; camera R, t map world to camera, keypoints_3d_cam are camera-frame). None if the
    row carries no camera or 3D keypoints."""
    cam, k3 = r.get("camera"), r.get("keypoints_3d_cam")
    if not cam or k3 is None or "R" not in cam or "t" not in cam or "position" not in cam:
        return None
    w = (np.asarray(k3, float)[:, :3] - np.asarray(cam["t"], float)) @ np.asarray(cam["R"], float)
    d = np.asarray(cam["position"], float) - pelvis_of(w)
    return float(np.degrees(np.arctan2(d[2], np.hypot(d[0], d[1]))))


def hip_geometry(rows) -> tuple[dict, dict]:
    """Upright people's hips by camera elevation, two ways (% of the height, + = down):
    - mid-hip: {(view, elevation bin): (n, median vertical offset of the detected mid-hip)}, both hips read
      (confidence >= 0.3, hidden or not): what a distance model sees;
    - near hip: {elevation bin: (n, intercept, slope)} of a least-squares line dy = a + b * sep over people with
      one hip visible and the other hidden, dy the visible hip's offset and sep how far below it the hidden hip's
      true position lies in the image. b = 0.5 means the detector puts the visible hip half-way to the hidden
      one, which from above (sep < 0) reads as "too high" without any error in the pelvis."""
    mid, near = {}, {}
    for r in rows:
        h, el = r.get("person_height_px") or 0, camera_elevation_deg(r)
        yaw = yaw_from_front(r)
        eb = None if el is None else next((b for b in ELEV_BINS if b[0] <= el < b[1]), None)
        if r.get("family") not in UPRIGHT or h <= 0 or eb is None or yaw is None:
            continue
        vb = next(name for lo, hi, name in VIEW_BINS if lo <= yaw < hi)
        d, g, vis = r["keypoints"], r["gt_keypoints"], r["visibility"]
        if d[11][2] >= 0.3 and d[12][2] >= 0.3:
            mid.setdefault((vb, eb), []).append((d[11][1] + d[12][1] - g[11][1] - g[12][1]) / 2 / h)
        for j, k in ((11, 12), (12, 11)):
            if vis[j] == 2 and vis[k] != 2 and d[j][2] >= 0.3:
                near.setdefault(eb, []).append(((d[j][1] - g[j][1]) / h, (g[k][1] - g[j][1]) / h))
    mid_t = {key: (len(v), float(np.median(v))) for key, v in mid.items()}
    near_t = {}
    for eb, v in near.items():
        a = np.array(v)
        if len(a) >= 3:
            c = np.linalg.lstsq(np.c_[np.ones(len(a)), a[:, 1]], a[:, 0], rcond=None)[0]
            near_t[eb] = (len(a), float(c[0]), float(c[1]))
    return mid_t, near_t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("pairs", nargs="*")
    p.add_argument("--real", metavar="JSONL", help="pairs from real photos with ground-truth joints (see above)")
    p.add_argument("--decompose", action="store_true", help="also split the default model's bias by joint group")
    p.add_argument("--by-size", action="store_true", help="segment ratios per person height (px) bin too")
    p.add_argument("--by-outfit", action="store_true", help="torso, shoulder width and hips per clothing group too")
    p.add_argument("--by-view", action="store_true", help="torso and hips per yaw to the camera too")
    p.add_argument("--by-elevation", action="store_true",
                   help="upright people's mid-hip per view and camera elevation, and the visible hip against the hidden one")
    p.add_argument("--conditions", action="store_true",
                   help="only the estimator's bias per condition, detected against exact keypoints")
    p.add_argument("--estimator", default="default")
    a = p.parse_args(argv)
    if bool(a.real) == bool(a.pairs):
        p.error("give pair files or --real JSONL, not both")
    if a.real and (a.conditions or a.decompose or a.by_size or a.by_outfit or a.by_view or a.by_elevation):
        p.error("--real prints segment ratios and joint offsets only")
    if a.conditions:
        rows = read_rows(a.pairs, whole_only=False)
        print(f"{a.estimator} on {len(rows)} detected person-images: bias (mean signed rel error) / median signed")
        print(f"{'condition':22s} {'n':>5s}   detected keypoints    exact keypoints    detector adds (bias)"
              "   detected shape at the true size")
        for name, (n, bd, md, be, me, bs, ms) in condition_table(rows, a.estimator).items():
            print(f"  {name:20s} {n:5d}   {bd * 100:+6.1f} % / {md * 100:+5.1f} %   {be * 100:+6.1f} % / {me * 100:+5.1f} %"
                  f"   {(bd - be) * 100:+6.1f} points        {bs * 100:+6.1f} % / {ms * 100:+5.1f} %"
                  if n else f"  {name:20s}     0")
        return 0
    rows = real_rows(a.real) if a.real else read_rows(a.pairs)
    print(f"{len(rows)} detected people, not cut by the border" + (f" ({a.real}, real photos)" if a.real else ""))
    print("segment            n     detected / true (median)")
    for name, (n, m) in segment_ratios(rows).items():
        print(f"  {name:15s} {n:5d}  {m:.3f}")
    if a.by_size:
        h = np.array([r.get("person_height_px") or 0 for r in rows], float)
        bins = [b for b in zip(SIZE_EDGES[:-1], SIZE_EDGES[1:]) if ((h >= b[0]) & (h < b[1])).any()]
        by = [segment_ratios([r for r, hh in zip(rows, h) if lo <= hh < hi]) for lo, hi in bins]
        print("segment ratio by person height (px): " + "  ".join(f"{lo:g}-{hi:g}" for lo, hi in bins))
        for name in SEGMENTS:
            print(f"  {name:15s} " + "  ".join(f"{m:.3f} (n={n})" if n else "-" for n, m in (b[name] for b in by)))
    if a.by_outfit:
        print("by outfit           people   torso (n)        shoulder width (n)   hips, vertical (+down, % of height; n)")
        for name, (n, (nt, t), (ns, sw), (nl, hl), (nr, hr)) in outfit_table(rows).items():
            print(f"  {name:18s} {n:6d}   {t:.3f} ({nt:5d})    {sw:.3f} ({ns:5d})       "
                  f"{hl * 100:+.2f} / {hr * 100:+.2f} % ({nl})" if n else f"  {name:18s}      0")
    if a.by_view:
        print("by view                      people   torso (n)        hips, vertical (+down, % of height; n)")
        for name, (n, (nt, t), (nl, hl), (nr, hr)) in view_table(rows).items():
            tt = f"{t:.3f} ({nt:5d})" if nt else "-" + " " * 14
            print(f"  {name:26s} {n:6d}   {tt}    {hl * 100:+.2f} / {hr * 100:+.2f} % ({nl})" if n
                  else f"  {name:26s}      0")
    if a.by_elevation:
        mid, near = hip_geometry(rows)
        bins = "  ".join(f"{lo:+d}..{hi:d} deg" for lo, hi in ELEV_BINS)
        print(f"upright mid-hip, vertical (+down, % of height; n) by view and camera elevation: {bins}")
        for _, _, vb in VIEW_BINS:
            cells = [mid.get((vb, eb)) for eb in ELEV_BINS]
            print(f"  {vb:14s} " + "  ".join(f"{c[1] * 100:+.2f} % ({c[0]})" if c else "-" for c in cells))
        print("visible hip, other hidden: offset = a + b x (hidden hip's true place - visible one's), % of height")
        for eb in ELEV_BINS:
            if eb in near:
                n, c0, c1 = near[eb]
                print(f"  elevation {eb[0]:+d}..{eb[1]:d} deg  n={n:5d}  a = {c0 * 100:+.2f} %  b = {c1:.2f}")
    print("joint (upright)    n   vertical offset (+down, % of height)    n   sideways (+outward, front/back views)")
    for name, (n, dy, m, dx) in joint_offsets(rows).items():
        print(f"  {name:15s} {n:5d}  {dy * 100:+.2f} %                          {m:5d}  {dx * 100:+.2f} %")
    if a.decompose:
        print(f"{a.estimator}: median signed error with the detected keypoints, and with one group taken from the truth")
        for g, (n, m) in decompose(rows, a.estimator).items():
            print(f"  truth for {g:9s} n={n:5d}  {m * 100:+.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
