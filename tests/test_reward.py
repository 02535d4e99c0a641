"""The verl reward function: POLARIS's training rule, verl's calling conventions, threads."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from polaris_repro.reward import compute_score, reward_kwargs

REWARD_FILE = Path(__file__).resolve().parent.parent / "polaris_repro" / "reward.py"


def test_training_rule_requires_think_by_default():
    ok = compute_score("test-math-aime24", "<think>work</think> so \\boxed{025}", "25")
    assert ok == {"score": 1.0, "acc": True, "pred": "025", "has_think": True}
    no_think = compute_score("test-math-aime24", "so \\boxed{25}", "25")
    assert no_think["score"] == 0.0 and no_think["acc"] is False and no_think["has_think"] is False
    # the box must come after </think>
    inside = compute_score("", "<think>\\boxed{25}</think> done", "25")
    assert inside["score"] == 0.0 and inside["has_think"] is True and inside["pred"] == ""
    wrong = compute_score("", "<think>x</think> \\boxed{24}", "25")
    assert wrong["score"] == 0.0 and wrong["pred"] == "24"


def test_reward_kwargs_and_ground_truth_types():
    assert compute_score("", "\\boxed{142}", 142.0, require_think=False)["score"] == 1.0
    gt = np.array(["0.01\n", "0.02\n"], dtype=object)
    assert compute_score("", "\\boxed{0.02}", gt, require_think=False)["score"] == 1.0
    assert compute_score("", "it is 7", "7", require_think=False)["score"] == 0.0
    assert compute_score("", "it is 7", "7", require_think=False, mode="boxed_or_last_number")["score"] == 1.0
    assert compute_score("", "it is 7", "7", require_think=False,
                         answer_extraction="boxed_or_last_number")["score"] == 1.0
    # extra keyword arguments verl may pass are ignored
    assert compute_score("", "<think></think>\\boxed{7}", "7", extra_info={"index": 3},
                         reward_router_address=None, reward_model_tokenizer=None)["score"] == 1.0
    with pytest.raises(ValueError, match="mode"):
        compute_score("", "\\boxed{7}", "7", mode="nope")
    with pytest.raises(ValueError, match="conflicting"):
        compute_score("", "\\boxed{7}", "7", mode="boxed", answer_extraction="boxed_or_last_number")
    long = compute_score("", "<think></think>\\boxed{" + "1" * 5000 + "}", "7")
    assert long["score"] == 0.0 and len(long["pred"]) < 300


def test_reward_kwargs_from_config():
    from polaris_repro.config import load_config

    kw = reward_kwargs(load_config("tiny"))
    # tiny.yaml: answer_extraction boxed, require_think true; base.yaml: timeout_s 2.0
    assert kw == {"require_think": True, "mode": "boxed", "timeout_s": 2.0}
    other = reward_kwargs(load_config("tiny", ["grading.require_think=false", "grading.timeout_s=0.5",
                                               "grading.answer_extraction=boxed_or_last_number"]))
    assert other == {"require_think": False, "mode": "boxed_or_last_number", "timeout_s": 0.5}
    r = compute_score("", "<think></think> \\boxed{3}", "3", **kw)
    assert r["score"] == 1.0


def test_loads_by_path_like_verl():
    """verl imports custom_reward_function.path as a standalone file (no package context)."""
    from verl.utils.import_utils import load_extern_object

    fn = load_extern_object(module_path=str(REWARD_FILE), object_name="compute_score")
    assert fn(data_source="x", solution_str="<think></think>\\boxed{\\frac12}", ground_truth="0.5",
              extra_info=None)["score"] == 1.0


def test_threaded_calls_are_correct_and_bounded():
    """verl runs reward functions in executor threads: no signals, bounded, thread-safe."""
    cases = [("<think></think>\\boxed{25}", "025", 1.0), ("<think></think>\\boxed{9^{9^{9^{9}}}}", "25", 0.0),
             ("<think></think>\\boxed{\\frac{\\sqrt3}{2}}", "\\sqrt{3}/2", 1.0),
             ("<think></think>\\boxed{100000!}", "25", 0.0), ("<think></think>\\boxed{(1,2]}", "(1,2]", 1.0),
             ("<think></think>\\boxed{" + "{" * 4000 + "1" + "}" * 4000 + "}", "1", 0.0)] * 8
    t = time.perf_counter()
    with ThreadPoolExecutor(8) as ex:
        got = list(ex.map(lambda c: compute_score("", c[0], c[1], timeout_s=2.0)["score"], cases))
    assert got == [c[2] for c in cases]
    assert time.perf_counter() - t < 10
