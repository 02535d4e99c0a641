"""``polaris-repro fetch`` (polaris_repro/fetch.py), all offline: local models and data, the
benchmarks' local copy (``POLARIS_BENCHMARKS_DIR``, conftest), a hub id that cannot be reached, a
hub model served by a fake hub on 127.0.0.1 (``HF_ENDPOINT``, read by a subprocess) and a hub data
set's prepared ``datasets`` cache, read back offline the way a compute node reads it."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from polaris_repro.artifacts import sha256_file
from polaris_repro.cli import main
from polaris_repro.config import load_config
from polaris_repro.data import BENCHMARKS, rows_from_problems, to_verl_parquet
from polaris_repro.fetch import MANIFEST, tier_items

REPO = Path(__file__).resolve().parent.parent
NO_HUB = ["-o", "difficulty.models=[]", "-o", "difficulty.datasets=[]", "-o", "evaluation.baselines=[]"]


def _fetch(capsys, *args) -> tuple[int, str]:
    rc = main(["fetch", "--tier", "paper-4b", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out + out.err


def _statuses(out: str) -> dict[str, str]:
    """{item: status} from the printed table."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in ("model", "dataset", "benchmark"):
            rows[parts[0]] = parts[2]
    return rows


@pytest.fixture
def local_inputs(tmp_path, monkeypatch):
    """A fake local model folder and a local training parquet, as -o overrides; the hub offline
    flag cleared (the tests set it where they mean it)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "qwen3"}')
    (model / "model.safetensors").write_bytes(bytes(range(256)) * 4)
    train = tmp_path / "train.parquet"
    to_verl_parquet(rows_from_problems(["What is 1 + 1?", "What is 2 + 3?"], ["2", "5"], data_source="t"), train)
    return model, train, ["-o", f"model.path={model}", "-o", f"data.train.path={train}", *NO_HUB]


def test_paper_4b_items():
    items = {(i.kind, i.name): i.origin for i in tier_items(load_config("paper-4b"))}
    assert items == {
        ("model", "Qwen/Qwen3-4B"): "hub",
        ("model", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"): "hub",
        ("model", "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"): "hub",
        ("model", "POLARIS-Project/Polaris-4B-Preview"): "hub",
        ("model", "POLARIS-Project/Polaris-7B-Preview"): "hub",
        ("dataset", "POLARIS-Project/Polaris-Dataset-53K"): "hub",
        ("dataset", "agentica-org/DeepScaleR-Preview-Dataset"): "hub",
        **{("benchmark", b): "url" for b in BENCHMARKS}}
    tiny = {(i.kind, i.name): i.origin for i in tier_items(load_config("tiny"))}
    assert tiny == {("model", "builtin:tiny"): "builtin", ("model", "builtin:tiny-sft"): "builtin",
                    ("dataset", "synthetic"): "builtin", ("benchmark", "aime24"): "url"}


def test_local_tier_fetch_rerun_offline_and_damage(tmp_path, capsys, local_inputs):
    model, train, ov = local_inputs
    d = tmp_path / "cache"
    rc, out = _fetch(capsys, "--to", d, *ov)
    assert rc == 0, out
    st = _statuses(out)
    assert st[str(model)] == "local" and st[str(train)] == "local"
    assert all(st[b] == "fetched" for b in BENCHMARKS), st
    for b, info in BENCHMARKS.items():
        assert sha256_file(d / "benchmarks" / f"{b}.parquet") == info["sha256"]
    assert f"--hf-home {d} -o " in out and "data.benchmarks_dir" not in out.split("render the job with")[1]
    manifest = json.loads((d / MANIFEST).read_text())
    items = {r["name"]: r for r in manifest["tiers"]["paper-4b"]["items"]}
    assert items[str(model)]["files"] == {f: sha256_file(model / f) for f in ("config.json", "model.safetensors")}
    assert items[str(train)]["files"] == {"train.parquet": sha256_file(train)}
    assert items["aime24"]["path"] == "benchmarks/aime24.parquet"
    assert items["aime24"]["sha256"] == BENCHMARKS["aime24"]["sha256"]
    assert items["aime24"]["bytes"] == (d / "benchmarks" / "aime24.parquet").stat().st_size

    rc, out = _fetch(capsys, "--to", d, *ov)                  # idempotent: everything is there
    assert rc == 0 and "fetched" not in out
    assert set(_statuses(out).values()) == {"local", "present"}
    rc, out = _fetch(capsys, "--to", d, "--offline", *ov)
    assert rc == 0 and "all present" in out, out

    (d / "benchmarks" / "aime25.parquet").unlink()
    amc = d / "benchmarks" / "amc23.parquet"
    amc.write_bytes(amc.read_bytes()[:-1] + b"\0")            # same size, wrong bytes
    rc, out = _fetch(capsys, "--to", d, "--offline", *ov)
    assert rc == 1
    assert _statuses(out)["aime25"] == "missing" and _statuses(out)["amc23"] == "corrupt"
    assert "aime25.parquet missing" in out and "amc23.parquet: sha256" in out

    rc, out = _fetch(capsys, "--to", d, *ov)                  # a fetch repairs both
    assert rc == 0, out
    assert _statuses(out)["aime25"] == "fetched" and _statuses(out)["amc23"] == "fetched"
    assert sha256_file(amc) == BENCHMARKS["amc23"]["sha256"]

    (model / "model.safetensors").write_bytes(b"retrained")  # a local model unlike its record
    rc, out = _fetch(capsys, "--to", d, "--offline", *ov)
    assert rc == 1 and _statuses(out)[str(model)] == "changed" and "model.safetensors: sha256" in out
    assert _fetch(capsys, "--to", d, *ov)[0] == 0               # a fetch records it anew
    assert _fetch(capsys, "--to", d, "--offline", *ov)[0] == 0


def test_hub_ids_offline_with_an_empty_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc, out = _fetch(capsys, "--to", tmp_path / "empty")
    assert rc == 1
    assert "HF_HUB_OFFLINE is set: verifying only" in out
    st = _statuses(out)
    assert st["Qwen/Qwen3-4B"] == "missing" and st["POLARIS-Project/Polaris-Dataset-53K"] == "missing"
    assert "missing: Qwen/Qwen3-4B (model, model.path): not in" in out
    assert "-o model.path=/path/to/model" in out and "-o data.train.path=" in out
    assert not (tmp_path / "empty" / MANIFEST).exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args, env_extra: dict, timeout=120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1", **env_extra)
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_unreachable_hub_names_the_id(tmp_path, local_inputs):
    _, _, ov = local_inputs
    ov = ["-o", "model.path=Qwen/Qwen3-4B", *ov[2:]]
    r = _run(["-m", "polaris_repro.cli", "fetch", "--tier", "paper-4b", "--to", str(tmp_path / "c"), *ov],
             {"HF_ENDPOINT": f"http://127.0.0.1:{_free_port()}", "HF_HOME": str(tmp_path / "home")}, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "cannot download Qwen/Qwen3-4B (model.path)" in r.stdout
    assert "on a machine without internet pass a local folder with -o model.path=" in r.stdout


def _git_sha1(b: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(b) + b).hexdigest()


class FakeHub:
    """The few endpoints snapshot_download uses: revision info, the tree listing, resolve (HEAD/GET)."""
    COMMIT = "c0ffee" * 6 + "c0ff"

    def __init__(self, repo: str, files: dict[str, bytes], lfs=("model.safetensors",)):
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body=b"", headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?")[0]
                hub.requests.append(f"{self.command} {path}")
                js = [("Content-Type", "application/json")]
                if path.startswith(f"/api/models/{repo}/revision/"):
                    return self._send(200, json.dumps({"id": repo, "sha": hub.COMMIT}).encode(), js)
                if path.startswith(f"/api/models/{repo}/tree/"):
                    tree = [{"type": "file", "path": f, "size": len(b), "oid": _git_sha1(b),
                             **({"lfs": {"oid": hashlib.sha256(b).hexdigest(), "size": len(b), "pointerSize": 130}}
                                if f in lfs else {})} for f, b in files.items()]
                    return self._send(200, json.dumps(tree).encode(), js)
                name = path.split(f"/{repo}/resolve/{hub.COMMIT}/", 1)[-1]
                if name in files:
                    b = files[name]
                    etag = hashlib.sha256(b).hexdigest() if name in lfs else _git_sha1(b)
                    return self._send(200, b, [("X-Repo-Commit", hub.COMMIT), ("ETag", f'"{etag}"')])
                return self._send(404, b"", [("X-Error-Code", "RepoNotFound")])

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_hub_model_from_a_fake_hub_is_read_offline(tmp_path, capsys, local_inputs):
    _, _, ov = local_inputs
    files = {"config.json": b'{"model_type": "qwen3"}', "model.safetensors": bytes(range(256)) * 16,
             "tokenizer.json": b"{}"}
    hub = FakeHub("org/tiny-model", files)
    d = tmp_path / "cache"
    ov = ["-o", "model.path=org/tiny-model", *ov[2:]]
    args = ["-m", "polaris_repro.cli", "fetch", "--tier", "paper-4b", "--to", str(d), *ov]
    try:
        r = _run(args, {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "home")})
        assert r.returncode == 0, r.stdout + r.stderr
        assert _statuses(r.stdout)["org/tiny-model"] == "fetched"
        n = len(hub.requests)
        r = _run(args, {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "home")})
        assert r.returncode == 0 and _statuses(r.stdout)["org/tiny-model"] == "present"
        assert len(hub.requests) == n                      # complete and verified: no request made
    finally:
        hub.server.shutdown()
    rec = {r["name"]: r for r in json.loads((d / MANIFEST).read_text())["tiers"]["paper-4b"]["items"]}
    m = rec["org/tiny-model"]
    assert m["path"] == f"hub/models--org--tiny-model/snapshots/{FakeHub.COMMIT}"
    assert m["files"] == {f: hashlib.sha256(b).hexdigest() for f, b in files.items()}
    assert m["checked_against"] == "hub tree listing"

    # a node: HF_HOME=DIR, offline: the project's own lookup finds the snapshot
    probe = ("from polaris_repro.resources import local_model_folder; "
             "print(local_model_folder('org/tiny-model')[1])")
    r = _run(["-c", probe], {"HF_HOME": str(d), "HF_HUB_OFFLINE": "1"})
    assert r.stdout.startswith("Hugging Face cache"), r.stdout + r.stderr
    rc, out = _fetch(capsys, "--to", d, "--offline", *ov)
    assert rc == 0 and _statuses(out)["org/tiny-model"] == "present", out

    blob = d / m["path"] / "model.safetensors"
    blob.resolve().write_bytes(b"\0" * len(files["model.safetensors"]))
    rc, out = _fetch(capsys, "--to", d, "--offline", *ov)
    assert rc == 1 and _statuses(out)["org/tiny-model"] == "corrupt" and "checksum mismatch" in out


def test_hub_model_cache_without_a_tree_listing(tmp_path, capsys, local_inputs):
    """A cache filled by something else (e.g. transformers, an older huggingface_hub): refs/main,
    blobs named by their etag, snapshot links; complete when config.json and weights are there."""
    _, _, ov = local_inputs
    d = tmp_path / "cache"
    storage = d / "hub" / "models--org--name"
    rev = "1" * 40
    snap = storage / "snapshots" / rev
    snap.mkdir(parents=True)
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(rev)
    (storage / "blobs").mkdir()
    cfg = b'{"model_type": "qwen3"}'
    for name, data, etag in (("config.json", cfg, _git_sha1(cfg)),):
        (storage / "blobs" / etag).write_bytes(data)
        (snap / name).symlink_to(Path("../../blobs") / etag)
    ov = ["-o", "model.path=org/name", *ov[2:]]
    rc, out = _fetch(capsys, "--to", d, "--offline", *ov)
    assert rc == 1 and "no weights file" in out

    weights = b"weights" * 10
    etag = hashlib.sha256(weights).hexdigest()
    (storage / "blobs" / etag).write_bytes(weights)
    (snap / "model.safetensors").symlink_to(Path("../../blobs") / etag)
    _fetch(capsys, "--to", d, *ov)                      # copies the benchmarks; the model is already there
    rc, out = _fetch(capsys, "--to", d, "--offline", *ov)
    assert rc == 0 and _statuses(out)["org/name"] == "present", out


def test_hub_dataset_prepared_cache_is_read_offline(tmp_path, capsys, local_inputs):
    """What datasets.load_dataset(name, cache_dir=DIR/datasets) leaves: a prepared Arrow copy under
    DIR/datasets/<org>___<name>/default/0.0.0/<hash>/; offline, load_training_data reads it."""
    from datasets.packaged_modules.parquet.parquet import Parquet

    model, _, ov = local_inputs
    d = tmp_path / "cache"
    raw = tmp_path / "raw.parquet"
    import pandas as pd

    pd.DataFrame({"problem": ["What is 2 + 2?", "What is 3 * 3?"], "answer": ["4", "9"]}).to_parquet(raw)
    builder = Parquet(cache_dir=str(tmp_path / "build"), dataset_name="fake-set", config_name="default",
                      data_files={"train": str(raw)}, hash="0123abcd")
    builder.download_and_prepare()
    dest = d / "datasets" / "org___fake-set" / "default" / "0.0.0" / "0123abcd"
    dest.parent.mkdir(parents=True)
    Path(builder.cache_dir).rename(dest)

    ov = ["-o", f"model.path={model}", "-o", "data.train.source=org/Fake-Set", *NO_HUB]
    assert _fetch(capsys, "--to", d, *ov)[0] == 0            # present: nothing to download
    rc, out = _fetch(capsys, "--to", d, "--offline", *ov)
    assert rc == 0 and _statuses(out)["org/Fake-Set"] == "present", out
    rec = {r["name"]: r for r in json.loads((d / MANIFEST).read_text())["tiers"]["paper-4b"]["items"]}
    assert rec["org/Fake-Set"]["rows"] == 2 and rec["org/Fake-Set"]["path"].startswith("datasets/org___fake-set/")

    probe = ("from polaris_repro.data import load_training_data; "
             "df = load_training_data({'data': {'train': {'source': 'org/Fake-Set', 'path': None}}}); "
             "print(len(df), df['answers'].tolist())")
    r = _run(["-c", probe], {"HF_HOME": str(d), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert r.stdout.strip() == "2 [['4'], ['9']]", r.stdout + r.stderr

    (dest / "fake-set-train.arrow").write_bytes(b"broken")   # unlike the record: detected offline
    rc, out = _fetch(capsys, "--to", d, "--offline", *ov)
    assert rc == 1 and _statuses(out)["org/Fake-Set"] == "corrupt"
