r"""``grading.checker: deepscaler``: DeepScaleR's rule-based reward (reference §4), rule by rule,
its near misses, its time bound, and its selection through the verl reward function."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from polaris_repro.grading.deepscaler import (
    aggressive_normalize, deepscaler_correct, deepscaler_grade, deepscaler_truths, math_normalize,
)
from polaris_repro.reward import compute_score, reward_kwargs

T = "<think>some work</think> The answer is "


def ok(answer: str, truth, prefix: str = T) -> bool:
    return deepscaler_correct(prefix + "\\boxed{" + answer + "}", truth)


# ---------------------------------------------------------------- rules 1 and 2: </think>, boxes

def test_no_think_scores_zero_even_with_a_correct_box():
    assert not deepscaler_correct("The answer is \\boxed{25}", "25")
    r = deepscaler_grade("<think>unfinished \\boxed{25}", "25")
    assert not r.correct and not r.has_think and r.pred is None


def test_only_the_text_between_the_first_and_second_think_is_searched():
    assert deepscaler_correct("<think>a</think> \\boxed{7}", "7")
    # a box inside the thinking does not count
    assert not deepscaler_correct("<think>\\boxed{7}</think> so seven", "7")
    # text after a second </think> is ignored: its box neither rescues nor spoils the answer
    assert not deepscaler_correct("<think>a</think> no box here </think> \\boxed{7}", "7")
    assert deepscaler_correct("<think>a</think> \\boxed{7} </think> \\boxed{8}", "7")


def test_no_box_scores_zero():
    r = deepscaler_grade("<think>a</think> the answer is 7", "7")
    assert not r.correct and r.has_think and not r.has_box
    # an unclosed (truncated) last box is no answer either
    assert not deepscaler_correct("<think>a</think> \\boxed{7", "7")


def test_last_box_wins_and_braces_are_matched():
    assert deepscaler_correct(T + "\\boxed{3} then, correcting, \\boxed{4}", "4")
    assert not deepscaler_correct(T + "\\boxed{3} then, correcting, \\boxed{4}", "3")
    r = deepscaler_grade(T + "\\boxed{\\frac{\\sqrt{3}}{2}}.", "\\frac{\\sqrt3}{2}")
    assert r.correct and r.pred == "\\frac{\\sqrt{3}}{2}"


def test_fbox():
    # the last \boxed or \fbox is the answer ...
    assert deepscaler_correct(T + "\\boxed{3}, or rather \\fbox{5}", "5")
    # ... but the text must contain \boxed (rule 2): an \fbox alone scores 0
    assert not deepscaler_correct(T + "\\fbox{5}", "5")


# ---------------------------------------------------------------- rule 3: ground truths

def test_ground_truth_list_float_and_boxed():
    assert ok("4", ["3", "4"]) and ok("4", np.array(["3", "4"], dtype=object))
    assert not ok("5", ["3", "4"])
    assert deepscaler_truths(142.0) == ["142.0"]          # a float is cast to a string ...
    assert ok("142", 142.0) and ok("2.5", 2.5)             # ... and matches the integer 142 by rule 4b
    assert ok("7", 7) and not ok("8", 7)
    assert deepscaler_truths("so \\boxed{12}") == ["12"]
    assert ok("12", "The solution gives \\boxed{12}.")


# ---------------------------------------------------------------- rule 4a: MATH normalisation

def test_math_normalisation_forms():
    assert ok("\\frac12", "\\frac{1}{2}") and ok("\\dfrac{1}{2}", "\\frac{1}{2}")
    assert ok("\\tfrac{1}{2}", "\\frac12")
    assert ok("1/2", "\\frac{1}{2}") and ok("0.5", "\\frac{1}{2}")
    assert ok("\\text{(B)}", "(B)")
    assert ok("5\\text{ cm}", "5")                          # unit in \text{ ...}
    assert ok("30^\\circ", "30") and ok("30^{\\circ}", "30")
    assert ok("\\$5", "5") and ok("10\\%", "10")
    assert ok("\\left( 1, 2 \\right)", "(1,2)")
    assert ok("k = 5", "5") and ok("x=3", "3")
    assert math_normalize("\\sqrt3") == math_normalize("\\sqrt{3}")


def test_long_left_side_is_not_dropped():
    # only a short (<= 2 characters) left side is a "k =" prefix
    assert not ok("abc = 5", "5")


# ---------------------------------------------------------------- rule 4b: aggressive normalisation

def test_integral_numbers_become_integers():
    assert ok("025", "25") and ok("142.0", "142") and ok("142", "142.00")
    assert aggressive_normalize("025") == "25"
    assert ok("1,000", "1000") and ok("5 cm", "5") and ok("90 degrees", "90")


def test_tuples_and_intervals_element_by_element():
    assert ok("(025, 1.0)", "(25,1)")
    assert ok("[\\frac{1}{2}, 3)", "[1/2,3)")
    assert ok("(\\sqrt{2}/2, 1)", "(\\frac{1}{\\sqrt2}, 1)")


def test_symbolic_equality():
    assert ok("\\frac{\\sqrt3}{2}", "\\sqrt{3}/2")
    assert ok("x^2+2x+1", "(x+1)^2") and ok("\\pi/2", "\\frac{\\pi}{2}")
    assert ok("0.50", "0.5")


def test_near_misses_are_rejected():
    # a rounded decimal is not the fraction: 1/3 is a fraction, so (b) demands an exact match
    assert not ok("0.33", "1/3") and not ok("0.3333", "\\frac{1}{3}")
    # tuples are ordered, element by element
    assert not ok("(2,1)", "(1,2)")
    # intervals must have the same brackets: [1,2) and (1,2) are different sets
    assert not ok("[1,2)", "(1,2)") and not ok("(1,2]", "(1,2)")
    # a tuple is not a bare list, nor a tuple of another length
    assert not ok("1,2", "(1,2)") and not ok("(1,2,3)", "(1,2)")
    # fractions and integers: exact string match, no symbolic check (unreduced, or a root of 4)
    assert not ok("2/4", "1/2") and not ok("\\sqrt{4}", "2") and not ok("4/2", "2")
    # more than 2 unknown letters: the symbolic check is skipped, so a reordering fails
    assert not ok("a+b+c", "c+b+a")
    assert ok("a+b", "b+a")
    # dangerous exponents skip the symbolic check: 2^{10} is not accepted for 1024 (an integer
    # needs an exact match anyway), nor for 2^{5}\cdot 2^{5}
    assert not ok("2^{10}", "1024") and not ok("2^{10}", "2^{5}\\cdot 2^{5}")
    assert not ok("1000001", "1000000") and not ok("x+1", "x+2")


# ---------------------------------------------------------------- time bound

@pytest.mark.parametrize("hostile, truth", [
    ("\\boxed{9^{9^{9^{9}}}}", "\\sqrt{2}"),
    ("\\boxed{(9^9)^(9^9)}", "\\sqrt{2}+x"),
    ("\\boxed{100000!}", "\\sqrt{2}"),
    ("\\boxed{" + "1+" * 50_000 + "1}", "2"),
    ("x" * 100_000 + "\\boxed{" + "{" * 20_000 + "}" * 20_000 + "}", "\\sqrt{2}"),
    ("\\boxed{" + "\\text{" * 20_000 + "}" * 20_000 + "}", "5"),
    ("\\boxed{" + "^{" * 900 + "}" * 900 + "}", "\\pi"),
])
def test_hostile_answers_return_within_the_bound(hostile, truth):
    t = time.perf_counter()
    r = deepscaler_grade(T + hostile, truth, timeout_s=1.0)
    assert not r.correct
    assert time.perf_counter() - t < 3.0


# ---------------------------------------------------------------- the verl reward function

def test_compute_score_honours_the_checker():
    # the default (polaris) accepts forms that DeepScaleR's rules reject, and vice versa none here
    resp = "<think>w</think> \\boxed{2^{10}}"
    assert compute_score("", resp, "1024")["score"] == 1.0
    assert compute_score("", resp, "1024", checker="polaris")["score"] == 1.0
    r = compute_score("", resp, "1024", checker="deepscaler")
    assert r == {"score": 0.0, "acc": False, "pred": "2^{10}", "has_think": True}
    assert compute_score("", "<think>w</think> \\boxed{(2, 1)}", "(1,2)")["score"] == 0.0
    good = compute_score("", "<think>w</think> \\boxed{025}", "25", checker="deepscaler")
    assert good == {"score": 1.0, "acc": True, "pred": "025", "has_think": True}
    assert compute_score("", "\\boxed{25}", "25", checker="deepscaler")["score"] == 0.0
    with pytest.raises(ValueError, match="checker"):
        compute_score("", resp, "1024", checker="nope")
    with pytest.raises(ValueError, match="deepscaler"):
        compute_score("", resp, "1024", checker="deepscaler", require_think=False)
    with pytest.raises(ValueError, match="deepscaler"):
        compute_score("", resp, "1024", checker="deepscaler", mode="boxed_or_last_number")


def test_deepscaler_in_threads_is_correct_and_bounded():
    cases = [("<think></think>\\boxed{25}", "025", 1.0), ("<think></think>\\boxed{9^{9^{9^{9}}}}", "25", 0.0),
             ("<think></think>\\boxed{\\frac{\\sqrt3}{2}}", "\\sqrt{3}/2", 1.0),
             ("<think></think>\\boxed{(1,2]}", "(1,2]", 1.0)] * 8
    t = time.perf_counter()
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda c: compute_score("", c[0], c[1], checker="deepscaler")["score"], cases))
    assert got == [c[2] for c in cases]
    assert time.perf_counter() - t < 10


def test_config_selects_the_checker():
    from polaris_repro.config import ConfigError, load_config
    from polaris_repro.training import verl_config as vc

    assert load_config("tiny")["grading"]["checker"] == "polaris"
    assert "checker" not in reward_kwargs(load_config("tiny"))
    cfg = load_config("tiny", ["grading.checker=deepscaler"])
    kw = reward_kwargs(cfg)
    assert kw["checker"] == "deepscaler"
    assert compute_score("", "<think></think>\\boxed{2^{10}}", "1024", **kw)["score"] == 0.0
    ov = vc.stage_overrides(cfg, 0, train_files="/d/t.parquet", val_files="/d/v.parquet",
                            model_path="/m", output_dir="/o")
    assert "+reward.custom_reward_function.reward_kwargs.checker=deepscaler" in ov
    with pytest.raises(ConfigError, match="grading.checker.*polaris or deepscaler"):
        load_config("tiny", ["grading.checker=sympy"])
    with pytest.raises(ConfigError, match="deepscaler"):
        load_config("smoke", ["grading.checker=deepscaler"])    # smoke: require_think false
