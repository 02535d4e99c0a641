"""``polaris-repro fetch``: everything a tier reads from the internet, put into one cache directory.

    polaris-repro fetch --tier T [--to DIR] [-o key=value ...]    download what is missing, verify the rest
    polaris-repro fetch --tier T [--to DIR] --offline             only verify (exit 1 naming what is missing)

Run it where the internet is; compute nodes without it then run with ``HF_HOME=DIR
HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1`` (what ``polaris-repro train --render-launch ... --hf-home
DIR`` exports). ``DIR`` defaults to ``$HF_HOME``, else ``~/.cache/huggingface``. What a tier reads:

* models (``model.path``, ``difficulty.models``, ``evaluation.baselines``): a hub id is downloaded
  with ``huggingface_hub.snapshot_download(cache_dir=DIR/hub)``, the ``HF_HOME/hub`` layout that
  transformers, vLLM and verl read offline; a local folder is recorded as it is (its files' sha256);
  ``builtin:*`` models are built on the node;
* training sets (``data.train``, ``difficulty.datasets``): a hub dataset id is loaded once with
  ``datasets.load_dataset(name, split="train", cache_dir=DIR/datasets)``. That writes the prepared
  Arrow cache (``DIR/datasets/<org>___<name>/<config>/<version>/<hash>/``) which
  :func:`polaris_repro.data.load_training_data` finds offline: with the hub unreachable,
  ``datasets`` falls back to the newest prepared copy under ``HF_HOME/datasets``. A snapshot of
  the dataset repository in ``DIR/hub`` would not do: offline ``datasets`` never reads it. Local
  paths are recorded, ``synthetic`` is generated on the node;
* benchmarks (``data.val``, ``temperature_search``, ``evaluation.benchmarks``): the registry's
  parquet files (:data:`polaris_repro.data.BENCHMARKS`), downloaded by URL with
  :func:`polaris_repro.data.benchmark_path` or copied from a local copy (``data.benchmarks_dir`` /
  ``POLARIS_BENCHMARKS_DIR``) into ``DIR/benchmarks`` and checked against the registry's sha256.
  Nodes read them through ``POLARIS_BENCHMARKS_DIR=DIR/benchmarks``, which ``--hf-home DIR`` exports.

``DIR/polaris-fetch.json`` (written atomically) lists every item of every tier fetched into DIR:
kind, name, status, path (relative to DIR, absolute for local items), bytes and the sha256 of
each file. A re-run skips what is complete and re-verifies every checksum: hub files against the
tree listing huggingface_hub caches with each snapshot (LFS sha256, git blob id), benchmarks
against the registry, everything against the previous record. ``--offline`` (or
``HF_HUB_OFFLINE=1``) fetches nothing and is the check a node without internet can run.

The module is longer than 500 lines because one command covers the three kinds of item a tier reads
from the internet (hub models, hub data sets, benchmark files), each with its fetch, its offline
verification and its messages.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .artifacts import atomic_path, now, sha256_file, write_json

MANIFEST = "polaris-fetch.json"
WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_HEX40, _HEX64 = re.compile(r"[0-9a-f]{40}"), re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Item:
    """One thing a tier reads: ``kind`` model | dataset | benchmark; ``origin`` hub | local | builtin
    | url; ``key`` the config key that names it (for messages)."""
    kind: str
    name: str
    origin: str
    key: str


class FetchProblem(Exception):
    """An item that could not be fetched or verified; the message names it and what to do.
    ``status``: missing | corrupt | changed (a local item unlike its record) | error."""

    def __init__(self, message: str, status: str = "error"):
        super().__init__(message)
        self.status = status


def default_dir() -> Path:
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser()


def env_offline() -> bool:
    """HF_HUB_OFFLINE set true, read the way huggingface_hub reads it."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


# ------------------------------------------------------------------------------------------------
# what a tier reads


def _classify(kind: str, name: str, key: str) -> Item:
    """A model path or a training source: builtin (made on the node), local path or hub id."""
    from .data import TRAIN_SOURCES
    from .models import BUILTIN_PREFIX

    if name.startswith(BUILTIN_PREFIX) or name == "synthetic":
        return Item(kind, name, "builtin", key)
    if kind == "dataset":
        name = TRAIN_SOURCES.get(name, name)
    if Path(name).expanduser().exists() or name.startswith(("/", ".", "~")) \
            or name.endswith((".parquet", ".json", ".jsonl")):
        return Item(kind, name, "local", key)
    try:
        from huggingface_hub.utils import validate_repo_id

        validate_repo_id(name)
    except Exception:   # not a valid hub id: a local path that is not there (reported as missing)
        return Item(kind, name, "local", key)
    return Item(kind, name, "hub", key)


def tier_items(cfg: dict) -> list[Item]:
    """Everything ``cfg`` reads that is not in this repository, in order, without duplicates."""
    from .data import BENCHMARKS, DataError

    items: list[Item] = []
    models = [("model.path", cfg.model.path)]
    models += [("difficulty.models", m) for m in cfg.difficulty.models or []]
    models += [("evaluation.baselines", b.get("path") if isinstance(b, dict) else b)
               for b in cfg.evaluation.baselines or []]
    items += [_classify("model", str(m), key) for key, m in models]
    tr = cfg.data.train
    if tr.path:
        items.append(Item("dataset", str(tr.path), "local", "data.train.path"))
    elif tr.source:
        items.append(_classify("dataset", str(tr.source), "data.train.source"))
    benches = [cfg.data.val.benchmark, cfg.temperature_search.benchmark,
               *(cfg.evaluation.benchmarks or {})]
    for spec in (str(s).strip() for s in cfg.difficulty.datasets or []):
        if spec in BENCHMARKS:
            benches.append(spec)
        elif spec != "train" and not spec.startswith("synthetic"):
            items.append(_classify("dataset", spec, "difficulty.datasets"))
    unknown = [b for b in benches if b and b != "synthetic" and b not in BENCHMARKS]
    if unknown:
        raise DataError(f"unknown benchmark(s) {unknown}; expected names of {sorted(BENCHMARKS)} or 'synthetic'")
    items += [Item("benchmark", b, "url", "data.benchmarks_dir") for b in BENCHMARKS if b in benches]
    unique: dict[tuple[str, str], Item] = {}
    for it in items:
        unique.setdefault((it.kind, it.name), it)
    return list(unique.values())


def local_hint(item: Item) -> str:
    """What to pass instead of a hub item, on a machine without internet."""
    if item.kind == "model":
        return f"pass a local folder with -o {item.key}=/path/to/model"
    if item.key == "difficulty.datasets":
        return "pass local parquet files with -o difficulty.datasets=[/path/to/set.parquet]"
    return "pass a local parquet with -o data.train.path=/path/to/train.parquet"


# ------------------------------------------------------------------------------------------------
# checksums


def _hashes(path: Path) -> tuple[str, str]:
    """(sha256, git blob sha1) of a file in one read: the hub names non-LFS files by the latter."""
    h, g = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
            g.update(b)
    return h.hexdigest(), g.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (links not followed: a hub snapshot's files link into blobs/)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def _compare(files: dict[str, str], recorded: dict | None) -> list[str]:
    """Files whose sha256 differs from a previous record's ({relative path: sha256})."""
    old = (recorded or {}).get("files") or {}
    return [f"{k}: sha256 {files[k][:12]}... differs from the recorded {old[k][:12]}..."
            for k in sorted(old) if k in files and files[k] != old[k]]


# Each check_* returns (record, problems, corrupt paths): no problems = complete and verified.


# ------------------------------------------------------------------------------------------------
# models on the hub


def _tree(repo: str, hub: Path) -> dict[str, tuple[int | None, str | None, str | None]] | None:
    """{file: (size, git blob id, LFS sha256)} of the snapshot ``refs/main`` points to, from the
    tree listing huggingface_hub (>= 1.x) caches with each snapshot; None when there is none."""
    try:
        from huggingface_hub import get_cached_repo_tree

        tree = get_cached_repo_tree(repo, cache_dir=hub)
    except Exception:   # an older huggingface_hub, or a cache written without a listing
        return None
    return {f.path: ((f.lfs.size if f.lfs else f.size), f.blob_id, (f.lfs.sha256 if f.lfs else None))
            for f in tree}


def _weights_problem(snap: Path) -> str | None:
    """Without a tree listing: config.json and the weights (every shard an index names) must be there."""
    if not (snap / "config.json").is_file():
        return "config.json missing"
    for index in snap.glob("*.index.json"):
        try:
            shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        except (OSError, ValueError) as e:
            return f"{index.name} unreadable ({e})"
        missing = sorted(s for s in shards if not (snap / s).is_file())
        return f"shard(s) {missing[:3]} of {index.name} missing" if missing else None
    if not any(p.suffix in WEIGHTS for p in _files(snap)):
        return f"no weights file ({', '.join(WEIGHTS)})"
    return None


def check_hub_model(repo: str, root: Path, recorded: dict | None) -> tuple[dict, list[str], list[Path]]:
    """A hub model in ``root/hub``: the snapshot ``refs/main`` names, every file its tree listing
    names (else: config.json + weights), each file's checksum against the listing or its blob name."""
    hub = root / "hub"
    storage = hub / f"models--{repo.replace('/', '--')}"
    ref = storage / "refs" / "main"
    if not ref.is_file():
        return {}, [f"not in {hub}"], []
    commit = ref.read_text().strip()
    snap = storage / "snapshots" / commit
    if not snap.is_dir():
        return {}, [f"refs/main names {commit} but {snap} is missing"], []
    tree = _tree(repo, hub)
    expected = tree if tree is not None else {_rel(p, snap): (None, None, None) for p in _files(snap)}
    problems, corrupt, files, total = [], [], {}, 0
    if tree is None and _weights_problem(snap):
        problems.append(_weights_problem(snap))
    for rel, (size, blob_id, lfs_sha) in sorted(expected.items()):
        p = snap / rel
        if not p.is_file():
            problems.append(f"{rel} missing")
            continue
        sha, git = _hashes(p)
        files[rel], n = sha, p.stat().st_size
        total += n
        blob = p.resolve().name       # the cache names a blob by its etag: LFS sha256 or git blob id
        want_sha = lfs_sha or (blob if _HEX64.fullmatch(blob) else None)
        want_git = None if lfs_sha else (blob_id or (blob if _HEX40.fullmatch(blob) else None))
        if (size is not None and n != size) or (want_sha and sha != want_sha) or (want_git and git != want_git):
            problems.append(f"{rel}: checksum mismatch (sha256 {sha[:12]}..., expected "
                            f"{(want_sha or want_git or '?')[:12]}...)")
            corrupt.append(p)
    if not problems and recorded and recorded.get("revision") == commit:
        changed = _compare(files, recorded)
        problems += changed
        corrupt += [snap / c.split(":")[0] for c in changed]
    rec = {"revision": commit, "path": _rel(snap, root), "bytes": total, "files": files,
           "checked_against": "hub tree listing" if tree is not None else "blob names"}
    return rec, problems, corrupt


def _download_model(item: Item, root: Path) -> None:
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(item.name, cache_dir=str(root / "hub"))
    except Exception as e:
        hint = ("log in first (hf auth login, or HF_TOKEN=...) if the repository is gated or private"
                if type(e).__name__ in ("GatedRepoError", "RepositoryNotFoundError") else
                f"on a machine without internet {local_hint(item)}")
        raise FetchProblem(f"cannot download {item.name} ({item.key}): {type(e).__name__}: {_one_line(e)}; "
                           f"{hint}") from None


# ------------------------------------------------------------------------------------------------
# data sets on the hub (the prepared `datasets` cache)


def check_hub_dataset(name: str, root: Path, recorded: dict | None) -> tuple[dict, list[str], list[Path]]:
    """A hub data set: the newest complete prepared copy, the one ``datasets`` loads offline (the
    folder name as datasets' CachedDatasetModuleFactory forms it)."""
    from datasets.naming import camelcase_to_snakecase

    parts = name.split("/")
    base = root / "datasets" / "___".join(parts[:-1] + [camelcase_to_snakecase(parts[-1])])
    cands = [d for d in base.glob("*/*/*") if d.is_dir() and not d.name.endswith(".incomplete")
             and (d / "dataset_info.json").is_file()]
    if not cands:
        return {}, [f"no prepared copy under {base}"], []
    d = max(cands, key=lambda p: p.stat().st_mtime)
    try:
        info = json.loads((d / "dataset_info.json").read_text())
    except (OSError, ValueError) as e:
        return {}, [f"{d}/dataset_info.json unreadable ({e})"], [d]
    splits, problems = info.get("splits") or {}, []
    if info.get("config_name") != d.parent.parent.name:
        problems.append(f"{d}: dataset_info.json names config {info.get('config_name')!r}")
    if "train" not in splits or not list(d.glob("*-train*.arrow")):
        problems.append(f"{d}: no train split (splits {sorted(splits)})")
    files = {_rel(p, d): sha256_file(p) for p in _files(d)}
    if not problems and recorded and recorded.get("path") == _rel(d, root):
        problems += _compare(files, recorded)
    rec = {"path": _rel(d, root), "bytes": sum((d / k).stat().st_size for k in files), "files": files,
           "rows": sum(int(s.get("num_examples") or 0) for s in splits.values())}
    return rec, problems, ([d] if problems else [])


def _download_dataset(item: Item, root: Path) -> None:
    try:
        import datasets

        datasets.load_dataset(item.name, split="train", cache_dir=str(root / "datasets"))
    except Exception as e:
        raise FetchProblem(f"cannot download data set {item.name} ({item.key}): {type(e).__name__}: "
                           f"{_one_line(e)}; on a machine without internet {local_hint(item)}") from None


# ------------------------------------------------------------------------------------------------
# benchmarks


def check_benchmark(name: str, root: Path) -> tuple[dict, list[str], list[Path]]:
    from .data import BENCHMARKS

    p = root / "benchmarks" / f"{name}.parquet"
    if not p.is_file():
        return {}, [f"{p} missing"], []
    sha, want = sha256_file(p), BENCHMARKS[name]["sha256"]
    rec = {"path": _rel(p, root), "bytes": p.stat().st_size, "sha256": sha}
    if sha != want:
        return rec, [f"{p}: sha256 {sha} does not match the registry's {want} (corrupted or another "
                     f"revision)"], [p]
    return rec, [], []


def _get_benchmark(item: Item, root: Path, local_dir: Path | None) -> str:
    """Put a benchmark into ``root/benchmarks``: a copy of the local one, else a download by
    :func:`polaris_repro.data.benchmark_path` (it downloads into ``$POLARIS_CACHE/benchmarks``,
    pointed at ``root`` for the call). Returns where it came from."""
    from .data import BENCHMARKS, DataError, benchmark_path

    dest = root / "benchmarks" / f"{item.name}.parquet"
    try:
        if local_dir is not None:
            src = benchmark_path(item.name, local_dir)
            if sha256_file(src) != BENCHMARKS[item.name]["sha256"]:
                raise FetchProblem(f"{item.name}: the local copy {src} does not match the registry's sha256; "
                                   f"replace it or unset data.benchmarks_dir / POLARIS_BENCHMARKS_DIR")
            if src.resolve() != dest.resolve():
                with atomic_path(dest) as tmp:
                    shutil.copyfile(src, tmp)
            return f"copy of {src}"
        old = {k: os.environ.pop(k, None) for k in ("POLARIS_CACHE", "POLARIS_BENCHMARKS_DIR")}
        os.environ["POLARIS_CACHE"] = str(root)
        try:
            benchmark_path(item.name, None, download=True)
        finally:
            os.environ.update({k: v for k, v in old.items() if v is not None})
            if old["POLARIS_CACHE"] is None:
                del os.environ["POLARIS_CACHE"]
        return BENCHMARKS[item.name]["url"]
    except DataError as e:
        raise FetchProblem(f"cannot fetch benchmark {item.name}: {e}") from None


# ------------------------------------------------------------------------------------------------
# local items


def check_local(item: Item, recorded: dict | None) -> tuple[dict, list[str], list[Path]]:
    p = Path(item.name).expanduser()
    if not p.exists():
        return {}, [f"{p} not found; fix the path or {local_hint(item)}"], []
    if item.kind == "model" and p.is_dir() and not (p / "config.json").is_file():
        return {}, [f"{p}: no config.json: not a Hugging Face model folder"], []
    if p.is_dir():   # a data folder: the files load_training_data reads
        paths = _files(p) if item.kind == "model" else sorted(p.glob("*.json*")) + sorted(p.glob("*.parquet"))
        files = {_rel(f, p): sha256_file(f) for f in paths}
    else:
        files = {p.name: sha256_file(p)}
    rec = {"path": str(p.resolve()), "bytes": sum((p / k if p.is_dir() else p).stat().st_size for k in files),
           "files": files}
    return rec, _compare(files, recorded), []


# ------------------------------------------------------------------------------------------------
# the command


def _recorded(prev: dict, item: Item) -> dict | None:
    """The item's record in a previous polaris-fetch.json (any tier), or None."""
    for tier in (prev.get("tiers") or {}).values():
        for r in tier.get("items") or []:
            if r.get("kind") == item.kind and r.get("name") == item.name and r.get("files") is not None:
                return r
    return None


def _check(item: Item, root: Path, recorded: dict | None) -> tuple[dict, list[str], list[Path]]:
    if item.origin == "local":
        return check_local(item, recorded)
    if item.kind == "model":
        return check_hub_model(item.name, root, recorded)
    if item.kind == "dataset":
        return check_hub_dataset(item.name, root, recorded)
    return check_benchmark(item.name, root)


def _drop(paths: list[Path]) -> None:
    """Remove corrupted files (a hub blob and its snapshot link) or prepared folders before a re-fetch."""
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            continue
        for q in {p, p.resolve()}:
            if q.is_file() or q.is_symlink():
                q.unlink()


def fetch_item(item: Item, root: Path, *, offline: bool, local_benchmarks: Path | None = None,
               recorded: dict | None = None, log: Callable[[str], None] = print) -> dict:
    """Fetch (or, offline, only verify) one item; returns its record with ``status`` fetched |
    present | local | built-on-node, or raises :class:`FetchProblem`. A local item is compared with
    its record only offline (a fetch records it anew)."""
    base = {"kind": item.kind, "name": item.name, "origin": item.origin, "key": item.key}
    if item.origin == "builtin":
        return {**base, "status": "built-on-node", "bytes": 0}
    local = item.origin == "local"
    rec, problems, corrupt = _check(item, root, recorded if offline or not local else None)
    what = f"{item.name} ({item.kind}, {item.key}): {'; '.join(problems)}"
    if local and problems:
        raise FetchProblem(what + ("; run fetch again to record it as it is now" if rec else ""),
                           "changed" if rec else "missing")
    if not problems:
        return {**base, **rec, "status": "local" if local else "present"}
    if offline:
        alt = "copy the registry's file there" if item.kind == "benchmark" else local_hint(item)
        raise FetchProblem(f"{what}; run polaris-repro fetch on a machine with internet (--to {root}), or {alt}",
                           "corrupt" if corrupt else "missing")
    if corrupt:
        log(f"  {what}: fetching it again")
        _drop(corrupt)
    log(f"{'copying' if item.kind == 'benchmark' and local_benchmarks else 'fetching'} {item.kind} {item.name} ...")
    source = None
    if item.kind == "model":
        _download_model(item, root)
    elif item.kind == "dataset":
        _download_dataset(item, root)
    else:
        source = _get_benchmark(item, root, local_benchmarks)
    rec, problems, _ = _check(item, root, None)
    if problems:
        raise FetchProblem(f"{item.name} ({item.kind}): fetched but not complete: " + "; ".join(problems))
    return {**base, **rec, "status": "fetched", **({"source": source} if source else {})}


def _size(n: int | None) -> str:
    if not n:
        return "-"
    x, unit = float(n), "B"
    for unit in ("B", "KB", "MB", "GB"):
        if x < 1000 or unit == "GB":
            break
        x /= 1000
    return f"{n} B" if unit == "B" else f"{x:.1f} {unit}"


def table(records: list[dict]) -> str:
    """The short table: item, kind, status, size."""
    rows = [("item", "kind", "status", "size")] + [
        (r["name"], r["kind"], r["status"], _size(r.get("bytes"))) for r in records]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{a:<{w[0]}}  {b:<{w[1]}}  {c:<{w[2]}}  {d:>9}" for a, b, c, d in rows)


def run_fetch(tier: str, dest: Path, overrides: list[str], *, offline: bool,
              log: Callable[[str], None] = print) -> int:
    """Fetch (or verify) everything tier ``tier`` reads into ``dest``; 0 when all is there."""
    from .config import load_config
    from .data import benchmarks_dir

    cfg = load_config(tier, overrides)
    root = dest.expanduser().resolve()
    items = tier_items(cfg)
    log(f"{'verifying' if offline else 'fetching'} what tier {tier} reads from the internet "
        f"{'in' if offline else 'into'} {root} ({len(items)} items{', offline' if offline else ''})")
    try:
        prev = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        prev = {}
    local_bench = benchmarks_dir(cfg.data.benchmarks_dir)
    records, errors = [], []
    for it in items:
        try:
            records.append(fetch_item(it, root, offline=offline, local_benchmarks=local_bench,
                                      recorded=_recorded(prev, it), log=log))
        except FetchProblem as e:
            records.append({"kind": it.kind, "name": it.name, "origin": it.origin, "key": it.key,
                            "status": e.status, "error": str(e)})
            errors.append(f"{e.status}: {e}")
    if not offline:
        tiers = {**(prev.get("tiers") or {}),
                 tier: {"updated": now(), "overrides": list(overrides), "items": records}}
        write_json(root / MANIFEST, {"dir": str(root), "tiers": tiers})
    log(table(records))
    for e in errors:
        log(e)
    if errors:
        log(f"{len(errors)} of {len(items)} item(s) {'missing or failing verification' if offline else 'failed'}"
            f" in {root}")
        return 1
    # --hf-home also exports POLARIS_BENCHMARKS_DIR=DIR/benchmarks (benchmarks are not read from HF_HOME)
    opts = [f"--hf-home {root}", *(f"-o {shlex.quote(o)}" for o in overrides)]
    log(f"{'all present' if offline else 'done'}: {_size(sum(r.get('bytes') or 0 for r in records))}"
        f"{'' if offline else f'; recorded in {root / MANIFEST}'}")
    log(f"render the job with: polaris-repro train --tier {tier} --render-launch OUT {' '.join(opts)}")
    log(f"other commands on a node: HF_HOME={root} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 "
        f"POLARIS_BENCHMARKS_DIR={root / 'benchmarks'} polaris-repro ...")
    return 0


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="polaris-repro fetch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tier", required=True)
    p.add_argument("--to", default=None, metavar="DIR",
                   help="the cache directory (default: $HF_HOME, else ~/.cache/huggingface)")
    p.add_argument("-o", "--override", action="append", default=[], help="tier config key.path=value")
    p.add_argument("--offline", action="store_true",
                   help="fetch nothing, only verify that DIR holds everything (also with HF_HUB_OFFLINE=1)")
    args = p.parse_args(argv)
    from .config import ConfigError

    dest = Path(args.to) if args.to else default_dir()
    if not args.to:
        print(f"cache directory: {dest} ({'$HF_HOME' if os.environ.get('HF_HOME') else 'default'}; "
              f"--to DIR chooses another)")
    offline = args.offline or env_offline()
    if offline and not args.offline:
        print("HF_HUB_OFFLINE is set: verifying only, nothing is downloaded")
    try:
        return run_fetch(args.tier, dest, args.override, offline=offline, log=lambda s: print(s, flush=True))
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
