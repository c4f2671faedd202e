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
