"""Claims: every number the README shows, traced to the artifact it comes from, in two kinds.

``claims.yaml`` (repository root) lists

* ``claims``: each with ``id``, ``label``, ``source`` (``measured`` -- from a run's artifacts -- or
  ``reported`` -- the POLARIS report's own number, shown for comparison), ``section`` (the notebook
  that produces it), ``artifact`` (a JSON or CSV file relative to the run folder), ``json_path``
  (dotted keys, ``[i]`` for list items; a CSV is a list of row records), ``value``, ``tolerance``
  (absolute) and ``fmt``. Measured claims are **exact**: one seed's value on one kind of machine.
  They apply only to a run of the file's ``tier`` with the seed and kernels of the top-level
  ``exact`` block (``seed``, ``numerics`` = :func:`polaris_repro.machine.numerics_key`, ``machine``
  in words): the same seed on other kernels follows another trajectory from the first update on
  (bf16 and fp32 sums differ by CPU), so its values are not expected to match.
* ``bands``: what **any** run of the listed ``tiers`` must show, whatever its seed or machine. Each
  is a value (``artifact`` + ``json_path``) with ``above`` / ``below`` / ``within: [lo, hi]``, or a
  named ``check`` (:data:`CHECKS`: the chosen temperature's zone, the cap-clip share falling, the
  mechanism counts equal to what the accuracy logs call for), and a ``rule`` saying what set it.

A run without a manifest (e.g. a typed-in set of artifacts) is checked against everything.
The README holds the rendered table between ``<!-- claims:begin -->`` and ``<!-- claims:end -->``.

    polaris-repro claims check  --run DIR   # both kinds on DIR; exit 1 on a failed claim that applies
    polaris-repro claims update --run DIR   # write DIR's values into claims.yaml and the README table
    polaris-repro claims render             # re-render the README table from claims.yaml
    polaris-repro claims pool --run A --run B ...   # the gain pooled over seeds, with its interval
    polaris-repro claims seeds --run A ...  # the README's table over seeds + across_seeds targets

The package, one concern a module (every public name is re-exported here):

* :mod:`.spec` -- loading claims.yaml, measuring a claim or band, formatting a value, the run's
  identity and whether the exact claims apply;
* :mod:`.checks` -- the bands' named checks (:data:`CHECKS`);
* :mod:`.checking` -- a run against every claim and band, its problems and verdict;
* :mod:`.render` -- the README's claims and seed blocks, ``update``;
* :mod:`.seeds` -- across seeds: the pooled gain's two-level bootstrap, the seed table, the targets;
* :mod:`.command` -- ``polaris-repro claims`` (:func:`cli`).
"""
from __future__ import annotations

from .checking import Result, check, evaluate, problems_of, readme_problems, verdict
from .checks import (CHECKS, check_cap_clip_falls, check_mechanism_counts, check_temperature_zone,
                     mechanism_count_problems)
from .command import cli
from .render import (BEGIN, END, RESULTS_PAGE, SEEDS_BEGIN, SEEDS_END, claims_block, render_readme, render_table, update,
                     write_seed_block)
from .seeds import pooled_gain, seed_gains, seed_table, seed_table_markdown, seed_targets
from .spec import (BAND_REQUIRED, CHECK_EXPECT, REQUIRED, ClaimsError, band_expected, exact_applies, format_value,
                   get_path, load_claims, measure, run_identity)

__all__ = ["BAND_REQUIRED", "BEGIN", "RESULTS_PAGE", "CHECKS", "CHECK_EXPECT", "END", "REQUIRED", "SEEDS_BEGIN", "SEEDS_END",
           "ClaimsError", "Result", "band_expected", "check", "check_cap_clip_falls", "check_mechanism_counts",
           "check_temperature_zone", "claims_block", "cli", "evaluate", "exact_applies", "format_value",
           "get_path", "load_claims", "measure", "mechanism_count_problems", "pooled_gain", "problems_of",
           "readme_problems", "render_readme", "render_table", "run_identity", "seed_gains", "seed_table",
           "seed_table_markdown", "seed_targets", "update", "verdict", "write_seed_block"]
