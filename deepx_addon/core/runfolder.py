"""The bookkeeping of a run's output folder, shared by every writer (no bpy, no torch).

A run writes sample ``index`` (0 <= index < settings.count) = camera ``index % cameras_per_pose`` of
pose ``index // cameras_per_pose``; ``plan`` gives its seeds (the no-render sampler's), so shards
and resumed runs give the same dataset as one uninterrupted run. Shard i of N writes every camera of
the poses i, i+N, ... (``parse_shard`` is the one parser of 'i/N'; ``in_shard`` the one rule): a pose
change costs Cycles a world and body re-sync, so a shard taking every other sample would pay all of
them. A folder holds one run: settings.json is
written first and a rerun with other settings is refused; a sample is done when its label exists;
stray temporary files of a killed shard are removed on start; ``finalize`` writes labels.jsonl,
coco_keypoints.json (and yolo/) from every label present. The renderer itself is blender/batch.py.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .records import atomic_write_text, keypoints_from_visibility
from .settings import GeneratorSettings

FORMAT = "deepx-render"
FORMAT_VERSION = 1
SETTINGS_FILE, RECORDS_FILE, COCO_FILE, SUMMARY_FILE = "settings.json", "labels.jsonl", "coco_keypoints.json", "summary.json"
LABELS_DIR, IMAGES_DIR = "labels", "images"
SUBDIRS = ("images", "labels", "depth", "masks")
YOLO_VAL_FRACTION = 0.1


class RunFolderError(ValueError):
    """A run that cannot go on (bad shard, an output folder holding a different run)."""



# ------------------------------------------------------------------------------------------------
# the plan

@dataclass(frozen=True)
class SamplePlan:
    index: int
    pose_index: int
    camera_index: int
    pose_seed: int
    sample_seed: int

    @property
    def id(self) -> str:
        return sample_id(self.pose_index, self.camera_index)


def sample_id(pose_index: int, camera_index: int) -> str:
    """Same ids as the no-render sampler's records."""
    return f"p{pose_index:06d}-c{camera_index:03d}"


def plan(settings: GeneratorSettings, index: int) -> SamplePlan:
    from .cameras import derive_seeds
    from .poses import PoseError, pose_seed_for
    C = int(settings.cameras_per_pose)
    if C < 1:
        raise RunFolderError(f"cameras_per_pose must be >= 1, got {C}")
    p, c = divmod(int(index), C)
    try:
        pose_seed = pose_seed_for(int(settings.seed), p)
    except PoseError as e:
        raise RunFolderError(str(e)) from None
    sample_seed = int(derive_seeds(int(settings.seed), p, c))
    return SamplePlan(int(index), p, c, pose_seed, sample_seed)


def parse_shard(shard) -> tuple[int, int]:
    """'i/N' or (i, N) -> (i, N) with 0 <= i < N."""
    if isinstance(shard, str):
        try:
            i, n = (int(v) for v in shard.split("/"))
        except ValueError:
            raise RunFolderError(f"shard must look like i/N (e.g. 0/4), got {shard!r}") from None
    else:
        i, n = (int(v) for v in shard)
    if n < 1 or not 0 <= i < n:
        raise RunFolderError(f"shard {i}/{n}: need N >= 1 and 0 <= i < N")
    return i, n


def shard_key(shard) -> str | None:
    """The folder-lock key of a shard (core/outputs.lock_folder): None for 0/1 (the whole folder)."""
    i, n = parse_shard(shard)
    return None if n == 1 else f"shard{i}of{n}"


def in_shard(index: int, shard, cameras_per_pose: int) -> bool:
    """Sample ``index`` belongs to shard i/N: its pose is i, i+N, i+2N, ... (pose = index // C)."""
    i, n = parse_shard(shard)
    return (int(index) // max(1, int(cameras_per_pose))) % n == i


def shard_indices(count: int, shard, cameras_per_pose: int) -> list[int]:
    """The sample indices of shard i/N, in order: whole poses, so each shard changes pose (and its
    world) as rarely as one process would."""
    i, n = parse_shard(shard)
    C, count = max(1, int(cameras_per_pose)), int(count)
    return [k for p in range(i, -(-count // C), n) for k in range(p * C, min((p + 1) * C, count))]


def _id_to_index(sid: str, cameras_per_pose: int) -> int | None:
    """'p000012-c003' -> 12 * C + 3 (None if it is not such an id)."""
    try:
        p, c = sid.split("-")
        if p[0] != "p" or c[0] != "c":
            return None
        return int(p[1:]) * cameras_per_pose + int(c[1:])
    except (ValueError, IndexError):
        return None


# ------------------------------------------------------------------------------------------------
# the output folder

def _settings_doc(settings: GeneratorSettings) -> dict:
    from .poses import POSE_SAMPLER_VERSION
    return {"format": FORMAT, "version": FORMAT_VERSION, "pose_sampler": POSE_SAMPLER_VERSION,
            "settings": settings.to_dict()}


# Settings added after runs were written, and the value their absence means: a folder from before
# the field rendered exactly like this value, so resuming it with that value is the same run.
# (Only fields whose default kept the old behaviour belong here.)
ADDED_LATER = {("render", "denoise"): "off", ("render", "subdivision"): "2", ("scene", "p_untucked"): 0.0}


def _comparable(d: dict) -> dict:
    d = json.loads(json.dumps(d))          # tuples -> lists
    d.pop("pose_sampler", None)            # compared on its own first, with its own message
    s = d.get("settings", {})
    s.pop("count", None)                   # a longer/shorter run of the same generator is fine
    for (group, name), value in ADDED_LATER.items():
        if isinstance(s.get(group), dict):
            s[group].setdefault(name, value)
    r = s.get("render")
    if isinstance(r, dict) and "subdivision" in r:
        # the level it renders at: "auto" at 640x640 is level 2, the same images as "2" (or as a
        # folder from before the setting), while "auto" at 160x160 is level 1, another run
        from .settings import RenderSettings
        try:
            r["subdivision"] = RenderSettings(resolution=tuple(r["resolution"]),
                                              subdivision=r["subdivision"]).subdivision_level()
        except (KeyError, TypeError, ValueError):
            pass                           # left as written: compared as it is
    return d


def _diff(a, b, prefix="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def _read_json(path: Path, hint: str, error) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise error(f"{path}: unreadable ({e}); {hint}") from None


def check_or_write_settings(out_dir: Path, settings: GeneratorSettings) -> None:
    """Write settings.json, or check that the folder's run used the same settings (count aside)."""
    path = out_dir / SETTINGS_FILE
    doc = _settings_doc(settings)
    if path.exists():
        old = _read_json(path, "move it away or use another --out", RunFolderError)
        began = old.get("pose_sampler", 1)          # folders from before the field: version 1
        if began != doc["pose_sampler"]:
            raise RunFolderError(
                f"{out_dir} was begun by pose sampler version {began} and this DeepX samples version "
                f"{doc['pose_sampler']}: the same seed now gives other poses, so finishing it here would mix "
                "the two; finish it with the DeepX that began it, or use another output folder")
        diff = _diff(_comparable(old), _comparable(doc))
        if diff:
            olds = old.get("settings", {})
            since = [f"{g}.{n}={v}" for (g, n), v in ADDED_LATER.items() if f"settings.{g}.{n}" in diff
                     and isinstance(olds.get(g), dict) and n not in olds[g]]
            hint = (f" (the folder is from before {', '.join(x.split('=')[0] for x in since)} existed: resume it with "
                    + " ".join(f"--set {x}" for x in since) + ")") if since else ""
            raise RunFolderError(f"{out_dir} holds a run with other settings (differs in: {', '.join(diff[:8])}){hint}; "
                                 "use another output folder, or the same settings to resume")
        return
    atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def check_or_write_manifest(path, text: str, hint: str, error=RunFolderError) -> None:
    """Write the JSON ``text`` at ``path``, or check that the manifest there is the same one: a
    folder holding a different run is refused, naming the top-level fields that differ."""
    path = Path(path)
    if path.exists():
        old = _read_json(path, hint, error)
        new = json.loads(text)
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if diff:
            raise error(f"{path.parent} holds a different run (manifest fields differ: {', '.join(diff)}); {hint}")
        if path.read_text(encoding="utf-8") == text:
            return
    atomic_write_text(path, text)


def tmp_tag(shard) -> str:
    i, n = parse_shard(shard)
    return f".tmp-shard{i}of{n}"


def remove_stray_temps(out_dir: Path, settings: GeneratorSettings, shard) -> int:
    """Delete temporary files ('.<id>...tmp...') of this shard's indices left by a killed run."""
    i, n = parse_shard(shard)
    C = int(settings.cameras_per_pose)
    removed = 0
    for sub in SUBDIRS:
        d = out_dir / sub
        if not d.is_dir():
            continue
        for p in d.iterdir():
            name = p.name
            if not (name.startswith(".") and ".tmp" in name):
                continue
            sid = name[1:].split(".")[0].split("_")[0]
            sid = "-".join(sid.split("-")[:2])
            idx = _id_to_index(sid, C)
            if idx is not None and in_shard(idx, (i, n), C):
                try:
                    p.unlink()
                    removed += 1
                except OSError:
                    pass
    return removed


def label_done(out_dir: Path, p: SamplePlan) -> bool:
    """A finished sample of this run: its label exists and names this plan's seeds (a label of
    another run under the same id is an error, not a sample to skip)."""
    path = label_path(out_dir, p.id)
    if not path.exists():
        return False
    try:
        label = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RunFolderError(f"{path}: unreadable label ({e}); remove it to render the sample again") from None
    seeds = (label.get("sample_seed"), label.get("pose_seed"), label.get("index"))
    if seeds != (p.sample_seed, p.pose_seed, p.index):
        raise RunFolderError(f"{path}: written by another run (sample_seed, pose_seed, index {seeds}, expected "
                             f"{(p.sample_seed, p.pose_seed, p.index)}); use a new output folder")
    return True


def label_path(out_dir, sid: str) -> Path:
    return Path(out_dir) / LABELS_DIR / f"{sid}.json"


class LabelFiles:
    """(index, path) of the label files of a folder, in (index, name) order, held compactly: the
    indices of files named ``sample_id(index)`` in a numpy array (8 bytes each; a list of Paths
    took ~500 bytes a label), any other name with its index in a list."""

    def __init__(self, folder: Path, cameras_per_pose: int | None, standard, others: list):
        self.folder, self._C = folder, cameras_per_pose
        self._std = np.sort(np.frombuffer(standard, np.int64)) if len(standard) else np.empty(0, np.int64)
        self._others = sorted(others)

    def __len__(self) -> int:
        return len(self._std) + len(self._others)

    def __iter__(self) -> Iterator[tuple[int, Path]]:
        C, others, k = self._C, self._others, 0
        for idx in self._std.tolist():
            name = sample_id(*divmod(idx, C)) + ".json"
            while k < len(others) and others[k] < (idx, name):
                yield others[k][0], self.folder / others[k][1]
                k += 1
            yield idx, self.folder / name
        for idx, name in others[k:]:
            yield idx, self.folder / name


def label_files(out_dir, settings: GeneratorSettings | None = None) -> LabelFiles:
    """(index, path) of every label present (all shards), in index order, without reading them:
    the index comes from the file name (sample_id); with ``settings`` only indices < count."""
    from array import array
    d = Path(out_dir) / LABELS_DIR
    C = int(settings.cameras_per_pose) if settings is not None else None
    standard, others = array("q"), []
    if not d.is_dir():
        return LabelFiles(d, C, standard, others)
    with os.scandir(d) as it:
        for e in it:
            if e.name.startswith(".") or not e.name.endswith(".json"):
                continue
            idx = _id_to_index(e.name[:-5], C) if C else None
            std = idx is not None and e.name[:-5] == sample_id(*divmod(idx, C))
            if idx is None:                       # not one of our names: its index is inside
                idx = int(_read_label(Path(e.path)).get("index", 0))
            if settings is None or idx < int(settings.count):
                if std:
                    standard.append(idx)
                else:
                    others.append((idx, e.name))
    return LabelFiles(d, C, standard, others)


def _read_label(p: Path) -> dict:
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RunFolderError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None


def iter_labels(out_dir, settings: GeneratorSettings | None = None) -> Iterator[dict]:
    """The labels of label_files(), read one at a time (memory does not grow with the run)."""
    for _, p in label_files(out_dir, settings):
        yield _read_label(p)


def load_labels(out_dir, count: int | None = None) -> list[dict]:
    """All labels of a folder (all shards), in index order; only indices < count when given."""
    labels = [_read_label(p) for _, p in label_files(out_dir)]
    labels.sort(key=lambda lab: int(lab.get("index", 0)))
    return [lab for lab in labels if count is None or int(lab.get("index", 0)) < count]


# ------------------------------------------------------------------------------------------------
# label -> records / datasets

def label_views(label: dict) -> list[dict]:
    """The images of one sample as flat dicts: the render, then each downscaled copy."""
    base = {k: label[k] for k in ("id", "image", "image_size", "K", "keypoints_2d", "bbox")}
    base.update(scale=1.0, sx=1.0, sy=1.0)
    out = [base]
    for v in label.get("views", []):
        w, h = v["image_size"]
        out.append({**v, "id": f"{label['id']}-{w}x{h}"})
    return out


def _kp_extent(kp) -> list | None:
    kp = np.asarray(kp, float)
    on = kp[:, 2] > 0
    if not on.any():
        return None
    x, y = kp[on, 0], kp[on, 1]
    return [float(x.min()), float(y.min()), float(x.max()), float(y.max())]


def _people(label: dict) -> list[dict]:
    """The labelled people of a sample: the main one (top-level fields) then label["others"]."""
    main = {k: label.get(k) for k in ("keypoints_2d", "keypoints_3d_camera", "bbox", "bbox_full", "person_height_px",
                                      "occluded_by", "truncated", "person_yaw_deg", "distance_m", "depth_m",
                                      "height_m", "body", "pose", "pose_seed", "outfit")}
    main["views"] = label.get("views", [])
    return [main, *label.get("others", [])]


def label_to_records(label: dict) -> list[dict]:
    """core/records.py rows (one per person per image) with the no-render sampler's extra fields.

    keypoints: [x, y, 1] for a keypoint in the frame (visible or hidden, see ``visibility``),
    [0, 0, 0] outside; reference "pelvis"; height_m = stature; bbox_xyxy: the projected body mesh
    clipped to the image (the no-render sampler, having no mesh, uses the keypoints' extent).
    A realistic scene's other people get ids ``<image id>-o<j>`` and ``person`` j >= 1; every row
    of a realistic scene says what the noise model needs: camera_kind, person_yaw_deg (0 = faces
    the camera, 90 = shows its right side), person_height_px (the whole person, also when cut),
    truncated, occluded_by (per keypoint: None, self, umbrella, person, clutter, occluder, seat, ground),
    n_people, degradation, scene, and the person's outfit (core/body.py sample_outfit's description:
    hair_style, accessory, lower, coat, umbrella, hem, sleeves, legs; None in a plain scene)."""
    rows = []
    people = _people(label)
    for v in label_views(label):
        for j, person in enumerate(people):
            if j == 0:
                pv = v
            elif v["scale"] == 1.0:
                pv = {"keypoints_2d": person["keypoints_2d"], "bbox": person["bbox"]}
            else:
                pv = next((x for x in person.get("views", []) if x["scale"] == v["scale"]), None)
                if pv is None:
                    continue
            kp = np.asarray(pv["keypoints_2d"], float)
            rk, vis = keypoints_from_visibility(kp)
            bb = pv.get("bbox")
            h_px = person.get("person_height_px")
            row = {
                "id": v["id"] if j == 0 else f"{v['id']}-o{j}", "source": label.get("source", FORMAT),
                "image": v["image"], "image_size": v["image_size"], "K": v["K"], "keypoints": rk.tolist(),
                "distance_m": person["distance_m"], "depth_m": person["depth_m"], "height_m": person.get("height_m"),
                "reference": "pelvis", "family": (person.get("pose") or {}).get("family"), "visibility": vis.tolist(),
                "sample_seed": label["sample_seed"], "pose_seed": person.get("pose_seed", label["pose_seed"]),
                "pose_index": label.get("pose_index"), "camera_index": label.get("camera_index"),
                "scale": v["scale"], "keypoints_3d_cam": person["keypoints_3d_camera"],
                "bbox_xyxy": _kp_extent(kp) if bb is None else [bb[0], bb[1], bb[0] + bb[2], bb[1] + bb[3]],
                "camera": {k: label["camera"][k] for k in ("R", "t", "position") if k in label["camera"]},
                "body": person.get("body"), "recipe": (person.get("pose") or {}).get("recipe"),
                **({k: label[k] for k in ("depth_image", "mask_image") if label.get(k)}
                   if v["scale"] == 1.0 and j == 0 else {}),
            }
            if "kind" in label["camera"]:
                surround = label.get("surroundings") or {}
                row.update(person=j, n_people=len(people), camera_kind=label["camera"]["kind"],
                           person_yaw_deg=person.get("person_yaw_deg"),
                           person_height_px=None if h_px is None else h_px * v.get("sy", 1.0),
                           truncated=person.get("truncated"), occluded_by=person.get("occluded_by"),
                           outfit=person.get("outfit"),
                           degradation=label.get("degradation"),
                           scene={"hdri": surround.get("hdri"), "ground": (surround.get("ground") or {}).get("look"),
                                  "clutter": len(label.get("clutter") or [])})
            rows.append(row)
    return rows


def finalize(out_dir, settings: GeneratorSettings | None = None, yolo: bool = False) -> dict:
    """Write labels.jsonl, coco_keypoints.json (and yolo/) from every label present (all shards).

    Safe to call from any shard at any time (atomic writes; the last call wins); the files cover
    the labels present then. One pass over the label files, one label in memory at a time: memory
    stays flat however large the run (scripts/bench_finalize.py). Returns {"samples", "images",
    "missing", "files"}."""
    from . import datasets
    from .records import atomic_open
    out_dir = Path(out_dir)
    if settings is None:
        settings = GeneratorSettings.from_dict(json.loads((out_dir / SETTINGS_FILE).read_text())["settings"])
    n = {"samples": 0, "images": 0}

    def items(fh):
        for lab in iter_labels(out_dir, settings):
            n["samples"] += 1
            for r in label_to_records(lab):
                fh.write(json.dumps(r, allow_nan=False) + "\n")
                n["images"] += 1
                yield out_dir / r["image"], r

    with atomic_open(out_dir / RECORDS_FILE) as fh:
        datasets.write_coco_stream(out_dir / COCO_FILE, items(fh), image_root=out_dir, info={"source": FORMAT})
    files = {"records": RECORDS_FILE, "coco": COCO_FILE}
    if yolo:   # a second pass over the labels: the YOLO split is by pose (no pose in both splits)
        rows = (r for lab in iter_labels(out_dir, settings) for r in label_to_records(lab))
        datasets.write_yolo_pose(out_dir / "yolo", ((out_dir / r["image"], r) for r in rows), mode="hardlink",
                                 split_by=lambda _path, r: _pose_split(r.get("pose_index")), stream=True)
        files["yolo"] = "yolo"
    return {"samples": n["samples"], "images": n["images"], "missing": int(settings.count) - n["samples"],
            "files": files}


def _pose_split(pose_index) -> str:
    """'val' for a stable YOLO_VAL_FRACTION of the poses (hash of the pose index), else 'train'."""
    h = int.from_bytes(hashlib.sha1(f"pose{pose_index}".encode()).digest()[:8], "big") / 2.0 ** 64
    return "val" if h < YOLO_VAL_FRACTION else "train"


@dataclass
class Progress:
    done: int          # samples of this shard that have a label (rendered now or before)
    total: int         # samples in this shard
    rendered: int      # rendered by this job
    images: int        # image files written by this job (renders + downscaled copies)
    last_id: str | None
    seconds: float
    finished: bool

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def samples_per_s(self) -> float:
        return self.rendered / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        return (f"{self.done}/{self.total} samples ({self.rendered} rendered now, "
                f"{self.samples_per_s:.2f}/s){' - done' if self.finished else ''}")
