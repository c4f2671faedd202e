"""scripts/paired_runs.py: two runs of one seed, paired on the person-images both finished."""
from __future__ import annotations

import json

import pytest


def _run(path, ids, mesh, seed=9101, torn=False):
    (path / "pairs").mkdir(parents=True)
    (path / "settings.json").write_text(json.dumps({"settings": {"seed": seed, "body": {"mesh": mesh}}}))
    text = "".join(json.dumps({"id": i, "detected": n % 2 == 0, "mesh": mesh}) + "\n" for n, i in enumerate(ids))
    (path / "pairs" / "shard0of2.jsonl").write_text(text + ('{"id": "torn' if torn else ""))


def test_pairs_common_rows_in_one_order(tmp_path, repo_module):
    _run(tmp_path / "h", ["a", "b", "c", "d"], "human", torn=True)
    _run(tmp_path / "m", ["b", "a", "c"], "mannequin")
    out = tmp_path / "out"
    assert repo_module("scripts/paired_runs.py").main(["--out", str(out), str(tmp_path / "h"), str(tmp_path / "m")]) == 0
    a = [json.loads(x) for x in (out / "a.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (out / "b.jsonl").read_text().splitlines()]
    assert [r["id"] for r in a] == [r["id"] for r in b] == ["a", "b", "c"]
    assert {r["mesh"] for r in a} == {"human"} and {r["mesh"] for r in b} == {"mannequin"}
    info = json.loads((out / "paired.json").read_text())
    assert info["common"] == 3 and info["settings_that_differ"] == ["body"] and info["rows_a"] == 4


def test_refuses_other_seeds_and_output_inside_a_run(tmp_path, repo_module):
    _run(tmp_path / "h", ["a"], "human")
    _run(tmp_path / "m", ["a"], "mannequin", seed=1)
    mod = repo_module("scripts/paired_runs.py")
    with pytest.raises(SystemExit):
        mod.main(["--out", str(tmp_path / "o"), str(tmp_path / "h"), str(tmp_path / "m")])
    with pytest.raises(SystemExit):
        mod.main(["--out", str(tmp_path / "h" / "o"), str(tmp_path / "h"), str(tmp_path / "h")])


def test_detected_in_both_keeps_the_same_people(tmp_path, repo_module):
    _run(tmp_path / "h", ["a", "b", "c", "d"], "human")        # detected: a, c
    _run(tmp_path / "m", [], "mannequin")
    (tmp_path / "m" / "pairs" / "shard0of2.jsonl").write_text("".join(        # detected: a, b, c
        json.dumps({"id": i, "detected": i in ("a", "b", "c"), "mesh": "mannequin"}) + "\n" for i in "badc"))
    out = tmp_path / "out"
    repo_module("scripts/paired_runs.py").main(["--out", str(out), "--detected-in-both", str(tmp_path / "h"), str(tmp_path / "m")])
    assert [json.loads(x)["id"] for x in (out / "b.jsonl").read_text().splitlines()] == ["a", "c"]
    info = json.loads((out / "paired.json").read_text())
    assert info["common"] == 4 and info["kept"] == 2
