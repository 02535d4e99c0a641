"""Diversity-based rollout temperature (reference polaris-recipe.md §6).

POLARIS picks the stage-1 rollout temperature from a sweep of accuracy and diversity against
temperature, and before each later stage raises it until the new checkpoint's rollouts are as
diverse as the previous stage's were. This package holds the sweep, the three-zone labelling, both
choice rules, the report's own curves, and :func:`search_for_stage` (what the training section
calls between stages).

A *curve* is a DataFrame (or a mapping of columns) with one row per temperature and at least the
columns ``temperature``, ``accuracy`` (avg@n in [0, 1]) and ``diversity`` (distinct-4 in [0, 1]).

The rules (thresholds are *relative* to the peak accuracy, so they mean the same for a model at
74 % and one at 20 %):

* ``drop(T) = (peak - accuracy(T)) / peak`` where ``peak`` is the highest accuracy on the curve.
* **A drop counts only when the sweep shows it.** A sweep records each problem's correct count at
  every temperature (``correct``). The rule resamples the problems with replacement
  (``temperature_search.bootstrap`` times; the same resample at every temperature, so the
  comparison is paired: a hard problem is hard at every T) and takes, per temperature, the
  one-sided lower bound of ``drop(T)`` at ``confidence`` (0.75): the drop the data support with
  75 % confidence. That bound, not the point estimate, is compared with the thresholds. A curve
  without per-problem results (the report's, read off figures) has no uncertainty: the bound is the
  point drop. Small sweeps (the CPU tiers') thus get wide robust bands from the same rule and the
  same thresholds; no tier sets its own.
* **Zones** (:func:`zones`). *Performance Collapse* from the first temperature above the peak
  whose bound exceeds ``collapse_drop``; *Robust Generation* from the peak up to the highest
  temperature below that whose bound is within ``plateau_drop`` (a dip inside the band is
  noise; Qwen3-4B's Figure 4 dips 1.35 % at 1.2 and is back at 0.27 % at 1.4); *Controlled
  Exploration* in between. Below the peak the band extends down while the bound is within
  ``collapse_drop``; lower temperatures are *Low Temperature* (too greedy; the report leaves them
  unlabelled, e.g. T = 0.1 in its Figure 4).
* **Stage-1 choice** (:func:`choose_initial`): the start of the Controlled Exploration zone, i.e. the
  top of the Robust Generation band: among the robust temperatures at or above the peak, the one
  with the highest diversity (ties: the higher T). On a curve whose diversity rises with T (every
  curve in the report) this is the highest T whose accuracy has not demonstrably fallen. Chosen
  among the measured temperatures (the grid sets the resolution).
* **How firm the choice is** (:func:`choice_distribution`): the whole rule re-run on
  ``DEFAULT_RESAMPLES`` resamples of the problems; the share of resamples choosing each
  temperature goes to choice.json. When no temperature wins more than half, the sweep is too
  small to decide (the notebook says so).
* **Later stages** (:func:`choose_matching`): the first temperature, scanning upward and
  interpolating diversity linearly between measured points, at which diversity reaches the target
  (the diversity the previous stage trained at), rounded to the nearest multiple of ``step`` (0.05)
  inside the measured range. If the curve never reaches the target the highest measured T is
  returned; if it starts above it, the lowest (``match_diversity`` reports which).

Thresholds (``plateau_drop`` 0.01, ``collapse_drop`` 0.2, ``confidence`` 0.75 in base.yaml):

* On the report's curves (no noise): Qwen3-4B, Figure 5: peak 74.2 at T = 0.8; 1.4 is 0.27 % below
  the peak, 1.45 1.35 %, 1.5 5.4 %. Any ``plateau_drop`` in (0.0027, 0.0135) picks exactly 1.4, the
  authors' choice; up to 0.054 it picks 1.45 (the figure's own bracket). R1-Distill-7B, Figure 8
  (before RL): peak 56 at T = 0.7, 0.8 is 5.4 % below: 0.7 for any ``plateau_drop`` < 0.054.
* ``collapse_drop`` = 0.2 puts Qwen3-4B's 1.45-1.55 (<= 8.6 % below) in Controlled Exploration and
  1.6 (32.6 % below) in Performance Collapse, as the figure's brackets do, and R1-Distill-7B's
  0.8-1.0 (<= 16 % below) in Controlled Exploration and 0.4-0.7 in Robust Generation, as Figure 7's
  "before" brackets (RGZ 0.4-0.7, CEZ 0.7-1.0) do.
* With noise (:func:`simulate_sweeps`: 30 problems, per-problem logit offsets with spread 3.0,
  binomial samples; 1,000 sweeps; tests/test_temperature.py): at the released search script's 16
  samples per problem the rule picks 1.4 or 1.45 on Figure 5 in 79-82 % of sweeps (over simulation
  seeds; the fixed 1 % rule without the bound: ~58 %), and within 0.05 of 0.7 on Figure 8 read onto
  the paper-7b tier's grid (0.6, 0.65, 0.7, 0.75, 0.8: refined around the peak as Figure 5 refines
  4B's around 1.4) in 80-85 %. On Figure 8's own 0.1-step grid the 7B call is 0.7 vs 0.8, which lies
  3 points lower, 1.4 standard errors of a paired difference at 30 x 16: ~70 %, whatever the
  confidence level (0.6-0.8 tried). At 32 samples (the report's mean@32 curves; the paper tiers'
  ``temperature_search.n``): 86-88 % and 89-92 %. ``confidence`` 0.75 balances the two curves (0.8:
  7B falls below 80 %; 0.65: 4B does).
* Later stages, Figure 8: target 0.59 (the "before" diversity at 0.7) on the after-400 curve crosses
  at 0.89 -> 0.9 (the authors trained at 1.0, where diversity read 0.64: they moved in a coarser step,
  which the blog says they did when diversity fell a lot); target 0.64 (after-400 at 1.0) on the
  after-800 curve crosses at 1.125 -> 1.1 (the authors' 1.1).

The report's own readings are not perfectly consistent (§6.2, §14 item 5).

The package, one concern a module (every public name is re-exported here, so
``from polaris_repro.temperature import X`` and ``temperature.X`` work as before):

* :mod:`.reported` -- the report's curves read off its figures, and the authors' choices;
* :mod:`.rule` -- the zones, both choice rules and their paired bootstrap (:class:`Rule`: the
  thresholds, confidence and resampling settings in one value);
* :mod:`.simulation` -- simulated sweeps of a known curve: how reliable the rule is at a size;
* :mod:`.search` -- the sweep (sampling, grading, its resumable cache) and :func:`search_for_stage`.
"""
from __future__ import annotations

from .reported import (FIG3_DIVERSITY, FIG4_ACCURACY, FIG5_ACCURACY, FIG5_GRID, FIG8, FIG8_GRID, FIG34_GRID,
                       REPORTED_CHOICES, SOURCE, reported_curve, reported_curve_names)
from .rule import (COLLAPSE, DEFAULT_BOOTSTRAP, DEFAULT_COLLAPSE_DROP, DEFAULT_CONFIDENCE, DEFAULT_PLATEAU_DROP,
                   DEFAULT_RESAMPLES, EXPLORE, LOW, MAJORITY, ROBUST, ZONES, Rule, accuracy_intervals, annotate,
                   as_curve, bootstrap_weights, choice_distribution, choose, choose_initial, choose_many,
                   choose_matching, interpolate, match_diversity, per_problem_rates, relative_drop,
                   uncertainty_note, zones)
from .search import (CHOICE_FILE, load_problems, problems_key, rule_settings, score_groups, search_for_stage,
                     settings_tag, sweep)
from .simulation import DEFAULT_SPREAD, simulate_sweeps, simulated_pick_rates

__all__ = ["CHOICE_FILE", "COLLAPSE", "DEFAULT_BOOTSTRAP", "DEFAULT_COLLAPSE_DROP", "DEFAULT_CONFIDENCE",
           "DEFAULT_PLATEAU_DROP", "DEFAULT_RESAMPLES", "DEFAULT_SPREAD", "EXPLORE", "FIG34_GRID", "FIG3_DIVERSITY",
           "FIG4_ACCURACY", "FIG5_ACCURACY", "FIG5_GRID", "FIG8", "FIG8_GRID", "LOW", "MAJORITY", "REPORTED_CHOICES",
           "ROBUST", "SOURCE", "ZONES", "Rule", "accuracy_intervals", "annotate", "as_curve", "bootstrap_weights",
           "choice_distribution", "choose", "choose_initial", "choose_many", "choose_matching", "interpolate",
           "load_problems", "match_diversity", "per_problem_rates", "problems_key", "relative_drop",
           "reported_curve", "reported_curve_names", "rule_settings", "score_groups", "search_for_stage",
           "settings_tag", "simulate_sweeps", "simulated_pick_rates", "sweep", "uncertainty_note", "zones"]
