"""The render batch (issue 11): one run per output folder (a lock), and a finished sample is
skipped only when its label names this run's seeds."""
from __future__ import annotations

import json

import pytest

from deepx_addon.core import outputs
from deepx_addon.core.records import atomic_write_text
from deepx_addon.core.settings import GeneratorSettings


def test_render_batch_locks_its_folder_and_checks_labels_before_skipping(tmp_path):
    pytest.importorskip("bpy")
    from deepx_addon.blender import batch
    from deepx_addon.core.runfolder import RunFolderError, label_path
    s = GeneratorSettings(count=4, cameras_per_pose=2, seed=5)
    job = batch.BatchJob(s, tmp_path / "r")
    with pytest.raises(outputs.OutputError, match="in use"):
        batch.BatchJob(s, tmp_path / "r")
    p = job.plans[0]
    job.close()
    label = {"id": p.id, "index": p.index, "sample_seed": p.sample_seed + 1, "pose_seed": p.pose_seed}
    atomic_write_text(label_path(tmp_path / "r", p.id), json.dumps(label))
    with pytest.raises(RunFolderError, match="another run"):
        batch.BatchJob(s, tmp_path / "r")
    label["sample_seed"] = p.sample_seed
    atomic_write_text(label_path(tmp_path / "r", p.id), json.dumps(label))
    again = batch.BatchJob(s, tmp_path / "r")
    assert again.skipped == 1
    again.close()


def test_labels_written_in_a_thread_are_on_disk_and_their_errors_surface(tmp_path):
    """BatchJob writes each label in a thread while the next sample renders: wait_labels() returns
    once it is on disk, and a label that cannot be written fails the next step (never a sample
    silently without its label)."""
    bpy = pytest.importorskip("bpy")
    from deepx_addon.blender import batch
    from deepx_addon.core.runfolder import label_path
    bpy.ops.wm.read_factory_settings(use_empty=True)
    s = GeneratorSettings(count=3, cameras_per_pose=3, seed=5)
    s.render.resolution = s.camera.image_size = (48, 48)
    s.render.samples = 1
    job = batch.BatchJob(s, tmp_path / "r")
    try:
        first, second = job.plans[:2]
        job.step()
        job.wait_labels()
        assert json.loads(label_path(tmp_path / "r", first.id).read_text())["index"] == first.index
        label_path(tmp_path / "r", second.id).mkdir()        # a folder where the label goes
        job.step()                                           # rendered; its label fails in the thread
        with pytest.raises(outputs.OutputError, match=second.id):
            job.step()
        assert not [p for p in (tmp_path / "r" / "labels").iterdir() if p.name.startswith(".")]
    finally:
        job.close()
