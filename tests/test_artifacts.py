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


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_atomic_writes_get_the_umask_mode(tmp_path, umask):
    """Files written atomically get 0o666 minus the umask, like open(path, "w"), not mkstemp's
    0600 (run folders live on shared storage that colleagues read)."""
    old = os.umask(umask)
    try:
        assert artifacts.current_umask() == umask
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        write_json(tmp_path / "manifest.json", {"a": 1})
        with atomic_path(tmp_path / "data.parquet") as tmp:
            tmp.write_bytes(b"PAR1")
        m = Manifest(tmp_path / "run", {"tier": "tiny", "seed": 1})
        m.section("01_difficulty", status="done")          # a rewrite of an existing file
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    assert (plain.stat().st_mode & 0o777) == want
    for p in (tmp_path / "manifest.json", tmp_path / "data.parquet", tmp_path / "run" / "manifest.json"):
        assert (p.stat().st_mode & 0o777) == want, (p, oct(p.stat().st_mode & 0o777))
