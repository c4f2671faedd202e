"""core/runfolder.py without Blender: the label listing that finalize streams over."""
import json

from deepx_addon.core.runfolder import iter_labels, label_files
from deepx_addon.core.settings import GeneratorSettings


def test_label_files_lists_every_label_in_index_order(tmp_path):
    """Labels named by sample_id are held as bare indices, any other name as it is; together they
    come in (index, name) order, hidden temporaries and indices >= count left out."""
    s = GeneratorSettings(seed=1, count=40, cameras_per_pose=4)
    d = tmp_path / "labels"
    d.mkdir()
    files = {"p000002-c003.json": 11, "p000000-c001.json": 1, "p000001-c000.json": 4,
             "p1-c0.json": 4,              # not padded: index from the name, kept by name
             "p000000-c005.json": 5,       # camera >= cameras_per_pose: same index as p000001-c001
             "p000001-c001.json": 5, "custom.json": 7, "p000010-c000.json": 40}
    for name, idx in files.items():
        (d / name).write_text(json.dumps({"index": idx, "name": name}))
    (d / ".p000000-c002.json.x.tmp").write_text("{}")
    got = [(i, p.name) for i, p in label_files(tmp_path, s)]
    want = sorted((i, n) for n, i in files.items() if i < 40)
    assert got == want and len(label_files(tmp_path, s)) == len(want)
    assert [lab["name"] for lab in iter_labels(tmp_path, s)] == [n for _, n in want]
    assert [(i, p.name) for i, p in label_files(tmp_path)] == sorted((i, n) for n, i in files.items())


def test_a_folder_from_before_a_setting_existed_resumes_when_the_setting_keeps_the_old_behaviour(tmp_path):
    """render.denoise came later: a run folder without it rendered raw ("off") and resumes with "off";
    with "auto" it is another run, refused naming the field."""
    import pytest

    from deepx_addon.core.runfolder import SETTINGS_FILE, RunFolderError, check_or_write_settings
    s = GeneratorSettings(seed=3, count=8)
    check_or_write_settings(tmp_path, s)
    doc = json.loads((tmp_path / SETTINGS_FILE).read_text())
    del doc["settings"]["render"]["denoise"]                   # as written before the field existed
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(doc))
    check_or_write_settings(tmp_path, s)                       # same run: no error
    s.render.denoise = "auto"
    with pytest.raises(RunFolderError, match="render.denoise"):
        check_or_write_settings(tmp_path, s)
    assert "denoise" not in json.loads((tmp_path / SETTINGS_FILE).read_text())["settings"]["render"]
    # scene.p_untucked came later too: a folder without it had every shirt tucked in (0)
    s.render.denoise = "off"
    del doc["settings"]["scene"]["p_untucked"]
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(doc))
    check_or_write_settings(tmp_path, s)
    s.scene.p_untucked = 0.5
    with pytest.raises(RunFolderError, match="p_untucked"):
        check_or_write_settings(tmp_path, s)


def test_a_folder_begun_by_another_pose_sampler_is_refused(tmp_path):
    """The same seed gives other poses after a sampler change (POSE_SAMPLER_VERSION): a folder begun
    before it (no "pose_sampler" in settings.json: version 1) is not finished with the new poses."""
    import pytest

    from deepx_addon.core.poses import POSE_SAMPLER_VERSION
    from deepx_addon.core.runfolder import SETTINGS_FILE, RunFolderError, check_or_write_settings
    s = GeneratorSettings(seed=3, count=8)
    check_or_write_settings(tmp_path, s)
    doc = json.loads((tmp_path / SETTINGS_FILE).read_text())
    assert doc["pose_sampler"] == POSE_SAMPLER_VERSION >= 2
    check_or_write_settings(tmp_path, s)                       # the same sampler resumes
    del doc["pose_sampler"]                                    # as written before the field existed
    before = json.dumps(doc)
    (tmp_path / SETTINGS_FILE).write_text(before)
    with pytest.raises(RunFolderError, match=f"begun by pose sampler version 1 .* version {POSE_SAMPLER_VERSION}"):
        check_or_write_settings(tmp_path, s)
    assert (tmp_path / SETTINGS_FILE).read_text() == before   # the folder's record is left as it was


def test_shards_take_whole_poses_and_together_cover_the_run_once(tmp_path):
    """Shard i/N renders every camera of poses i, i+N, ...: a shard changes pose (Cycles' world and
    body re-sync) no more often than one process would; the shards partition the indices, a count
    cut inside a pose included, and each removes only its own indices' stray temporaries."""
    from deepx_addon.core.runfolder import in_shard, remove_stray_temps, shard_indices
    C, count = 4, 22                                   # 5 whole poses and half of the 6th
    parts = [shard_indices(count, (i, 3), C) for i in range(3)]
    assert parts[0] == [0, 1, 2, 3, 12, 13, 14, 15] and parts[2] == [8, 9, 10, 11, 20, 21]
    assert sorted(sum(parts, [])) == list(range(count))
    for i, part in enumerate(parts):
        assert {k // C for k in part} == {p for p in range(6) if p % 3 == i}
        assert all(in_shard(k, f"{i}/3", C) for k in part)
    assert shard_indices(count, "0/1", C) == list(range(count))

    s = GeneratorSettings(seed=1, count=count, cameras_per_pose=C)
    (tmp_path / "images").mkdir()
    for name in (".p000001-c002.png.tmp-shard1of3", ".p000004-c000.png.tmp-shard1of3",
                 ".p000003-c001.png.tmp-shard0of3"):
        (tmp_path / "images" / name).write_bytes(b"half")
    assert remove_stray_temps(tmp_path, s, "1/3") == 2
    assert [p.name for p in (tmp_path / "images").iterdir()] == [".p000003-c001.png.tmp-shard0of3"]


def test_subdivision_is_compared_by_the_level_it_renders_at(tmp_path):
    """render.subdivision came later (level 2 before it): a 640x640 folder without it resumes with the
    default "auto" (level 2 there, the same images); a 160x160 one is refused with the --set that
    resumes it; "auto" and "2" at 640x640 are one run, at 160x160 two."""
    import pytest

    from deepx_addon.core.runfolder import SETTINGS_FILE, RunFolderError, check_or_write_settings
    for res in (640, 160):
        d = tmp_path / str(res)
        s = GeneratorSettings(seed=3, count=8)
        s.render.resolution = (res, res)
        d.mkdir()
        check_or_write_settings(d, s)
        doc = json.loads((d / SETTINGS_FILE).read_text())
        del doc["settings"]["render"]["subdivision"]           # as written before the field existed
        (d / SETTINGS_FILE).write_text(json.dumps(doc))
        if res == 640:
            check_or_write_settings(d, s)
        else:
            with pytest.raises(RunFolderError, match=r"resume it with --set render.subdivision=2"):
                check_or_write_settings(d, s)
        s.render.subdivision = "2"
        check_or_write_settings(d, s)
        s.render.subdivision = "1"
        with pytest.raises(RunFolderError, match="render.subdivision"):
            check_or_write_settings(d, s)
