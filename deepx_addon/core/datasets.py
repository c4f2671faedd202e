"""Dataset formats for labelled people: COCO keypoints JSON and Ultralytics YOLO-pose (numpy only).

Both take ``items``: an iterable of ``(image_path, sample)`` where ``sample`` is a record dict as
written by ``SampleBatch.to_records()`` or by the render path: ``id``, ``image_size`` [w, h], ``K``,
``keypoints`` (17 x [x, y, conf]), optional ``visibility`` (17 COCO codes 0/1/2; default 2 where
conf > 0, else 0), optional ``bbox_xyxy`` (else the extent of the labelled keypoints), optional
``area`` (e.g. a mask area; else the box area), ``camera`` (R, t, position, ...), ``distance_m``,
``depth_m`` and any extra fields (keypoints_3d_cam, body, recipe, family, sample_seed, ...).
Several samples may share one image (one COCO image, one YOLO label file with several lines).

COCO: ``write_coco`` / ``read_coco`` round-trip every field: images carry file_name, width,
height, K and camera; annotations carry the standard keypoint fields (keypoints [x, y, v] x 17
with v = 0 not labelled (x = y = 0), 1 labelled but occluded, 2 visible; num_keypoints; bbox
[x, y, w, h]; area; iscrowd; category_id 1) plus the sample's other fields. ``read_coco`` returns
samples with keypoints [x, y, 1 if v > 0 else 0] and the visibility list, so samples written by
``to_records`` come back equal.

YOLO-pose: ``write_yolo_pose`` writes images/{train,val}/, labels/{train,val}/<stem>.txt with one
line ``0 cx cy w h`` + 17 x ``x y v`` per person, normalised to [0, 1], and data.yaml with
kpt_shape [17, 3] and flip_idx. Images are copied, hard-linked or symlinked (never decoded: the
image size comes from the sample).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .keypoints import COCO_KEYPOINTS, FLIP_INDEX, NUM_KEYPOINTS, SKELETON
from .records import atomic_open, atomic_write_text

CATEGORY = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO_KEYPOINTS),
            "skeleton": [[a + 1, b + 1] for a, b in SKELETON]}      # COCO's skeleton is 1-based
# sample fields that COCO represents in its own way (the rest are copied into the annotation)
_IMAGE_FIELDS = ("image_size", "K", "camera")
_MAPPED_FIELDS = ("id", "keypoints", "visibility", "image") + _IMAGE_FIELDS


class DatasetError(ValueError):
    """A sample or file that cannot be written/read; the message names the sample or file."""


def _visibility(sample: dict, where: str) -> np.ndarray:
    kp = np.asarray(sample.get("keypoints"), dtype=float)
    if kp.shape != (NUM_KEYPOINTS, 3):
        raise DatasetError(f"{where}: keypoints must be {NUM_KEYPOINTS} x [x, y, conf], got shape {list(kp.shape)}")
    if sample.get("visibility") is not None:
        v = np.asarray(sample["visibility"])
        if v.shape != (NUM_KEYPOINTS,) or not ((v == 0) | (v == 1) | (v == 2)).all():
            raise DatasetError(f"{where}: visibility must be {NUM_KEYPOINTS} codes in 0/1/2")
        return v.astype(int)
    return np.where(kp[:, 2] > 0, 2, 0)


def _image_size(sample: dict, where: str) -> tuple[int, int]:
    size = sample.get("image_size")
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in size)):
        raise DatasetError(f"{where}: image_size must be [width, height] positive integers, got {size!r}")
    return int(size[0]), int(size[1])


def _bbox_xyxy(sample: dict, kp: np.ndarray, vis: np.ndarray) -> list[float] | None:
    if sample.get("bbox_xyxy") is not None:
        b = [float(v) for v in sample["bbox_xyxy"]]
        if len(b) != 4 or not all(np.isfinite(b)):
            raise DatasetError(f"sample {sample.get('id')!r}: bbox_xyxy must be 4 finite numbers")
        return b
    lab = vis > 0
    if not lab.any():
        return None
    return [float(kp[lab, 0].min()), float(kp[lab, 1].min()), float(kp[lab, 0].max()), float(kp[lab, 1].max())]


def _file_name(image_path, sample: dict, image_root) -> str:
    if image_path is None:
        return str(sample.get("image") or sample["id"])
    p = Path(image_path)
    if image_root is not None:
        root = Path(image_root)
        if p.is_absolute() == root.is_absolute() and ".." not in p.parts:
            try:      # plainly below the root (the render path's own files): no file-system look-ups
                return p.relative_to(root).as_posix()
            except ValueError:
                pass
        try:
            return p.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            raise DatasetError(f"image {p} is not under image_root {image_root}") from None
    return p.as_posix()


# ---- COCO ----------------------------------------------------------------------------------------

class SeenNames:
    """Names met so far, 8 bytes each (16 while merging): a sorted numpy array of their 64-bit hashes
    plus a small set of the newest, merged into the array every ``batch`` names (a set of 4 * 10^5
    image names took 48 MB). Two different names share a hash with probability ~n^2 / 2^64 (1e-8 at 10^6 names):
    then a name would be reported as repeated (a loud error, never a silent one)."""

    def __init__(self, batch: int = 8192):
        self._sorted = np.empty(0, np.int64)
        self._new: set[int] = set()
        self._batch = batch

    def add(self, name) -> bool:
        """Add ``name``; False if it was there already."""
        h = hash(name)
        i = int(np.searchsorted(self._sorted, h))
        if h in self._new or (i < len(self._sorted) and self._sorted[i] == h):
            return False
        self._new.add(h)
        if len(self._new) >= self._batch:
            new = np.sort(np.fromiter(self._new, np.int64, len(self._new)))    # one copy while merging
            self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, new), new)
            self._new.clear()
        return True


def _coco_entries(items, image_root=None, stream: bool = False):
    """("image", dict) and ("annotation", dict) pairs for ``items``, in file order. stream=True keeps
    only the current image in memory (flat memory for any number of samples): samples of one image
    must then come together, and an image name seen before raises."""
    by_name, seen, last, n_images, n = {}, SeenNames(), None, 0, -1
    for n, (image_path, sample) in enumerate(items):
        if not isinstance(sample, dict) or sample.get("id") is None:
            raise DatasetError(f"item {n}: sample must be a dict with an id")
        where = f"item {n} (sample {sample['id']!r})"
        w, h = _image_size(sample, where)
        vis = _visibility(sample, where)
        kp = np.asarray(sample["keypoints"], dtype=float)
        name = _file_name(image_path, sample, image_root)
        K = np.asarray(sample.get("K"), dtype=float).tolist() if sample.get("K") is not None else None
        img = (last if last is not None and last["file_name"] == name else None) if stream else by_name.get(name)
        if img is None:
            if stream and not seen.add(name):
                raise DatasetError(f"{where}: image {name!r} comes again after other images (a streamed COCO "
                                   "file needs the samples of one image together)")
            n_images += 1
            img = {"id": n_images, "file_name": name, "width": w, "height": h, "K": K}
            if sample.get("camera") is not None:
                img["camera"] = sample["camera"]
            if not stream:
                by_name[name] = img
            last = img
            yield "image", img
        elif (img["width"], img["height"]) != (w, h) or img["K"] != K or img.get("camera") != sample.get("camera"):
            raise DatasetError(f"{where}: image {name!r} was given with a different size, K or camera before")
        flat = []
        for (x, y, _), v in zip(kp.tolist(), vis.tolist()):
            flat += [x, y, v] if v > 0 else [0.0, 0.0, 0]
        box = _bbox_xyxy(sample, kp, vis)
        bbox = [0.0, 0.0, 0.0, 0.0] if box is None else [box[0], box[1], box[2] - box[0], box[3] - box[1]]
        ann = {"id": n + 1, "image_id": img["id"], "category_id": 1, "iscrowd": 0,
               "keypoints": flat, "num_keypoints": int((vis > 0).sum()), "bbox": bbox,
               "area": float(sample["area"]) if sample.get("area") is not None else bbox[2] * bbox[3],
               "segmentation": [], "sample_id": str(sample["id"])}
        for k, v in sample.items():
            if k not in _MAPPED_FIELDS and k != "area":
                if k in ann:
                    raise DatasetError(f"{where}: field {k!r} clashes with the COCO annotation field of that name")
                ann[k] = v
        if sample.get("area") is not None:
            ann["area_given"] = True
        yield "annotation", ann


def _coco_info(info: dict | None) -> dict:
    return {"description": "DeepX synthetic people", **(info or {})}


def coco_from_samples(items, *, image_root=None, info: dict | None = None) -> dict:
    """The COCO keypoints dict for ``items`` ((image_path, sample) pairs); see the module doc."""
    lists = {"image": [], "annotation": []}
    for kind, entry in _coco_entries(items, image_root):
        lists[kind].append(entry)
    return {"info": _coco_info(info), "licenses": [], "images": lists["image"], "annotations": lists["annotation"],
            "categories": [CATEGORY]}


def write_coco(path, items, *, image_root=None, info: dict | None = None) -> dict:
    """Atomically write a COCO keypoints JSON; returns the dict."""
    d = coco_from_samples(items, image_root=image_root, info=info)
    atomic_write_text(path, json.dumps(d, allow_nan=False, separators=(",", ":")))
    return d


def write_coco_stream(path, items, *, image_root=None, info: dict | None = None) -> int:
    """write_coco's bytes with flat memory: entries are encoded one at a time (annotations go to a
    temporary file until the image list is complete). The samples of one image must come together.
    Returns the number of annotations."""
    enc = lambda x: json.dumps(x, allow_nan=False, separators=(",", ":"))   # noqa: E731
    n_ann = 0
    with atomic_open(path) as fh, tempfile.TemporaryFile("w+", encoding="utf-8", dir=Path(path).parent) as anns:
        fh.write('{"info":' + enc(_coco_info(info)) + ',"licenses":[],"images":[')
        n_img = 0
        for kind, entry in _coco_entries(items, image_root, stream=True):
            if kind == "image":
                fh.write(("," if n_img else "") + enc(entry))
                n_img += 1
            else:
                anns.write(("," if n_ann else "") + enc(entry))
                n_ann += 1
        fh.write('],"annotations":[')
        anns.seek(0)
        shutil.copyfileobj(anns, fh, 1 << 20)
        fh.write('],"categories":[' + enc(CATEGORY) + "]}")
    return n_ann


def read_coco(path) -> list[tuple[str, dict]]:
    """(file_name, sample) per annotation, in file order: the inverse of write_coco."""
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(d.get(key), list):
            raise DatasetError(f"{path}: missing COCO list {key!r}")
    images = {im["id"]: im for im in d["images"]}
    out = []
    for ann in d["annotations"]:
        where = f"{path}: annotation id {ann.get('id')!r}"
        im = images.get(ann.get("image_id"))
        if im is None:
            raise DatasetError(f"{where}: image_id {ann.get('image_id')!r} not in images")
        flat = ann.get("keypoints")
        if not isinstance(flat, list) or len(flat) != 3 * NUM_KEYPOINTS:
            raise DatasetError(f"{where}: keypoints must hold {3 * NUM_KEYPOINTS} numbers")
        trip = [flat[i:i + 3] for i in range(0, len(flat), 3)]
        sample = {"id": ann.get("sample_id", str(ann["id"])), "image_size": [im["width"], im["height"]]}
        if im.get("K") is not None:
            sample["K"] = im["K"]
        sample["keypoints"] = [[x, y, 1.0 if v > 0 else 0.0] for x, y, v in trip]
        sample["visibility"] = [int(v) for _, _, v in trip]
        if "camera" in im:
            sample["camera"] = im["camera"]
        skip = {"id", "image_id", "category_id", "iscrowd", "keypoints", "num_keypoints", "bbox", "area",
                "segmentation", "sample_id", "area_given"}
        for k, v in ann.items():
            if k not in skip:
                sample[k] = v
        if ann.get("area_given"):
            sample["area"] = ann["area"]
        out.append((im["file_name"], sample))
    return out


# ---- YOLO-pose -----------------------------------------------------------------------------------

def split_of(name: str, val_fraction: float) -> str:
    """"train" or "val" from a stable hash of ``name`` (an image name, or a pose id to keep every
    image of a pose in one split): independent of order and of the other names."""
    h = int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big") / 2.0 ** 64
    return "val" if h < val_fraction else "train"


_split_of = split_of   # the earlier private name (used by blender/batch.py)


def yolo_label_line(sample: dict, where: str = "sample") -> str | None:
    """``0 cx cy w h x1 y1 v1 ... x17 y17 v17`` normalised to the image; None when the person has no
    box inside the image (no labelled keypoint and no bbox_xyxy)."""
    w, h = _image_size(sample, where)
    vis = _visibility(sample, where)
    kp = np.asarray(sample["keypoints"], dtype=float)
    box = _bbox_xyxy(sample, kp, vis)
    if box is None:
        return None
    x1, x2 = np.clip([box[0], box[2]], 0, w)
    y1, y2 = np.clip([box[1], box[3]], 0, h)
    if x2 <= x1 or y2 <= y1:
        return None
    vals = [(x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h]
    parts = ["0"] + [f"{v:.6f}" for v in vals]
    for (x, y, _), v in zip(kp.tolist(), vis.tolist()):
        parts += [f"{x / w:.6f}", f"{y / h:.6f}", str(v)] if v > 0 else ["0.000000", "0.000000", "0"]
    return " ".join(parts)


def _place(src: Path, dst: Path, mode: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        if mode == "symlink":
            os.symlink(src.resolve(), tmp)
        elif mode == "hardlink":
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copy2(src, tmp)
        else:
            shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def write_yolo_pose(out_dir, items, *, val_fraction: float = 0.1, mode: str = "copy", split_by=None,
                    stream: bool = False) -> dict:
    """Ultralytics YOLO-pose dataset under ``out_dir``.

    ``items``: (image_path, sample) pairs, split into train/val by ``split_by(image_path, sample)``
    when given, else by a stable hash of the image name (``val_fraction``); or a dict {"train":
    items, "val": items} for an explicit split.
    ``mode``: "copy", "hardlink" (falls back to copy across file systems) or "symlink".
    ``stream``: write each image as soon as its samples are read (flat memory; the samples of one
    image must come together, an image seen before raises).
    Returns counts: images and persons per split, persons skipped (no box in the image).
    """
    if mode not in ("copy", "hardlink", "symlink"):
        raise DatasetError(f"mode must be copy, hardlink or symlink, got {mode!r}")
    if not 0.0 <= val_fraction <= 1.0:
        raise DatasetError(f"val_fraction must be in [0, 1], got {val_fraction}")
    out = Path(out_dir)
    explicit = isinstance(items, dict)
    if explicit and set(items) - {"train", "val"}:
        raise DatasetError(f"split names must be train and val, got {sorted(items)}")
    pairs = ((sp, it) for sp, its in items.items() for it in its) if explicit else ((None, it) for it in items)
    counts = {"train": {"images": 0, "persons": 0}, "val": {"images": 0, "persons": 0}, "skipped_persons": 0}

    def write(key, g):
        split, name = key
        _place(g["src"], out / "images" / split / name, mode)
        atomic_write_text(out / "labels" / split / (Path(name).stem + ".txt"), "".join(l + "\n" for l in g["lines"]))
        counts[split]["images"] += 1
        counts[split]["persons"] += len(g["lines"])

    groups: dict[tuple[str, str], dict] = {}           # (split, file name) -> {"src", "lines"}
    seen = SeenNames()
    for n, (split, (image_path, sample)) in enumerate(pairs):
        if image_path is None:
            raise DatasetError(f"item {n}: YOLO needs an image file (got None)")
        src = Path(image_path)
        if not src.is_file():
            raise DatasetError(f"item {n}: image {src} does not exist")
        split = split or (split_by(src, sample) if split_by else split_of(src.name, val_fraction))
        key = (split, src.name)
        if stream and key not in groups:
            for k, g in groups.items():
                write(k, g)
            groups.clear()
            if not seen.add(key):
                raise DatasetError(f"item {n}: image {src.name!r} comes again after other images (stream=True "
                                   "needs the samples of one image together)")
        g = groups.setdefault(key, {"src": src, "lines": []})
        if g["src"].resolve() != src.resolve():
            raise DatasetError(f"item {n}: two different images named {src.name!r} ({g['src']} and {src}) in {split}")
        line = yolo_label_line(sample, f"item {n} (sample {sample.get('id')!r})")
        if line is None:
            counts["skipped_persons"] += 1
        else:
            g["lines"].append(line)
    for k, g in groups.items():
        write(k, g)
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "data.yaml", data_yaml(out))
    return counts


def data_yaml(root) -> str:
    return ("# DeepX synthetic people, Ultralytics YOLO-pose format (written by deepx_addon.core.datasets)\n"
            f"path: {Path(root).resolve().as_posix()}\n"
            "train: images/train\n"
            "val: images/val\n"
            f"kpt_shape: [{NUM_KEYPOINTS}, 3]\n"
            f"flip_idx: [{', '.join(str(i) for i in FLIP_INDEX)}]\n"
            "names:\n"
            "  0: person\n")


def read_yolo_labels(path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One label file -> classes (m,), boxes (m, 4) cx cy w h, keypoints (m, 17, 3), all normalised."""
    rows = []
    for ln, text in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        vals = text.split()
        if len(vals) != 5 + 3 * NUM_KEYPOINTS:
            raise DatasetError(f"{path}:{ln}: expected {5 + 3 * NUM_KEYPOINTS} values, got {len(vals)}")
        try:
            rows.append([float(v) for v in vals])
        except ValueError:
            raise DatasetError(f"{path}:{ln}: not all values are numbers") from None
    a = np.array(rows, dtype=float).reshape(-1, 5 + 3 * NUM_KEYPOINTS)
    return a[:, 0].astype(int), a[:, 1:5], a[:, 5:].reshape(-1, NUM_KEYPOINTS, 3)


def read_data_yaml(path) -> dict:
    """The few keys of a data.yaml written by data_yaml() (no YAML library needed)."""
    d, names = {}, {}
    for text in Path(path).read_text(encoding="utf-8").splitlines():
        line = text.split("#", 1)[0].rstrip()
        if not line:
            continue
        if line.startswith("  ") and ":" in line:
            k, v = line.strip().split(":", 1)
            names[int(k)] = v.strip()
            continue
        k, v = line.split(":", 1)
        v = v.strip()
        d[k.strip()] = json.loads(v) if v.startswith("[") else v
    d["names"] = names
    return d


def read_yolo_pose(out_dir) -> dict:
    """{"data": data.yaml keys, "train"/"val": [(image_path, classes, boxes, keypoints)]} (normalised)."""
    out = Path(out_dir)
    res = {"data": read_data_yaml(out / "data.yaml")}
    for split in ("train", "val"):
        items = []
        for img in sorted((out / "images" / split).iterdir()) if (out / "images" / split).exists() else []:
            lab = out / "labels" / split / (img.stem + ".txt")
            if not lab.exists():
                raise DatasetError(f"{img}: no label file {lab}")
            items.append((img, *read_yolo_labels(lab)))
        res[split] = items
    return res
