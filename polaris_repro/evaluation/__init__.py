"""Section 4: benchmark evaluation, the results table and the length studies.

The protocol comes from ``cfg.evaluation`` (reference §10): temperature, top-p, top-k, max new
tokens, YaRN, the benchmarks with their sample counts (avg@n), the number of problems, the
length-bucket edges (Figures 10-11) and the token budgets (Figure 12). Every setting is written
next to the results.

Per model, under ``<run_dir>/04_evaluation/<label>/``:

* ``settings.json``            the generation and grading settings (a resumed run must match them)
* ``<benchmark>.parquet``      all responses, one row per problem, in the official POLARIS layout
                               (the benchmark's columns plus a ``responses`` list column) with
                               ``num_tokens``, ``finish_reasons`` and the per-response grades
                               (``correct``, ``pred``, ``has_box``, ``mv_correct``) as list columns
* ``<benchmark>.samples.jsonl`` the sampler's resume journal (interrupted generation continues)
* ``questions.csv``            one row per question: correct count, lengths, truncations, answers
* ``metrics.json``             per benchmark: avg@n with a question-level 95 % interval, unbiased
                               pass@k for k = 1..n, maj@n, truncation and missing-box rates, lengths,
                               and the number of responses on which our grader and math-verify
                               disagree

Across models (``<run_dir>/04_evaluation/``): ``results`` (Markdown, CSV, PNG: ours next to the
report's table with intervals and the paired difference to the base model), ``length_buckets``
and ``budget_curve`` (figures + CSVs, from the same responses: no extra generation).

Files in the official output layout (``responses`` next to the benchmark columns, as written by
verl's ``main_generation``) are read by :func:`read_official` and graded by :func:`grade_file`
through exactly the same code.

Layout: ``protocol`` (settings, models, shared constants) -> ``responses`` (grading responses) ->
``statistics`` (per question, per benchmark, the results table) -> ``official`` (the official
file layout) -> ``generation`` (one model: generate with resume, grade, summarise) -> ``length``
(length studies) -> ``figures`` -> ``tables`` (Markdown, notebook tables, ``summary.json``).
The public names of these modules are importable from ``polaris_repro.evaluation`` directly.
"""

from .protocol import (  # noqa: F401
    SECTION, GENERATION_KEYS, GRADE_COLUMNS, NO_INTERVAL, EvaluationError, protocol,
    protocol_mismatches, ModelSpec, model_label, trained_model, default_models, ModelResult
)
from .responses import answers_of, grade_responses, long_responses  # noqa: F401
from .statistics import question_table, mean_ci, benchmark_metrics, results_table  # noqa: F401
from .official import read_official, grade_file  # noqa: F401
from .generation import (  # noqa: F401
    load_problems, local_model_path, context_extension, select_problems, responses_frame,
    evaluate_model, summarise_model, load_result, evaluate_all
)
from .length import (  # noqa: F401
    token_label, bucket_labels, length_buckets, budget_curve, length_study_pools,
    length_study, yarn_pairs
)
from .figures import (  # noqa: F401
    plot_results, plot_length_buckets, plot_budget_curve, plot_pass_at_k
)
from .tables import (  # noqa: F401
    results_markdown, write_results, pass_at_k_table, disagreements, summary, protocol_frame,
    describe_paired, format_table, example_responses, training_overlap
)

__all__ = [
    'SECTION', 'GENERATION_KEYS', 'GRADE_COLUMNS', 'NO_INTERVAL', 'EvaluationError', 'protocol',
    'protocol_mismatches', 'ModelSpec', 'model_label', 'trained_model', 'default_models',
    'load_problems', 'local_model_path', 'context_extension', 'select_problems', 'responses_frame',
    'grade_responses', 'long_responses', 'question_table', 'mean_ci', 'benchmark_metrics',
    'ModelResult', 'evaluate_model', 'summarise_model', 'load_result', 'read_official',
    'grade_file', 'results_table', 'results_markdown', 'plot_results', 'write_results',
    'token_label', 'bucket_labels', 'length_buckets', 'budget_curve', 'length_study_pools',
    'length_study', 'yarn_pairs', 'plot_length_buckets', 'plot_budget_curve', 'plot_pass_at_k',
    'pass_at_k_table', 'disagreements', 'summary', 'protocol_frame', 'evaluate_all',
    'describe_paired', 'format_table', 'example_responses', 'training_overlap',
]
