"""Two rows of the README's table of the official release's problems, checked: "no keys in code;
console logging by default" (the release's tracking.py hard-codes a wandb key) and "math-verify's
antlr runtime conflicts with Hydra (POLARIS#21)" (we pin math-verify[antlr4_9_3])."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from polaris_repro.config import TIERS, load_config
from polaris_repro.training import verl_config as vc

REPO = Path(__file__).resolve().parent.parent

# credentials as they appear in code: a wandb key (40 hex characters) next to "wandb" or given to
# wandb.login, keys of common services by their prefixes, private keys, secrets assigned literally
KEY_PATTERNS = {
    "wandb key": re.compile(r"(?i)wandb[^\n]{0,60}?['\"=:\s][0-9a-f]{40}\b"),
    "wandb.login(key=...)": re.compile(r"wandb\.login\([^)]*key\s*="),
    "WANDB_API_KEY set": re.compile(r"WANDB_API_KEY\s*[:=]\s*['\"]?[^\s'\"$]"),
    "OpenAI-style key": re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "secret assigned literally": re.compile(
        r"(?i)\b(api[_-]?key|secret[_-]?key|access[_-]?token|auth[_-]?token|password)\b['\"]?\s*[:=]\s*"
        r"['\"][^'\"\s]{8,}['\"]"),
}
SKIP_DIRS = {".git", ".venv", "artifacts", "__pycache__", ".pytest_cache", "node_modules", ".ipynb_checkpoints"}
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".md", ".txt", ".sh", ".sbatch", ".ipynb", ".toml", ".cfg", ".json",
                 ".ini", ".env", ""}


def find_keys(root: Path) -> list[str]:
    """``file:line: kind`` for every credential-looking string in the text files under ``root``."""
    hits = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            path = Path(dirpath) / name
            if path.suffix not in TEXT_SUFFIXES or path.stat().st_size > 5_000_000:
                continue
            try:
                text = path.read_text()
            except (UnicodeDecodeError, OSError):
                continue
            for kind, pat in KEY_PATTERNS.items():
                for m in pat.finditer(text):
                    line = text.count("\n", 0, m.start()) + 1
                    hits.append(f"{path.relative_to(root)}:{line}: {kind}")
    return hits


def test_the_scanner_finds_planted_keys(tmp_path):
    """Positive control: each kind of key, planted in a file, is found (and plain code is not)."""
    planted = {
        "tracking.py": 'import wandb\nwandb.login(key="0123456789abcdef0123456789abcdef01234567")\n',
        "env.sh": "export WANDB_API_KEY=0123456789abcdef0123456789abcdef01234567\n",
        "conf.yaml": 'openai:\n  api_key: "sk-abcdefghijklmnopqrstuvwxyz123456"\n',
        "hub.py": 'TOKEN = "hf_' + "a" * 34 + '"\n',
        "aws.txt": "AKIA" + "ABCDEFGHIJKLMNOP" + "\n",
        "id_rsa.txt": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
        "db.py": 'password = "hunter2hunter2"\n',
    }
    for name, text in planted.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "clean.py").write_text('sha = "' + "ab" * 32 + '"  # a file checksum\nkey = cfg["api_key"]\n'
                                       'logger = ["console"]\n')
    found = {h.split(":")[0] for h in find_keys(tmp_path)}
    assert found == set(planted), find_keys(tmp_path)


def test_no_keys_in_the_repository():
    this = str(Path(__file__).resolve().relative_to(REPO))   # holds the patterns and planted keys
    hits = [h for h in find_keys(REPO) if not h.startswith(this + ":")]
    assert not hits, "credential-looking strings in the repository:\n" + "\n".join(hits)


def _stage_overrides(cfg, **kw):
    return vc.stage_overrides(cfg, 0, train_files="/d/train.parquet", val_files="/d/val.parquet",
                              model_path="/m", output_dir="/runs/x/03_training/stage1", **kw)


def test_console_logging_by_default_in_every_tier():
    """verl's own default is ["console", "wandb"]; every tier asks for the console only, and the
    stage runner adds only its local ``file`` logger (metrics.jsonl)."""
    from polaris_repro.training import stages as S

    for tier in TIERS:
        cfg = load_config(tier)
        assert cfg["training"]["logger"] == ["console"], tier
        ov = vc.overrides_to_dict(_stage_overrides(cfg))
        assert ov["trainer.logger"] == "[console]", (tier, ov["trainer.logger"])
        assert not any("wandb" in k.lower() or "wandb" in v.lower() for k, v in ov.items()), tier
    cfg = load_config("tiny")
    plan = S.StagePlan(index=0, name="stage1", dir="/runs/x/03_training/stage1", train_file="/d/t.parquet",
                       val_file="/d/v.parquet", model_path="/m", temperature=0.8, temperature_source="config",
                       val_temperature=0.6, substitution="polaris", rescue=False, steps=2)
    assert vc.overrides_to_dict(S.overrides_for(cfg, plan))["trainer.logger"] == "[console,file]"
    # composed through verl's Hydra config: our override replaces verl's default
    assert list(vc.compose([]).trainer.logger) == ["console", "wandb"]
    assert list(vc.compose(_stage_overrides(cfg)).trainer.logger) == ["console"]


def test_cluster_launch_scripts_carry_no_keys(tmp_path):
    from polaris_repro.training.launch_scripts import render_all

    paths = render_all(load_config("paper-4b"), tmp_path)
    assert len(paths) == 5 and find_keys(tmp_path) == []   # training, ray job, 3 section jobs
    assert not any("WANDB" in p.read_text() for p in paths)


MV_AND_HYDRA = r"""
import json, sys
from importlib.metadata import version

import hydra, omegaconf
from omegaconf import OmegaConf
from polaris_repro.training import verl_config as vc

import math_verify
from math_verify import parse, verify

# Hydra/omegaconf's grammar (antlr) at work: interpolations, and verl's config composed
conf = OmegaConf.create({"a": 2, "b": "${a}", "c": "x_${b}"})
assert OmegaConf.to_container(conf, resolve=True) == {"a": 2, "b": 2, "c": "x_2"}
logger = list(vc.compose(["trainer.logger=[console]"]).trainer.logger)

# math-verify's LaTeX parser (antlr) at work in the same interpreter, after Hydra
half = parse("$\\frac{1}{2}$")
root = parse("$\\sqrt{2}\\cdot\\sqrt{8}$")
print(json.dumps({
    "antlr": version("antlr4-python3-runtime"), "logger": logger,
    "half": [str(x) for x in half], "root": [str(x) for x in root],
    "half_eq": verify(parse("$0.5$"), half), "root_eq": verify(parse("$4$"), root),
    "wrong_eq": verify(parse("$\\frac{1}{3}$"), half),
}))
"""


def test_math_verify_and_hydra_work_in_one_interpreter():
    """POLARIS#21: math-verify's antlr runtime and Hydra's clash. In a fresh interpreter both
    parse: Hydra composes verl's config, then math-verify parses LaTeX (a failed LaTeX parse
    makes math-verify return [] quietly, so the parsed values are checked, not just the imports)."""
    out = subprocess.run([sys.executable, "-c", MV_AND_HYDRA], capture_output=True, text=True,
                         timeout=300, cwd=str(REPO))
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["antlr"] == "4.9.3", res            # the runtime omegaconf's grammar was built with
    assert res["logger"] == ["console"]
    assert res["half"] and res["half"][0] == "1/2", res
    assert res["root"] and res["root"][0] == "sqrt(2)*sqrt(8)", res   # \\cdot parsed as a product
    assert (res["half_eq"], res["root_eq"], res["wrong_eq"]) == (True, True, False), res
