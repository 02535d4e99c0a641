"""The stage runner's decisions without launching verl: data, temperature, model, context,
plan reuse, metric merging, the shared dataloader iterator, and the CLI's dry run."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from polaris_repro.artifacts import Manifest, append_jsonl, write_json
from polaris_repro.config import ConfigError, load_config
from polaris_repro.data import synthetic_problems, to_verl_parquet
from polaris_repro.training import stages as S
from polaris_repro.training.cli import cli


@pytest.fixture
def no_model_build(monkeypatch):
    import polaris_repro.models as models

    monkeypatch.setattr(models, "resolve_model_path", lambda p: f"/resolved/{p}")


def _fake_finished_stage(sdir, n=12, scores=None, max_pos=256):
    """A finished stage folder: train.parquet, accuracy log, merged model config."""
    sdir.mkdir(parents=True)
    to_verl_parquet(synthetic_problems(n, seed=3), sdir / "train.parquet")
    scores = scores or {i: (1.0 if i % 3 == 0 else 0.25) for i in range(n)}
    idx = sorted(scores)
    for b in range(0, n, 4):
        append_jsonl(sdir / "accuracy_log.jsonl", {"step": b // 4 + 1, "global_step": b // 4 + 1,
                                                   "index": idx[b:b + 4], "score": [scores[i] for i in idx[b:b + 4]],
                                                   "skipped": False})
    (sdir / S.MERGED).mkdir()
    write_json(sdir / S.MERGED / "config.json", {"model_type": "qwen3", "max_position_embeddings": max_pos})
    write_json(sdir / S.STAGE_FILE, {"status": "done", "final_step": n // 4,
                                     "plan": {"temperature": 0.8}})
    return scores


def test_stage1_data_and_temperature_sources(tmp_path, no_model_build):
    cfg = load_config("tiny")
    run = tmp_path / "run"
    Manifest(run, cfg)
    # without upstream sections: the tier's data and the configured temperature
    p = S.plan_stage(cfg, run, 0, log=lambda s: None)
    assert p.temperature == 0.8 and p.temperature_source == "config"
    assert p.model_path == "/resolved/builtin:tiny"
    assert len(pd.read_parquet(p.train_file)) == 32 and len(pd.read_parquet(p.val_file)) == 8
    assert p.data_report["source"].startswith("tier data")
    # a second plan reuses the first (an interrupted stage resumes with the same inputs)
    write_json(run / "02_temperature" / "choice.json", {"temperature": 1.05, "diversity": 0.4})
    assert S.plan_stage(cfg, run, "stage1", log=lambda s: None).temperature == 0.8
    # a fresh stage folder picks up 01's filtered data and 02's temperature choice
    run2 = tmp_path / "run2"
    Manifest(run2, cfg)
    filtered = to_verl_parquet(synthetic_problems(12, seed=5), run2 / "01_difficulty" / "train.parquet")
    Manifest(run2).record_output("train_data", filtered)
    write_json(run2 / "02_temperature" / "choice.json", {"temperature": 1.05, "diversity": 0.4})
    p2 = S.plan_stage(cfg, run2, 0, log=lambda s: None)
    assert p2.temperature == 1.05 and p2.temperature_source == "02_temperature/choice.json"
    assert len(pd.read_parquet(p2.train_file)) == 12 and "01_difficulty" in p2.data_report["source"]
    # an explicit temperature wins; later stages use the config by default
    assert S.plan_stage(cfg, run2, 0, temperature=0.5, dry_run=True, log=lambda s: None).temperature == 0.5


def test_later_stage_drop_easy_and_previous_merged_model(tmp_path):
    cfg = load_config("tiny")
    run = tmp_path / "run"
    scores = _fake_finished_stage(S.stage_dir(cfg, run, 0))
    p = S.plan_stage(cfg, run, 1, log=lambda s: None)
    assert p.model_path == str(S.stage_dir(cfg, run, 0) / S.MERGED)
    assert p.temperature == 0.85 and p.temperature_source == "config"
    kept = {int(e["index"]) for e in pd.read_parquet(p.train_file)["extra_info"]}
    assert kept == {i for i, s in scores.items() if s <= 0.9}
    assert p.data_report["dropped"] == 4 and p.data_report["before"] == 12
    assert json.loads((S.stage_dir(cfg, run, 1) / S.STAGE_FILE).read_text())["status"] == "planned"
    with pytest.raises(S.StageError, match="does not exist"):
        S.plan_stage(cfg, tmp_path / "empty", 2, log=lambda s: None)


def test_context_raised_when_the_budget_exceeds_it(tmp_path):
    cfg = load_config("paper-4b")
    run = tmp_path / "run"
    _fake_finished_stage(S.stage_dir(cfg, run, 0), max_pos=40960)
    p = S.plan_stage(cfg, run, 1, log=lambda s: None)
    assert p.context == {"from": 40960, "to": 131072, "rope_scaling": None}
    assert p.model_path == str(S.stage_dir(cfg, run, 1) / "model_in")
    conf = json.loads((S.stage_dir(cfg, run, 1) / "model_in" / "config.json").read_text())
    assert conf["max_position_embeddings"] == 131072
    # the 7B model already has 131,072: nothing to do
    cfg7 = load_config("paper-7b")
    _fake_finished_stage(S.stage_dir(cfg7, tmp_path / "r7", 0), max_pos=131072)
    assert S.plan_stage(cfg7, tmp_path / "r7", 1, log=lambda s: None).context == {}


def test_stage_metrics_merge_launches(tmp_path):
    sdir = tmp_path / "stage1"
    for launch, steps in ((1, (1, 2, 3)), (2, (3, 4))):
        for st in steps:
            append_jsonl(sdir / "metrics" / f"launch-{launch:03d}.jsonl",
                         {"step": st, "data": {"critic/score/mean": st / 10 + launch}})
    m = S.stage_metrics(sdir)
    assert m["step"].tolist() == [1, 2, 3, 4]
    assert m["critic/score/mean"].tolist() == [1.1, 1.2, 2.3, 2.4]


def test_shared_iterator_loader():
    import verl  # noqa: F401  (a required dependency: a broken install fails, never skips)
    from polaris_repro.training.trainer import SharedIterLoader

    class Loader(list):
        def state_dict(self):
            return {"n": len(self)}

    sl = SharedIterLoader(Loader([1, 2, 3, 4, 5]))
    seen = []
    for b in sl:                       # fit's loop
        seen.append(b)
        if b == 2:
            seen.append(("skip-pull", sl.next_batch()))   # the skip rule pulls the next batch
    assert seen == [1, 2, ("skip-pull", 3), 4, 5]
    assert len(sl) == 5 and sl.state_dict() == {"n": 5}
    with pytest.raises(StopIteration):
        sl.next_batch()


def test_cli_dry_run_cpu_tier_and_errors(capsys):
    assert cli(["--tier", "tiny", "--stage", "2", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "trainer.device=cpu" in out and "actor_rollout_ref.rollout.name=hf" in out
    assert "actor_rollout_ref.actor.strategy=fsdp2" in out and "trainer.use_v1=False" in out
    assert "model: RUN_DIR/03_training/stage1/merged_hf" in out
    assert "validated by verl: OK" in out
    assert cli(["--tier", "tiny", "--stage", "7", "--dry-run"]) == 2
    assert cli(["--tier", "nope", "--dry-run"]) == 2


def test_later_stage_temperature_search_on_previous_model(tmp_path, monkeypatch):
    import polaris_repro.temperature as temp

    cfg = load_config("tiny")
    run = tmp_path / "run"
    _fake_finished_stage(S.stage_dir(cfg, run, 0))
    write_json(run / "02_temperature" / "choice.json", {"temperature": 0.8, "diversity": 0.37})
    calls = {}

    def fake_search(cfg_, model_dir, target, *, out_dir, **kw):
        calls.update(model=str(model_dir), target=target, out=str(out_dir))
        return {"temperature": 0.95, "diversity": 0.37, "curve": []}

    monkeypatch.setattr(temp, "search_for_stage", fake_search)
    p = S.plan_stage(cfg, run, 1, temperature_mode="search", log=lambda s: None)
    # matched on the previous stage's merged model, to the previous choice's diversity
    assert calls["model"] == str(S.stage_dir(cfg, run, 0) / S.MERGED) and calls["target"] == 0.37
    assert p.temperature == 0.95 and p.temperature_source.startswith("search on stage1")
    assert S.read_stage(S.stage_dir(cfg, run, 1))["temperature_choice"]["temperature"] == 0.95

    # the tier's training.temperature_mode is the default; an explicit argument wins over it
    run2 = tmp_path / "run2"
    _fake_finished_stage(S.stage_dir(cfg, run2, 0))
    write_json(run2 / "02_temperature" / "choice.json", {"temperature": 0.8, "diversity": 0.37})
    cfg_search = load_config("tiny", ["training.temperature_mode=search"])
    assert S.plan_stage(cfg_search, run2, 1, dry_run=True, log=lambda s: None).temperature == \
        cfg["training"]["stages"][1]["temperature"]  # a dry run never samples
    assert S.plan_stage(cfg_search, run2, 1, log=lambda s: None).temperature == 0.95
    run3 = tmp_path / "run3"
    _fake_finished_stage(S.stage_dir(cfg, run3, 0))
    p3 = S.plan_stage(cfg_search, run3, 1, temperature_mode="config", log=lambda s: None)
    assert p3.temperature == cfg["training"]["stages"][1]["temperature"] and p3.temperature_source == "config"
    assert load_config("smoke")["training"]["temperature_mode"] == "search"
    with pytest.raises(ConfigError, match="training.temperature_mode"):
        load_config("tiny", ["training.temperature_mode=hot"])


def _proto(groups, gts, index_base):
    """A verl DataProto of hand-made rollouts (see test_training_mechanisms.make_batch)."""
    from verl import DataProto

    from test_training_mechanisms import make_batch

    t, nt = make_batch(groups, gts, index_base=index_base)
    return DataProto.from_dict(tensors=t, non_tensors=nt, meta_info={"reward_extra_keys": ["score"]})


def test_trainer_hook_skips_by_resampling_within_the_step(tmp_path):
    """PolarisTrainer's batch hook without Ray: the skip rule draws the next batches from the shared
    dataloader iterator until one is informative enough; every batch gets its log line; when the
    epoch runs out the last batch is trained on as it is."""
    import verl  # noqa: F401  (a required dependency: a broken install fails, never skips)
    import numpy as np

    from polaris_repro.training import mechanisms as M
    from polaris_repro.training.trainer import PolarisTrainer, SharedIterLoader

    dead = [[9, 9, 9, 9]] * 3 + [[1, 2, 1, 2]]        # 1 of 4 informative -> skipped
    good = [[1, 2, 1, 2]] * 2 + [[9, 9, 9, 9]] * 2     # 2 of 4 -> trained, 2 substituted
    queue = {"b2": (dead, 10), "b3": (good, 20)}
    tr = object.__new__(PolarisTrainer)
    tr.polaris = {"substitution": "polaris", "max_resample": None, "threshold": 0.5}
    tr.pol_rng, tr.pol_rescue, tr.pol_batch_no = np.random.default_rng(0), None, 0
    tr.pol_log = M.AccuracyLog(tmp_path / "acc.jsonl")
    tr.global_steps = 7
    tr.train_dataloader = SharedIterLoader(["b1", "b2", "b3", "b4"])
    iter(tr.train_dataloader)
    tr._polaris_generate = lambda name: _proto(queue[name][0], [1] * 4, queue[name][1])
    next(tr.train_dataloader)                      # fit's loop drew b1
    batch, metrics = _proto(dead, [1] * 4, 0), {}
    tr._polaris_process(batch, metrics)            # b1 skipped, b2 skipped, b3 trained
    recs = tr.pol_log.read()
    assert [(r["step"], r["global_step"], r["skipped"]) for r in recs] == [(1, 7, True), (2, 7, True), (3, 7, False)]
    assert recs[2]["index"] == [20, 21, 22, 23]
    assert metrics["polaris/skipped"] == 2 and metrics["polaris/substituted"] == 2
    assert metrics["polaris/skip_unavailable"] == 0 and metrics["polaris/batches_generated"] == 3
    # the batch fit goes on with is b3, substituted: every group informative
    assert M.row_rewards(dict(batch.batch.items())).reshape(4, 4).sum(1).tolist() == [2, 2, 2, 2]
    # next step: fit draws b4, skipped; the epoch is exhausted -> b4 trained on as it is
    tr.global_steps = 8
    next(tr.train_dataloader)
    batch2, metrics2 = _proto(dead, [1] * 4, 40), {}
    tr._polaris_process(batch2, metrics2)
    recs = tr.pol_log.read()
    assert [(r["global_step"], r["skipped"]) for r in recs[3:]] == [(8, False)]
    assert recs[-1]["skip_unavailable"] is True and metrics2["polaris/skip_unavailable"] == 1


def test_trainer_hook_trains_on_the_same_rows_whatever_the_arrival_order(tmp_path):
    """The rollout server gives a prompt's n indistinguishable requests their n seeds in arrival
    order, which varies between runs: the hook puts each group's rows in a fixed order before the
    mechanisms run, so two runs whose completions arrived in other orders go on with the same batch,
    row for row (substitution included), and the update sums the same numbers in the same order."""
    import verl  # noqa: F401  (a required dependency: a broken install fails, never skips)
    import numpy as np
    import torch

    from polaris_repro.training import mechanisms as M
    from polaris_repro.training.trainer import PolarisTrainer

    def trainer(name):
        tr = object.__new__(PolarisTrainer)
        tr.polaris = {"substitution": "polaris", "max_resample": None, "threshold": 0.5}
        tr.pol_rng, tr.pol_rescue, tr.pol_batch_no = np.random.default_rng(3), None, 0
        tr.pol_log = M.AccuracyLog(tmp_path / f"{name}.jsonl")
        tr.global_steps = 1
        return tr

    groups = [[1, 4, 1, 5], [9, 9, 9, 9], [2, 1, 6, 1], [1, 1, 1, 1]]   # two dead groups get donors
    a, b = _proto(groups, [1] * 4, 0), _proto(groups, [1] * 4, 0)
    arrival = torch.tensor([2, 0, 3, 1, 4, 5, 6, 7, 11, 9, 8, 10, 12, 13, 14, 15])  # other seeds, other rows
    b.reorder(arrival)
    assert not torch.equal(a.batch["responses"], b.batch["responses"])
    ma, mb = {}, {}
    trainer("a")._polaris_process(a, ma)
    trainer("b")._polaris_process(b, mb)
    assert ma["polaris/substituted"] == mb["polaris/substituted"] == 2
    for k in a.batch.keys():
        assert torch.equal(a.batch[k], b.batch[k]), k
    for k in ("extra_info", "reward_model", "data_source"):
        assert list(a.non_tensor_batch[k]) == list(b.non_tensor_batch[k]), k


def test_trainer_hook_splits_a_shared_prompts_rollouts_by_seed_number(tmp_path):
    """A batch drew one problem twice (groups 0 and 2): the hf server numbers the prompt's 8
    requests in arrival order, so which completions each group gets moved with machine load. The
    hook hands them out by seed number on verl's DataProto: two runs whose requests arrived in other
    orders go on with the same batch, rewards and accuracy-log line; each group keeps the fields the
    data set gave it (uid, index, ground truth), learnt from the batches the dataloader handed out."""
    import verl  # noqa: F401  (a required dependency: a broken install fails, never skips)
    import numpy as np
    import torch
    from verl import DataProto

    from polaris_repro.training import mechanisms as M
    from polaris_repro.training.trainer import PolarisTrainer, SharedIterLoader
    from polaris_repro.verl_cpu import hf_rollout
    from test_training_mechanisms import _shared_prompt_batch

    assert hf_rollout.SEED_INDEX_KEY == M.SEED_INDEX_KEY    # what the server sends is what the hook reads
    comp = {7: [[1, 10 + k, 0] if k < 4 else [9, 10 + k, 0] for k in range(8)], 8: [[2, 20 + k, 0] for k in range(4)]}

    def run(name, seeds):
        tr = object.__new__(PolarisTrainer)
        tr.polaris = {"substitution": "off", "max_resample": None, "threshold": 0.5}
        tr.pol_rng, tr.pol_rescue, tr.pol_batch_no = np.random.default_rng(3), None, 0
        tr.pol_log = M.AccuracyLog(tmp_path / f"{name}.jsonl")
        tr.global_steps = 1
        tr.train_dataloader = SharedIterLoader([{"extra_info": [], "reward_model": [], "data_source": []}])
        next(tr.train_dataloader)                  # fit's loop drew the batch
        t, nt = _shared_prompt_batch(seeds, [7, 8, 7], [1, 2, 1], comp)
        batch, metrics = DataProto.from_dict(tensors=t, non_tensors=nt), {}
        tr._polaris_process(batch, metrics)
        return batch, metrics, tr.pol_log.read()

    a, ma, la = run("a", [[0, 1, 2, 3], [0, 1, 2, 3], [4, 5, 6, 7]])
    b, mb, lb = run("b", [[6, 1, 4, 3], [2, 0, 3, 1], [0, 5, 2, 7]])
    assert ma["polaris/pooled_groups"] == mb["polaris/pooled_groups"] == 2
    for k in a.batch.keys():
        assert torch.equal(a.batch[k], b.batch[k]), k
    for k in a.non_tensor_batch:
        assert list(a.non_tensor_batch[k]) == list(b.non_tensor_batch[k]), k
    assert la[0]["index"] == lb[0]["index"] == [100, 101, 102]
    assert la[0]["score"] == lb[0]["score"] == [1.0, 1.0, 0.0]     # group 0 holds seeds 0-3
    assert list(b.non_tensor_batch["uid"]) == ["u0"] * 4 + ["u1"] * 4 + ["u2"] * 4
    # unpooled, run b's groups 0 and 2 would have scored 0.5 each
    t, nt = _shared_prompt_batch([[6, 1, 4, 3], [2, 0, 3, 1], [0, 5, 2, 7]], [7, 8, 7], [1, 2, 1], comp)
    assert M.row_rewards(t).reshape(3, 4).mean(1).tolist() == [0.5, 1.0, 0.5]


def test_trainer_checkpoint_carries_the_rescue_buffer_and_rng(tmp_path, monkeypatch):
    """A checkpoint holds polaris_state.pt (rescue buffer, substitution rng, batch counter); a
    resumed trainer rescues exactly as the uninterrupted one would."""
    import verl  # noqa: F401  (a required dependency: a broken install fails, never skips)
    import numpy as np
    import torch
    from omegaconf import OmegaConf
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    from polaris_repro.training import mechanisms as M
    from polaris_repro.training.trainer import POLARIS_STATE, PolarisTrainer

    monkeypatch.setattr(RayPPOTrainer, "_save_checkpoint", lambda self: None)
    monkeypatch.setattr(RayPPOTrainer, "_load_checkpoint", lambda self: self.global_steps)

    def trainer(steps):
        tr = object.__new__(PolarisTrainer)
        tr.config = OmegaConf.create({"trainer": {"default_local_dir": str(tmp_path / "ckpt")}})
        tr.polaris = {"substitution": "polaris", "max_resample": None, "threshold": 0.5}
        tr.pol_rng, tr.pol_batch_no = np.random.default_rng(0), 0
        tr.pol_rescue = M.RescueBuffer(seed=1)
        tr.pol_log = M.AccuracyLog(tmp_path / f"acc{steps}.jsonl")
        tr.global_steps = steps
        return tr

    first = [[1, 9, 1, 9], [1, 1, 9, 9], [3, 9, 9, 9], [3, 3, 9, 9]]   # every prompt solved: all stored
    later = [[9, 9, 9, 9], [1, 1, 9, 9], [9, 9, 9, 9], [3, 3, 9, 9]]   # prompts 0 and 2 fail 4/4
    a = trainer(1)
    a._polaris_process(_proto(first, [1, 1, 3, 3], 0), {})
    a._save_checkpoint()
    path = tmp_path / "ckpt" / "global_step_1" / POLARIS_STATE
    assert path.exists() and not path.with_name(POLARIS_STATE + ".tmp").exists()
    b = trainer(1)                                  # a fresh launch resuming from step 1
    b._load_checkpoint()
    assert set(b.pol_rescue.store) == set(a.pol_rescue.store) == {0, 1, 2, 3}
    ba, bb = _proto(later, [1, 1, 3, 3], 0), _proto(later, [1, 1, 3, 3], 0)
    ma, mb = {}, {}
    a._polaris_process(ba, ma)
    b._polaris_process(bb, mb)
    assert ma["polaris/rescued"] == mb["polaris/rescued"] == 2
    assert torch.equal(ba.batch["responses"], bb.batch["responses"])
    # a checkpoint written before this file existed resumes with an empty buffer, saying so
    c = trainer(2)
    c._load_checkpoint()
    assert len(c.pol_rescue) == 0


def test_a_launch_resumed_at_the_last_checkpointed_step_trains_nothing(tmp_path, monkeypatch, capsys):
    """verl's fit adds 1 to the resumed step and trains before it checks for the last one: a launch
    killed after its final checkpoint (a cluster's time limit during the merge) must not train a step
    more when resumed (CI saw `step 3/2` and a third checkpoint). Earlier steps still resume."""
    import numpy as np
    from omegaconf import OmegaConf
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    from polaris_repro.training import mechanisms as M
    from polaris_repro.training.trainer import PolarisTrainer

    def fake_fit(self):          # verl's order: load the checkpoint, then step from global_steps + 1
        self._load_checkpoint()
        self.trained = list(range(self.global_steps + 1, self.total_training_steps + 1)) or [self.global_steps + 1]
        return "trained"

    monkeypatch.setattr(RayPPOTrainer, "fit", fake_fit)

    def trainer(resume_at, total):
        monkeypatch.setattr(RayPPOTrainer, "_load_checkpoint", lambda self: setattr(self, "global_steps", resume_at))
        tr = object.__new__(PolarisTrainer)
        tr.config = OmegaConf.create({"trainer": {"default_local_dir": str(tmp_path / "ckpt")}})
        tr.polaris = {"substitution": "polaris", "metrics_file": None}
        tr.pol_rng, tr.pol_batch_no, tr.pol_rescue = np.random.default_rng(0), 0, None
        tr.pol_log = M.AccuracyLog(tmp_path / f"acc{resume_at}.jsonl")
        tr.global_steps, tr.total_training_steps, tr.trained = 0, total, None
        return tr

    done = trainer(2, 2)
    assert done.fit() is None and done.trained is None
    assert "resumed at step 2 of 2" in capsys.readouterr().out
    part = trainer(1, 3)
    assert part.fit() == "trained" and part.trained == [2, 3]
    fresh = trainer(0, 2)
    assert fresh.fit() == "trained" and fresh.trained == [1, 2]



def test_temperature_searches_figure_data(tmp_path):
    """The per-stage temperature figure reads the stage-1 sweep (section 2) and every later stage's
    own search; stages without a search are absent, and the plot marks each choice."""
    import matplotlib

    matplotlib.use("Agg")
    from polaris_repro.training import figures as F

    cfg = load_config("smoke")
    run = tmp_path / "run"
    curve = lambda d0: [{"temperature": t, "accuracy": 0.3, "diversity": d0 + t / 2} for t in (0.2, 0.6, 1.0)]
    write_json(run / "02_temperature" / "choice.json",
               {"temperature": 0.6, "diversity": 0.8, "target_diversity": None, "model": "builtin:smoke", "curve": curve(0.5)})
    assert F.temperature_searches(cfg, run)["stage"].unique().tolist() == ["stage1"]
    write_json(S.stage_dir(cfg, run, 1) / "temperature" / "choice.json",
               {"temperature": 1.0, "diversity": 0.8, "target_diversity": 0.8, "model": "m1", "curve": curve(0.3)})
    df = F.temperature_searches(cfg, run)
    assert df.groupby("stage", sort=False)["chosen"].first().to_dict() == {"stage1": 0.6, "stage2": 1.0}
    assert df.loc[df["stage"] == "stage2", "target_diversity"].eq(0.8).all()
    assert df.loc[df["stage"] == "stage1", "diversity"].tolist() == [0.6, 0.8, 1.0]
    fig = F.plot_temperature_searches(df)
    assert len(fig.axes[0].lines) == 2 * 2 + 1  # a curve and a choice line per stage, one target line
    assert F.temperature_searches(cfg, tmp_path / "empty").empty


@pytest.mark.parametrize("keep", [True, False])
def test_a_finished_stage_keeps_or_removes_its_checkpoints(tmp_path, no_model_build, monkeypatch, keep):
    """``training.keep_checkpoints: false`` (the smoke tier: 1.6 GB a stage) deletes a stage's verl
    checkpoints once its merged model is written, and only then; the stage stays done on a rerun."""
    from polaris_repro.training import supervisor

    cfg = load_config("tiny", [f"training.keep_checkpoints={str(keep).lower()}"])
    run = tmp_path / "run"
    Manifest(run, cfg)
    ckpt = S.stage_dir(cfg, run, 0) / "checkpoints"

    def fake_launch(overrides, **kw):
        (ckpt / "global_step_2" / "actor").mkdir(parents=True)
        (ckpt / "global_step_2" / "actor" / "model.pt").write_bytes(b"\0" * 4096)
        (ckpt / "latest_checkpointed_iteration.txt").write_text("2")
        return 1.0

    def fake_merge(ckpt_dir, target, step=None, env=None):
        assert (ckpt_dir / f"global_step_{step}" / "actor" / "model.pt").exists()   # still there to merge
        target.mkdir(parents=True)
        write_json(target / "config.json", {"model_type": "llama"})
        return target

    monkeypatch.setattr(supervisor, "run_verl", fake_launch)
    monkeypatch.setattr(S, "merge_checkpoint", fake_merge)
    lines = []
    rec = S.run_stage(cfg, run, 0, log=lines.append)
    assert rec["status"] == "done" and rec["final_step"] == 2
    assert ckpt.exists() == keep
    assert ("checkpoints_removed_gb" in rec) == (not keep)
    assert any("checkpoints removed" in ln for ln in lines) == (not keep)
    again = S.run_stage(cfg, run, 0, log=lines.append)       # done: not relaunched
    assert again["status"] == "done" and "already done" in lines[-1]


def test_keep_checkpoints_must_be_a_boolean():
    with pytest.raises(ConfigError, match="training.keep_checkpoints"):
        load_config("tiny", ["training.keep_checkpoints=sometimes"])


def test_a_stop_request_checkpoints_the_step_and_ends_at_the_next_boundary(tmp_path, monkeypatch, capsys):
    """The time limit's warning (issue 30): after the actor update of the step in progress the
    trainer saves a checkpoint (unless verl's save rule saves that step anyway), records where it
    stopped, and raises at the top of the next step, which ``fit`` turns into a normal end."""
    from omegaconf import OmegaConf
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    from polaris_repro.training import time_limits as TL
    from polaris_repro.training.trainer import PolarisTrainer, _StopAtBoundary

    saves = []
    monkeypatch.setattr(RayPPOTrainer, "_update_actor", lambda self, batch: "updated")
    monkeypatch.setattr(RayPPOTrainer, "_start_profiling", lambda self, do_profile: None)
    monkeypatch.setattr(PolarisTrainer, "_save_checkpoint", lambda self: saves.append(self.global_steps))
    sdir = tmp_path / "run" / "03_training" / "stage1"
    sdir.mkdir(parents=True)
    stop = tmp_path / "run" / "03_training" / "STOP"

    def trainer(step, save_freq=10, total=20):
        tr = object.__new__(PolarisTrainer)
        tr.config = OmegaConf.create({"trainer": {"save_freq": save_freq}})
        tr.polaris = {"stop_file": str(stop), "accuracy_log": str(sdir / "accuracy_log.jsonl")}
        tr.global_steps, tr.total_training_steps = step, total
        return tr

    tr = trainer(3)
    assert tr._update_actor(None) == "updated" and saves == [] and tr._start_profiling(False) is None
    stop.write_text("SIGUSR1 (job 7)")
    assert tr._update_actor(None) == "updated" and saves == [3]      # step 3 is not a save_freq step
    rec = TL.read_stopped(sdir)
    assert rec["step"] == 3 and rec["total"] == 20 and rec["reason"] == "SIGUSR1 (job 7)"
    with pytest.raises(_StopAtBoundary, match="stopped at step 3"):
        tr._start_profiling(False)
    tr2 = trainer(10)                       # verl saves step 10 itself (save_freq 10): no second save
    tr2._update_actor(None)
    assert saves == [3] and TL.read_stopped(sdir)["checkpoint_saved_by"] == "verl"
    assert "stop requested (SIGUSR1 (job 7))" in capsys.readouterr().out


def test_a_stopped_stage_records_its_attempts_and_resumes(tmp_path, no_model_build, monkeypatch):
    """The stage runner after a launch that stopped on request: status ``stopped``, one attempt
    record per launch (SLURM job and restart count included), ``polaris-repro train`` exits 75, and the
    next run resumes the stage and finishes it; a request older than the run is dropped, one made
    during a run stops it between stages."""
    from polaris_repro.training import supervisor
    from polaris_repro.training import time_limits as TL

    cfg = load_config("tiny")
    run = tmp_path / "run"
    Manifest(run, cfg)
    sdir = S.stage_dir(cfg, run, 0)
    ckpt = sdir / "checkpoints"
    launches = []

    def fake_launch(overrides, **kw):
        launches.append(overrides)
        assert f"+polaris.stop_file={TL.stop_file(run)}" in overrides
        step = 1 if len(launches) == 1 else 2
        (ckpt / f"global_step_{step}" / "actor").mkdir(parents=True)
        (ckpt / "latest_checkpointed_iteration.txt").write_text(str(step))
        if len(launches) == 1:      # the trainer honoured a stop request after step 1 of 2
            TL.write_stopped(sdir, step=1, total=2, reason="SIGUSR1 (job 41)", saved=True)
        return 3.0

    def fake_merge(ckpt_dir, target, step=None, env=None):
        target.mkdir(parents=True)
        write_json(target / "config.json", {"model_type": "llama"})
        return target

    monkeypatch.setattr(supervisor, "run_verl", fake_launch)
    monkeypatch.setattr(S, "merge_checkpoint", fake_merge)
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    with pytest.raises(TL.StopRequested, match="stage1 stopped at step 1 of 2"):
        S.run_stage(cfg, run, 0, log=lambda s: None)
    st = S.read_stage(sdir)
    assert st["status"] == "stopped" and st["stopped_at_step"] == 1
    a = st["attempts"][0]
    assert (a["status"], a["from_step"], a["to_step"], a["slurm_job"], a["slurm_restart"]) == ("stopped", 0, 1, "41", 0)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    rec = S.run_stage(cfg, run, 0, log=lambda s: None)
    assert rec["status"] == "done" and rec["final_step"] == 2 and not (sdir / TL.STOPPED_FILE).exists()
    assert [(a["status"], a["from_step"], a["to_step"], a["slurm_restart"]) for a in rec["attempts"]] == \
        [("stopped", 0, 1, 0), ("trained", 1, 2, 1)]
    # between stages: a request stops the run before the next launch, but only once this run has
    # launched a stage: stage 1 is finished (skipped), so stage 2 still runs, then the run stops
    # (a requeued job whose warning came early used to stop before every launch, forever)
    ran = []
    TL.request_stop(run, "by hand")
    monkeypatch.setattr(S, "run_stage", lambda cfg, run_dir, i, **kw: (ran.append(i), {
        "merged_model": str(sdir / S.MERGED), "final_step": 2})[1])
    with pytest.raises(TL.StopRequested, match="stopped before stage3 on request"):
        S.run_stages(cfg, run, log=lambda s: None)
    assert ran == [0, 1]          # stage 1 skipped inside run_stage (finished), stage 2 launched
    # the same request is older than the next run: dropped, and the run goes on
    import os
    import time as _t

    old = _t.time() - 600
    os.utime(TL.stop_file(run), (old, old))
    monkeypatch.setattr(TL, "PROCESS_START", _t.time())
    monkeypatch.setattr(S, "run_stage", lambda cfg, run_dir, i, **kw: {"merged_model": str(sdir / S.MERGED),
                                                                       "final_step": 2})
    lines = []
    assert len(S.run_stages(cfg, run, log=lines.append)) == len(cfg["training"]["stages"])
    assert "an earlier stop request was removed (by hand" in lines[0]


def test_train_cli_exits_75_when_stopped(tmp_path, monkeypatch, capsys):
    from polaris_repro.training import time_limits as TL

    def stopped(*a, **kw):
        raise TL.StopRequested("stage1 stopped at step 1 of 2 (x)")

    monkeypatch.setattr(S, "run_stages", stopped)
    assert cli(["--tier", "tiny", "--run", str(tmp_path / "run")]) == TL.EXIT_STOPPED == 75
    assert "run the same command again to resume" in capsys.readouterr().out
