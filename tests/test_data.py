import shutil

import pandas as pd
import pytest

from polaris_repro import data
from polaris_repro.data import DataError, load_benchmark, synthetic_problems

ROWS = {"aime24": 30, "aime25": 30, "amc23": 83, "minerva": 272, "olympiad": 675}


def test_synthetic_is_deterministic_and_in_verl_format():
    a = synthetic_problems(20, seed=3)
    b = synthetic_problems(20, seed=3)
    c = synthetic_problems(20, seed=4)
    assert a.equals(b) and not a.equals(c)
    row = a.iloc[0]
    assert row["prompt"][0]["role"] == "user" and "\\boxed{}" in row["prompt"][0]["content"]
    assert row["reward_model"]["style"] == "rule"
    assert list(a["extra_info"].map(lambda e: e["index"])) == list(range(20))
    assert set(a["level"]) == set(data.LEVELS)


def test_synthetic_answers_are_right():
    df = synthetic_problems(70, seed=0)
    for _, r in df.iterrows():
        q = r["prompt"][0]["content"].split("?")[0].replace("What is ", "")
        if r["level"] == "lin":
            continue
        a, op, b = q.split()
        want = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
        assert r["reward_model"]["ground_truth"] == str(want)


def test_unknown_level_is_rejected():
    with pytest.raises(ValueError, match="unknown synthetic level"):
        synthetic_problems(3, ["add7"])


@pytest.mark.parametrize("name", sorted(ROWS))
def test_all_benchmarks_load(name, bench_dir):
    df = load_benchmark(name, bench_dir)
    assert len(df) == ROWS[name]
    assert all(isinstance(a, list) and a and all(isinstance(x, str) for x in a) for a in df["answers"])
    assert df["index"].is_unique
    assert df["problem"].str.contains("boxed").all()


def test_schema_quirks_are_normalised(bench_dir):
    assert load_benchmark("amc23", bench_dir)["answers"].iloc[0] == ["142"]   # float 142.0
    aime25 = load_benchmark("aime25", bench_dir)                             # extra_info.id
    assert list(aime25["index"][:3]) == [0, 1, 2]
    minerva = load_benchmark("minerva", bench_dir)
    assert (minerva["answers"].map(len) >= 2).sum() == 75                    # list answers


def test_corrupted_file_is_refused(tmp_path, bench_dir):
    for f in bench_dir.glob("*.parquet"):
        shutil.copy(f, tmp_path / f.name)
    with open(tmp_path / "aime24.parquet", "r+b") as f:
        f.seek(100)
        f.write(b"\x00garbage\x00")
    with pytest.raises(DataError, match="sha256"):
        load_benchmark("aime24", tmp_path)


def test_missing_column_is_named(tmp_path, bench_dir):
    df = pd.read_parquet(bench_dir / "aime24.parquet").drop(columns=["reward_model"])
    df.to_parquet(tmp_path / "aime24.parquet")
    with pytest.raises(DataError, match="reward_model"):
        load_benchmark("aime24", tmp_path, verify=False)


def test_env_var_override(monkeypatch, bench_dir):
    monkeypatch.setenv("POLARIS_BENCHMARKS_DIR", str(bench_dir))
    assert data.benchmark_path("aime24") == bench_dir / "aime24.parquet"
    with pytest.raises(DataError, match="unknown benchmark"):
        data.benchmark_path("gsm8k")


def test_training_data_local_path_and_verl_roundtrip(tmp_path):
    df = synthetic_problems(6, seed=1)
    p = data.to_verl_parquet(df, tmp_path / "train.parquet", keep=["level"])
    back = pd.read_parquet(p)
    assert list(back.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info", "level"]
    from polaris_repro.config import load_config
    cfg = load_config("tiny", [f"data.train.path={p}"])
    rows = data.load_training_data(cfg)
    assert len(rows) == 6 and rows["answers"].iloc[0] == [df["reward_model"].iloc[0]["ground_truth"]]
    # a json file with problem/answer columns through `datasets` (the paper tiers' local override)
    jl = tmp_path / "polaris.jsonl"
    jl.write_text('{"problem": "1+1?", "answer": "2", "difficulty": "7/8"}\n'
                  '{"problem": "2+2?", "answer": "4", "difficulty": "8/8"}\n')
    cfg = load_config("paper-4b", [f"data.train.source={jl}"])
    rows = data.load_training_data(cfg)
    assert list(rows["answers"]) == [["2"], ["4"]]
    assert rows["extra_info"].iloc[1]["difficulty"] == "8/8"


def test_heldout_pool_is_disjoint_from_everything_sections_1_to_3_see():
    """Issue 17: the evaluation's held-out synthetic problems never occur in the training set, the
    difficulty profiles, the temperature sweep or training validation (smoke tier, three seeds),
    and are all distinct."""
    from polaris_repro.config import load_config
    from polaris_repro.data import load_training_data
    from polaris_repro.difficulty import load_dataset_spec
    from polaris_repro.evaluation import load_problems

    for seed in (1, 2, 3):
        cfg = load_config("smoke", [f"seed={seed}"])
        held = load_problems("synthetic", cfg, cfg["evaluation"]["num_problems"])
        assert len(held) == {1: 64, 2: 64, 3: 56}[seed] and held["problem"].is_unique   # seed 3: a small pool
        assert set(held["level"]) == set(cfg["data"]["train"]["levels"])
        seen = set(load_training_data(cfg)["problem"])
        for spec in cfg["difficulty"]["datasets"]:
            seen |= set(load_dataset_spec(cfg, spec, cfg["difficulty"]["num_problems"])["problem"])
        seen |= set(load_benchmark("synthetic", num_problems=64, seed=seed)["problem"])  # sweep / validation
        assert not set(held["problem"]) & seen, seed
    a = load_problems("synthetic", load_config("smoke", ["seed=1"]), 48)
    b = load_problems("synthetic", load_config("smoke", ["seed=2"]), 48)
    assert set(a["problem"]) != set(b["problem"])   # --seed changes the held-out problems


def test_the_evaluation_takes_as_many_held_out_problems_as_the_pool_holds():
    """A seed whose held-out pool of a level is smaller than asked (smoke seed 3: 24 one-digit
    products) evaluates on what the pool holds, with a warning, instead of failing after training;
    a seed whose pool is large enough gets exactly the rows it got before."""
    from polaris_repro.config import load_config
    from polaris_repro.evaluation import load_problems

    with pytest.warns(UserWarning, match=r"level\(s\) \['mul1'\] ran out of distinct problems; 56 of the 64"):
        short = load_problems("synthetic", load_config("smoke", ["seed=3"]), 64)
    assert len(short) == 56 and short["problem"].is_unique
    assert short["level"].value_counts().to_dict() == {"add1": 32, "mul1": 24}
    assert short["extra_info"].map(lambda e: e["index"]).tolist() == list(range(56))
    full = load_problems("synthetic", load_config("smoke", ["seed=1"]), 64)
    strict = synthetic_problems(64, ["add1", "mul1"], seed=10_001, split="heldout", pool="heldout", pool_seed=1)
    assert full["problem"].tolist() == strict["prompt"].map(lambda m: m[0]["content"]).tolist()
    with pytest.raises(ValueError, match="too few distinct problems"):   # without at_most: the clear error
        synthetic_problems(64, ["add1", "mul1"], seed=10_003, split="heldout", pool="heldout", pool_seed=3)


def test_heldout_pool_too_small_is_a_clear_error():
    # one-digit addition has 100 problems; 40 % of them are held out
    with pytest.raises(ValueError, match="heldout pool holds too few distinct problems"):
        synthetic_problems(80, ["add1"], seed=1, pool="heldout")
    with pytest.raises(ValueError, match="pool must be one of"):
        synthetic_problems(3, ["add1"], pool="test")
