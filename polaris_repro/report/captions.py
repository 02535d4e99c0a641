"""What each section's part of the report shows, in order (:data:`LAYOUT`): its figures with their
captions (the first found is the key figure), key tables, JSON fields, Markdown blocks and raw
tables. A caption may be computed from the run (a :data:`Caption`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import pandas as pd

from ..sections import STAGE1_TEMPERATURE

if TYPE_CHECKING:
    from .view import RunView

Caption = Callable[["RunView"], str]


@dataclass(frozen=True)
class Layout:
    title: str
    figures: Sequence[tuple[str, str | Caption]]   # (file stem, caption), key figure first
    tables: Sequence[tuple[str, str]] = ()         # (file stem, title): key tables, shown open
    json_fields: Mapping[str, Sequence[str]] = field(default_factory=dict)   # stem.json: the fields shown
    blocks: Sequence[tuple[str, str]] = ()         # (Markdown file, title): rendered to HTML, shown open
    raw: Sequence[tuple[str, str]] = ()            # (file stem, title): per-problem/per-step, collapsed


def _shapes(v: "RunView") -> str:
    df = v.csv("01_difficulty/pair_summary.csv")
    return "; ".join(f"{r['pair']}: {r['shape']}" for r in df.to_dict("records"))


def _filter_caption(v: "RunView") -> str:
    """What filtering did to the stage-1 set, from its counts (filter_effect.csv): how many were
    dropped, the kept set's shape and where it peaks, set beside the report's mirrored J."""
    from ..difficulty import shape_label

    e = v.csv("01_difficulty/filter_effect.csv")
    r = v.csv("01_difficulty/filter_sizes.csv").iloc[0]
    after = pd.to_numeric(e["after"]).to_numpy()
    dropped = int(pd.to_numeric(e["dropped"]).sum())
    shape, peak = shape_label(after), str(e["correct"].iloc[int(after.argmax())])
    what = (f"{dropped} problem(s) dropped by {r['rule']}" if dropped else
            f"no problem met {r['rule']}, so nothing was dropped")
    like = ("like the report's filtered set, a mirrored J" if shape == "mirrored-J" else
            f"the report's filtered set is a mirrored J; ours is {shape}")
    return (f"The stage-1 training set before and after filtering ({int(r['after'])} of {int(r['before'])} kept: "
            f"{what}); the kept set peaks at {peak} ({like}).")


def _chosen_t(v: "RunView") -> str:
    return f"{float(v.output_record(STAGE1_TEMPERATURE)['temperature']):.2f}"


def _stage_t_caption(v: "RunView") -> str:
    df = v.csv("03_training/stage_summary.csv")
    ts = " → ".join(f"{float(t):.2f}" for t in df["temperature"])
    searched = [str(s).startswith("search") for s in df["T source"].iloc[1:]]
    how = ("each later stage repeats the sweep on the model it starts from and matches the previous stage's "
           "distinct-4" if searched and all(searched) else
           "stage 1 from section 2's sweep, later stages from the tier's stage table "
           f"({', '.join(str(s) for s in df['T source'])})")
    return (f"The sweep(s) behind the stages' rollout temperatures ({ts}; {how}); the report raises "
            "POLARIS-4B's temperature from 1.40 to 1.45 to 1.50 by matching diversity the same way.")


def _steps(v: "RunView") -> str:
    df = v.csv("03_training/stage_summary.csv")
    return f"{int(pd.to_numeric(df['steps']).sum())} steps in {len(df)} stage(s)"


LAYOUT: dict[str, Layout] = {
    "01_difficulty": Layout(
        "1. Data difficulty: pass-rate profiles, filtering, drop-easy",
        figures=[
            ("fig1_pass_rate_histograms", lambda v: (
                "How many of k samples each problem gets right for our stronger and weaker (model, data) "
                f"pairs (top; {_shapes(v)}), beside the report's Figure 1 (bottom, hatched), where the "
                "stronger model makes a J and the weaker a mirrored J.")),
            ("filter_effect", _filter_caption),
            ("fig2_ours_before_after",
             "The stage-1 training set profiled by the base model and by the trained model: the report's "
             "Figure 2 shows the same set moving from 0/8 towards 8/8 during training."),
            ("fig2_ours_from_log",
             "Each stage-1 prompt's first and last logged training accuracy, from the accuracy log: our "
             "counterpart of the report's Figure 2."),
            ("fig2_reported",
             "The report's Figure 2 (reported by the authors, read off the figure): the difficulty "
             "distribution sliding from mirrored J to J over training, shown for comparison."),
        ],
        tables=[("pair_summary", "The two (model, data) pairs"),
                ("filter_sizes", "Training set sizes before and after filtering, next to the report's")],
        raw=[("pair_histogram_counts", "Histogram counts of the two pairs"),
             ("train_profile", "Per-problem profile of the training set")]),
    "02_temperature": Layout(
        "2. Diversity-based temperature search",
        figures=[
            ("sweep_curves", lambda v: (
                "Accuracy and distinct-4 of our model over the temperature grid, zones shaded, with the "
                f"chosen T = {_chosen_t(v)}: the report (Figures 3 and 5) takes T = 1.40 for Qwen3-4B at "
                "the same point, where accuracy has only just begun to fall.")),
            ("paper_curves_stage1",
             "Our rule applied to the report's own curves (Figures 3, 5 and 8, read off the figures) picks "
             "the authors' temperatures, 1.4 for Qwen3-4B and 0.7 for R1-Distill-7B: a check of the rule, "
             "not of our model."),
        ],
        json_fields={"choice": ("temperature", "diversity", "accuracy", "rule", "model", "benchmark",
                                "num_problems", "n", "max_new_tokens")},
        tables=[("choice", "The chosen stage-1 temperature"), ("sweep_table", "Our sweep"),
                ("paper_later_stages", "The matching rule on the report's later 7B stages")]),
    "03_training": Layout(
        "3. Stage-wise GRPO training",
        figures=[
            ("training_curves", lambda v: (
                f"Batch reward, response length, clip ratio, informative fraction and entropy over {_steps(v)} "
                "of real verl GRPO (dashed lines: stage switches); the report trains POLARIS-4B for 700 "
                "steps in three stages of growing length.")),
            ("stage_temperatures", _stage_t_caption),
            ("difficulty_histograms",
             "Per stage, each prompt's first and last logged accuracy: our counterpart of the report's "
             "Figure 2 (mass moving from 0/n towards n/n as training goes on)."),
        ],
        tables=[("stage_summary", "The stages"), ("stage_config", "Configuration of each stage (as verl received it)"),
                ("drop_easy", "Drop-easy between stages"), ("accuracy_logs", "The accuracy logs")],
        raw=[("step_metrics", "Per-step metrics")]),
    "04_evaluation": Layout(
        "4. Evaluation and length studies",
        figures=[
            ("results",
             "Avg@n of every evaluated model per benchmark with question-level 95 % intervals; a model "
             "that is a row of the report's table (§11.1, paper tiers) gets the report's number beside it "
             "as a hatched bar, while at the CPU tiers that table (below) is context only: other models, "
             "other problems."),
            ("pass_at_k", "Unbiased pass@k for k = 1..n of every model and benchmark (Chen et al. 2021), "
                          "from the same samples as avg@n."),
            ("length_buckets",
             "Accuracy by response length: the report's Figures 10–11 find POLARIS-4B near-perfect on "
             "short responses and much weaker beyond its pre-training context."),
            ("budget_curve",
             "Accuracy against the token budget (a response longer than the budget counts as wrong): the "
             "report's Figure 12 shows accuracy still rising up to 96K tokens."),
        ],
        blocks=[("results.md", "Results table")],
        tables=[("format_truncation", "Format and truncation")]),
}
