import json
import os

import pytest

from polaris_repro import artifacts
from polaris_repro.artifacts import Manifest, append_jsonl, atomic_path, read_jsonl, write_json


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    p = tmp_path / "x.json"
    write_json(p, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert json.loads(p.read_text()) == {"a": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["x.json"]


def test_jsonl_append_and_torn_last_line(tmp_path):
    p = tmp_path / "log.jsonl"
    append_jsonl(p, {"step": 1})
    append_jsonl(p, {"step": 2})
    with open(p, "a") as f:
        f.write('{"step": 3')   # a writer killed mid-line
    assert [r["step"] for r in read_jsonl(p)] == [1, 2]


def test_manifest_records_provenance(tmp_path):
    m = Manifest(tmp_path, {"tier": "tiny", "seed": 7})
    m.record_input("data", __file__)
    m.section("01_difficulty", status="done")
    d = json.loads((tmp_path / "manifest.json").read_text())
    assert d["version"] and d["seed"] == 7 and d["tier"] == "tiny"
    assert d["git_commit"] is None or len(d["git_commit"]) >= 40
    assert len(d["inputs"]["data"]["sha256"]) == 64
    assert Manifest(tmp_path).data["sections"]["01_difficulty"]["status"] == "done"
