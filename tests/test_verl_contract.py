"""The verl surfaces the POLARIS trainer relies on (issue 25, item 6).

verl 0.9.1 marks its legacy ``RayPPOTrainer`` deprecated while its development branch restores it
and swaps ``DataProto`` for another class. The trainer (polaris_repro/training/trainer.py) and its
TaskRunner (task_runner.py) use private surfaces of that class; each test below asserts one of them
and fails with a message naming it, so a verl upgrade says which surface broke. Seconds, no Ray.
"""
import ast
import inspect
import textwrap
import warnings

import numpy as np
import torch
# verl is a required dependency (environment.yml pins 0.9.1): a missing or broken install fails
# these tests at import, never skips them
import verl
import verl.trainer.main_ppo_v0 as v0
from verl import DataProto
from verl.trainer.ppo import ray_trainer as rt
from verl.trainer.ppo.ray_trainer import RayPPOTrainer

PINNED = "0.9.1"


def _src_ast(fn) -> ast.AST:
    return ast.parse(textwrap.dedent(inspect.getsource(fn)))


def _self_calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == name and isinstance(n.func.value, ast.Name) and n.func.value.id == "self"]


def test_verl_version_is_the_pinned_one():
    assert verl.__version__ == PINNED, (
        f"verl {verl.__version__} is installed, the contract below was checked against {PINNED}: "
        "run this file and fix the surfaces it names before moving the pin (envs/cpu.txt, envs/cluster.txt)")


def test_fit_calls_balance_batch_in_place():
    tree = _src_ast(RayPPOTrainer.fit)
    calls = _self_calls(tree, "_balance_batch")
    assert calls, "surface RayPPOTrainer.fit -> self._balance_batch(batch, ...): fit no longer calls it; " \
                  "the POLARIS hook (PolarisTrainer._balance_batch) would never run"
    stmts = [n for n in ast.walk(tree) if isinstance(n, ast.Expr) and n.value in calls]
    assert len(stmts) == len(calls), "surface RayPPOTrainer.fit -> _balance_batch: its return value is now " \
                                     "used; the POLARIS hook edits the batch in place and returns nothing"
    params = list(inspect.signature(RayPPOTrainer._balance_batch).parameters)
    assert params[:3] == ["self", "batch", "metrics"] and {"logging_prefix", "keep_minibatch"} <= set(params), \
        f"surface RayPPOTrainer._balance_batch signature changed: {params}"


def test_balance_batch_reorders_the_batch_in_place():
    tr = RayPPOTrainer.__new__(RayPPOTrainer)      # no __init__: only the method under test
    tr._get_dp_size = lambda wg, role: 2
    tr.actor_rollout_wg = None
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]])
    batch = DataProto.from_dict(tensors={"attention_mask": mask, "row": torch.arange(4)},
                                non_tensors={"uid": np.array(list("abcd"), dtype=object)})
    metrics = {}
    out = tr._balance_batch(batch, metrics=metrics)
    assert out is None, "surface RayPPOTrainer._balance_batch: now returns a value (fit ignores it)"
    # token counts 4, 1, 3, 2 over 2 ranks: {1, 0} and {3, 2} (5 tokens each), short rows first
    assert batch.batch["row"].tolist() == [1, 0, 3, 2], \
        f"surface RayPPOTrainer._balance_batch: did not reorder the batch in place ({batch.batch['row'].tolist()})"
    assert any(k.startswith("global_seqlen") for k in metrics), \
        "surface RayPPOTrainer._balance_batch: no global_seqlen metrics (logging_prefix)"
    # the same DataProto object carries the result (in place), its rows moved together
    assert list(batch.non_tensor_batch["uid"]) == [list("abcd")[i] for i in batch.batch["row"].tolist()]


def test_task_runner_builds_the_module_level_trainer_class():
    run = v0.TaskRunner.__ray_actor_class__.run
    assert run.__globals__ is vars(v0), \
        "surface main_ppo_v0.TaskRunner.run: no longer reads main_ppo_v0's globals (task_runner.py rebinds " \
        "main_ppo_v0.RayPPOTrainer to swap in the POLARIS trainer)"
    assert "RayPPOTrainer" in run.__code__.co_names, \
        "surface main_ppo_v0.TaskRunner.run: no longer builds the trainer through the module-level name " \
        "RayPPOTrainer"
    assert issubclass(v0.TaskRunner.__ray_actor_class__, v0.BaseTaskRunner), \
        "surface main_ppo_v0.BaseTaskRunner: TaskRunner no longer derives from it"


def test_get_gen_batch_and_the_rollout_calls_the_trainer_makes():
    params = list(inspect.signature(RayPPOTrainer._get_gen_batch).parameters)
    assert params == ["self", "batch"], f"surface RayPPOTrainer._get_gen_batch(batch) changed: {params}"
    assert _self_calls(_src_ast(RayPPOTrainer.fit), "_get_gen_batch"), \
        "surface RayPPOTrainer.fit -> _get_gen_batch: fit no longer uses it"
    init = inspect.getsource(RayPPOTrainer.init_workers)
    for attr in ("self.actor_rollout_wg", "self.async_rollout_manager", "self.checkpoint_manager"):
        assert attr in init, f"surface RayPPOTrainer.init_workers no longer sets {attr} (trainer.py uses it)"
    for name in ("_save_checkpoint", "_load_checkpoint", "init_workers", "fit"):
        assert callable(getattr(RayPPOTrainer, name, None)), f"surface RayPPOTrainer.{name} is gone"
    assert callable(getattr(rt, "compute_response_mask", None)), \
        "surface verl.trainer.ppo.ray_trainer.compute_response_mask is gone (trainer.py imports it)"
    from verl.single_controller.ray.base import RayWorkerGroup

    assert isinstance(inspect.getattr_static(RayWorkerGroup, "workers"), property), \
        "surface RayWorkerGroup.workers (the actor handles whose Ray node the trainer logs) is gone"


def test_dataproto_batch_edits_in_place():
    from verl.protocol import DataProto as ProtoDataProto

    assert DataProto is ProtoDataProto, "surface verl.DataProto is no longer verl.protocol.DataProto"
    d = DataProto.from_dict(tensors={"x": torch.zeros(3, 2)}, non_tensors={"y": np.array([1, 2, 3], dtype=object)})
    d.batch["x"][1] = torch.tensor([5.0, 6.0])          # row copy (substitution)
    d.batch["z"] = torch.ones(3)                         # new key (rm_scores, response_mask)
    assert d.batch["x"][1].tolist() == [5.0, 6.0] and "z" in d.batch.keys(), \
        "surface DataProto.batch: in-place row/key edits no longer stick"
    assert len(d) == 3 and d.non_tensor_batch["y"].tolist() == [1, 2, 3]
    r = d.repeat(repeat_times=2, interleave=True)
    assert len(r) == 6, "surface DataProto.repeat(interleave=True) changed"
    for name in ("from_single_dict", "union", "reorder", "pop", "meta_info"):
        assert hasattr(d, name) or hasattr(DataProto, name), f"surface DataProto.{name} is gone"


def test_legacy_trainer_deprecation_state():
    """0.9.1: RayPPOTrainer carries @deprecated (a FutureWarning on construction, 'removed in v0.9.0')
    yet ships; if that changes (removed, or un-deprecated as on verl's development branch), this
    fails so the README's note on the legacy trainer is revisited."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            RayPPOTrainer.__init__(RayPPOTrainer.__new__(RayPPOTrainer), config=None)
        except Exception:
            pass
    msgs = [str(x.message) for x in w if issubclass(x.category, FutureWarning)]
    assert any("RayPPOTrainer" in m and "deprecated" in m for m in msgs), \
        f"surface RayPPOTrainer deprecation: the 0.9.1 FutureWarning is gone ({msgs}); verl changed the " \
        "legacy trainer's status: check trainer.use_v1 and the README's note on the legacy loop"
    from verl.trainer.main_ppo import run_ppo

    assert "task_runner_class" in inspect.signature(run_ppo).parameters, \
        "surface verl.trainer.main_ppo.run_ppo(config, task_runner_class) changed"
