"""COCO keypoints and YOLO-pose writers/readers (core/datasets.py): files read back identically."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from deepx_addon.core import datasets as D
from deepx_addon.core import sampler as S
from deepx_addon.core.standin import stick_figure_table
from deepx_addon.core.keypoints import COCO_KEYPOINTS, FLIP_INDEX
from deepx_addon.core.settings import CameraSettings, GeneratorSettings


@pytest.fixture(scope="module")
def samples():
    table = stick_figure_table(6, seed=3)
    s = GeneratorSettings(cameras_per_pose=4, camera=CameraSettings(image_size=(320, 240), distance_m=(1.0, 20.0)))
    recs = S.sample_from_table(table, s, np.arange(6)).to_records(table)
    assert any(0 < sum(v > 0 for v in r["visibility"]) < 17 for r in recs)   # some people leave the frame
    return recs


def _fake_images(tmp_path, n):
    d = tmp_path / "renders"
    d.mkdir()
    paths = []
    for i in range(n):
        p = d / f"img_{i:03d}.png"
        p.write_bytes(b"\x89PNG fake " + bytes([i]))
        paths.append(p)
    return paths


def _items_with_a_shared_image(samples, imgs):
    """One image per sample, except the last two samples: two people seen by one camera."""
    samples = list(samples)
    samples[-1] = dict(samples[-1], K=samples[-2]["K"], camera=samples[-2]["camera"])
    return [(imgs[min(i, len(imgs) - 1)], r) for i, r in enumerate(samples)]


def _without_image(sample):
    return {k: v for k, v in sample.items() if k != "image"}


def test_coco_round_trip_and_standard_keys(samples, tmp_path):
    imgs = _fake_images(tmp_path, len(samples) - 1)
    items = _items_with_a_shared_image(samples, imgs)
    path = tmp_path / "coco.json"
    D.write_coco(path, items, image_root=tmp_path)
    back = D.read_coco(path)
    assert [f for f, _ in back] == [f"renders/{p.name}" for p, _ in items]
    assert [b for _, b in back] == [_without_image(r) for _, r in items]

    d = json.loads(path.read_text())
    assert {"images", "annotations", "categories", "info", "licenses"} <= set(d)
    assert len(d["images"]) == len(samples) - 1 and len(d["annotations"]) == len(samples)
    cat = d["categories"][0]
    assert cat["id"] == 1 and cat["name"] == "person" and cat["keypoints"] == list(COCO_KEYPOINTS)
    assert all(1 <= a <= 17 and 1 <= b <= 17 for a, b in cat["skeleton"])
    for im in d["images"]:
        assert isinstance(im["id"], int) and im["width"] == 320 and im["height"] == 240 and "camera" in im
        assert np.asarray(im["K"]).shape == (3, 3)
    ids = {im["id"] for im in d["images"]}
    for ann, (_, rec) in zip(d["annotations"], items):
        assert ann["image_id"] in ids and ann["category_id"] == 1 and ann["iscrowd"] == 0
        kp = np.asarray(ann["keypoints"], float).reshape(17, 3)
        assert set(kp[:, 2]) <= {0, 1, 2} and ann["num_keypoints"] == int((kp[:, 2] > 0).sum())
        assert np.all(kp[kp[:, 2] == 0, :2] == 0)
        x, y, w, h = ann["bbox"]
        np.testing.assert_allclose([x, y, x + w, y + h], rec["bbox_xyxy"], atol=1e-9)
        assert ann["area"] == pytest.approx(w * h)
        for k in ("distance_m", "depth_m", "keypoints_3d_cam", "body", "recipe", "family", "sample_seed"):
            assert ann[k] == rec[k]
    assert d["images"][-1]["id"] == d["annotations"][-1]["image_id"] == d["annotations"][-2]["image_id"]


def test_coco_occluded_keypoints_and_errors(samples, tmp_path):
    r = dict(samples[0])
    vis = [2] * 17
    vis[3] = 1                     # labelled but hidden (the render path's occlusion)
    vis[4] = 0
    r["visibility"] = vis
    r["keypoints"] = [[10.0 + i, 20.0 + i, 1.0] if v else [0.0, 0.0, 0.0] for i, v in enumerate(vis)]
    r["area"] = 123.5
    del r["bbox_xyxy"]
    D.write_coco(tmp_path / "c.json", [(None, r)])
    (name, back), = D.read_coco(tmp_path / "c.json")
    assert name == r["id"] and back == r
    ann = json.loads((tmp_path / "c.json").read_text())["annotations"][0]
    assert ann["keypoints"][9:15] == [13.0, 23.0, 1, 0.0, 0.0, 0] and ann["num_keypoints"] == 16
    assert ann["bbox"] == [10.0, 20.0, 16.0, 16.0] and ann["area"] == 123.5
    with pytest.raises(D.DatasetError, match="keypoints"):
        D.write_coco(tmp_path / "x.json", [(None, {**r, "keypoints": [[0, 0, 0]] * 5})])
    with pytest.raises(D.DatasetError, match="image_size"):
        D.write_coco(tmp_path / "x.json", [(None, {**r, "image_size": [320.5, 240]})])
    with pytest.raises(D.DatasetError, match="clashes"):
        D.write_coco(tmp_path / "x.json", [(None, {**r, "iscrowd": 1})])
    assert not (tmp_path / "x.json").exists()
    (tmp_path / "broken.json").write_text('{"images": []}')
    with pytest.raises(D.DatasetError, match="annotations"):
        D.read_coco(tmp_path / "broken.json")


def test_yolo_pose_export_reads_back(samples, tmp_path):
    imgs = _fake_images(tmp_path, len(samples) - 1)
    items = _items_with_a_shared_image(samples, imgs)
    out = tmp_path / "yolo"
    counts = D.write_yolo_pose(out, items, val_fraction=0.3)
    assert counts["train"]["images"] + counts["val"]["images"] == len(imgs)
    assert counts["train"]["images"] > 0 and counts["val"]["images"] > 0
    assert counts["train"]["persons"] + counts["val"]["persons"] + counts["skipped_persons"] == len(samples)
    data = D.read_yolo_pose(out)
    assert data["data"]["kpt_shape"] == [17, 3] and data["data"]["flip_idx"] == list(FLIP_INDEX)
    assert data["data"]["names"] == {0: "person"} and data["data"]["train"] == "images/train"
    by_name = {}
    for split in ("train", "val"):
        for img, cls, boxes, kpts in data[split]:
            assert (out / "labels" / split / (img.stem + ".txt")).exists()
            assert img.read_bytes() == (tmp_path / "renders" / img.name).read_bytes()
            by_name[img.name] = (cls, boxes, kpts)
    assert len(by_name) == len(imgs)
    seen = {}
    for path, rec in items:
        cls, boxes, kpts = by_name[path.name]
        i = seen.get(path.name, 0)
        seen[path.name] = i + 1
        W, H = rec["image_size"]
        assert cls[i] == 0 and np.all((boxes >= 0) & (boxes <= 1)) and np.all((kpts[..., :2] >= 0) & (kpts[..., :2] <= 1))
        vis = np.asarray(rec["visibility"])
        np.testing.assert_array_equal(kpts[i, :, 2], vis)
        kp = np.asarray(rec["keypoints"])[:, :2]
        np.testing.assert_allclose(kpts[i, :, 0] * W, np.where(vis > 0, kp[:, 0], 0), atol=1e-6 * W)
        np.testing.assert_allclose(kpts[i, :, 1] * H, np.where(vis > 0, kp[:, 1], 0), atol=1e-6 * H)
        x1, y1, x2, y2 = rec["bbox_xyxy"]
        np.testing.assert_allclose(boxes[i] * [W, H, W, H], [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1],
                                   atol=1e-6 * W)
    assert sum(len(c) for c, _, _ in by_name.values()) == len(samples)
    # the same export again (e.g. resumed) gives the same split
    counts2 = D.write_yolo_pose(tmp_path / "yolo2", items, val_fraction=0.3)
    assert counts2 == counts


def test_yolo_explicit_split_links_and_errors(samples, tmp_path):
    imgs = _fake_images(tmp_path, 3)
    out = tmp_path / "y"
    counts = D.write_yolo_pose(out, {"train": [(imgs[0], samples[0]), (imgs[1], samples[1])],
                                     "val": [(imgs[2], samples[2])]}, mode="symlink")
    assert counts["train"]["images"] == 2 and counts["val"]["images"] == 1
    assert os.path.islink(out / "images" / "val" / imgs[2].name)
    none = dict(samples[3], visibility=[0] * 17, keypoints=[[0.0, 0.0, 0.0]] * 17)
    del none["bbox_xyxy"]
    counts = D.write_yolo_pose(tmp_path / "y2", {"train": [(imgs[0], none)]}, mode="hardlink")
    assert counts["skipped_persons"] == 1
    assert (tmp_path / "y2" / "labels" / "train" / "img_000.txt").read_text() == ""
    assert (tmp_path / "y2" / "labels" / "val").is_dir()
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / imgs[0].name).write_bytes(b"another image")
    with pytest.raises(D.DatasetError, match="two different images"):
        D.write_yolo_pose(tmp_path / "y3", {"train": [(imgs[0], samples[0]), (other / imgs[0].name, samples[1])]})
    with pytest.raises(D.DatasetError, match="does not exist"):
        D.write_yolo_pose(tmp_path / "y3", [(tmp_path / "missing.png", samples[0])])
    with pytest.raises(D.DatasetError, match="mode"):
        D.write_yolo_pose(tmp_path / "y3", [], mode="move")
    bad = tmp_path / "bad.txt"
    bad.write_text("0 0.5 0.5 0.1\n")
    with pytest.raises(D.DatasetError, match="bad.txt:1"):
        D.read_yolo_labels(bad)


def test_streamed_writers_give_the_same_files(samples, tmp_path):
    """write_coco_stream / write_yolo_pose(stream=True) (what a render run's finalize uses, flat
    memory) write the bytes of the in-memory writers; an image coming back later is refused."""
    imgs = _fake_images(tmp_path, len(samples) - 1)
    items = [(p, _without_image(r)) for p, r in _items_with_a_shared_image(samples, imgs)]
    D.write_coco(tmp_path / "a.json", items, image_root=tmp_path, info={"x": 1})
    assert D.write_coco_stream(tmp_path / "b.json", iter(items), image_root=tmp_path, info={"x": 1}) == len(items)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    D.write_yolo_pose(tmp_path / "ya", items, val_fraction=0.3)
    D.write_yolo_pose(tmp_path / "yb", iter(items), val_fraction=0.3, stream=True)
    files = lambda d: {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))   # noqa: E731
                       if p.is_file() and p.name != "data.yaml"}
    assert files(tmp_path / "ya") == files(tmp_path / "yb") and files(tmp_path / "ya")
    back = items[1:] + items[:1] + [items[1]]                    # image of item 1 again, after others
    with pytest.raises(D.DatasetError, match="comes again"):
        D.write_coco_stream(tmp_path / "c.json", back, image_root=tmp_path)
    assert not (tmp_path / "c.json").exists()
    with pytest.raises(D.DatasetError, match="comes again"):
        D.write_yolo_pose(tmp_path / "yc", back, stream=True)


def test_seen_names_finds_repeats_across_merges():
    """SeenNames (the streamed writers' memory of image names, 8 bytes a name) finds a name met
    before whether it is still in the newest set or merged into the sorted array."""
    seen = D.SeenNames(batch=4)
    names = [f"images/p{i:06d}-c000.png" for i in range(23)]
    assert all(seen.add(n) for n in names)
    assert not any(seen.add(n) for n in names)             # early ones merged, the last 3 still new
    assert seen.add("images/other.png") and not seen.add("images/other.png")
