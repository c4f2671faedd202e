import json

import numpy as np
import pytest

from deepx_addon.core.records import PersonRecord, RecordError, iter_jsonl, read_jsonl, write_jsonl


def row(**over):
    d = {"id": "p1", "source": "test", "image": None, "image_size": [640, 480],
         "K": [[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]],
         "keypoints": [[100 + i, 200 + i, 0.9] for i in range(17)],
         "distance_m": 7.5, "depth_m": 7.4, "height_m": None, "reference": "pelvis", "my_extra": {"a": 1}}
    d.update(over)
    return d


def test_round_trip_keeps_every_field(tmp_path):
    rec = PersonRecord.from_dict(row())
    assert rec.keypoints.shape == (17, 3) and rec.extra == {"my_extra": {"a": 1}}
    p = tmp_path / "x.jsonl"
    write_jsonl(p, [rec, rec.to_dict()])
    back = read_jsonl(p)
    assert len(back) == 2 and back[0].to_dict() == rec.to_dict()
    assert [f.name for f in tmp_path.iterdir()] == ["x.jsonl"]  # no temp files left behind


@pytest.mark.parametrize("over, field, text", [
    ({"keypoints": [[1, 2, 0.5]] * 16}, "keypoints", "expected 17 keypoints"),
    ({"keypoints": [[1, 2]] * 17}, "keypoints", "rows of [x, y, conf]"),
    ({"keypoints": [[1, float("nan"), 0.5]] * 17}, "keypoints", "NaN"),
    ({"keypoints": [[1, 2, 1.5]] * 17}, "keypoints", "outside [0, 1]"),
    ({"K": None}, "K", "missing"),
    ({"K": [[0, 0, 320], [0, 500, 240], [0, 0, 1]]}, "K", "fx must be finite and > 0"),
    ({"K": [[500, 0, 320], [0, -1, 240], [0, 0, 1]]}, "K", "fy"),
    ({"image_size": [640]}, "image_size", "width, height"),
    ({"distance_m": -3}, "distance_m", "> 0"),
    ({"distance_m": "far"}, "distance_m", "> 0"),
])
def test_validation_names_row_and_field(over, field, text):
    with pytest.raises(RecordError) as e:
        PersonRecord.from_dict(row(**over))
    assert e.value.field == field and e.value.row_id == "p1"
    assert text in str(e.value) and "p1" in str(e.value)


def test_bad_lines_are_reported_with_line_numbers_not_dropped(tmp_path):
    p = tmp_path / "in.jsonl"
    lines = [json.dumps(row(id="a")), "{not json", "", json.dumps(row(id="b", keypoints=[[0, 0, 0]] * 3)),
             json.dumps({"keypoints": []})]
    p.write_text("\n".join(lines) + "\n")
    parsed = list(iter_jsonl(p))
    assert [x.line for x in parsed] == [1, 2, 4, 5]
    assert parsed[0].record.id == "a"
    assert "in.jsonl:2" in str(parsed[1].error) and "not valid JSON" in str(parsed[1].error)
    assert parsed[2].row_id == "b" and "in.jsonl:4 id='b' field 'keypoints'" in str(parsed[2].error)
    assert "missing or empty id" in str(parsed[3].error)
    with pytest.raises(RecordError, match="in.jsonl:2"):
        read_jsonl(p)


def test_real_files_parse(real_data):
    kitti = read_jsonl(real_data / "kitti_train.jsonl")
    h36m = read_jsonl(real_data / "h36m_3dhp_images.jsonl")
    assert len(kitti) == 331 and len(h36m) == 8
    assert all(r.distance_m > 0 for r in kitti + h36m)
    assert np.all(kitti[0].intrinsics.K == np.asarray(kitti[0].K))
