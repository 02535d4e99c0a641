"""The POLARIS report's own numbers, as reported by the authors (not measured by this package).

Sources (see ``shared/reference/polaris-recipe.md``): the results table (§11.1, blog + README),
the response-length buckets of Figures 10-11 (§8, blog text) and the inference-time scaling curves
of Figure 12 (§8; values read off the figure, ±2-3 % of the axis range, except the labelled 96K
points). The evaluation protocol the report used (§10.1) is :data:`REPORTED_PROTOCOL`.

Everything here is labelled ``source = "reported by the authors"`` wherever it is shown next to
our own measurements.
"""
from __future__ import annotations

import pandas as pd

SOURCE = "reported by the authors"

# Benchmarks in the order of the report's table, with their sample counts (avg@n).
BENCHMARK_ORDER = ("aime24", "aime25", "minerva", "olympiad", "amc23")
BENCHMARK_TITLES = {"aime24": "AIME24", "aime25": "AIME25", "minerva": "Minerva",
                    "olympiad": "OlympiadBench", "amc23": "AMC23", "synthetic": "Synthetic"}

# §10.1: the generation protocol of the report's evaluation
REPORTED_PROTOCOL = {
    "temperature": 1.4,
    "top_p": 1.0,
    "top_k": 20,
    "max_new_tokens": 90_000,
    "yarn": {"enabled": True, "factor": 1.5, "attn_factor": 1.0},
    "thinking": True,
    "benchmarks": {"aime24": 32, "aime25": 32, "amc23": 8, "minerva": 4, "olympiad": 4},
    "prompt_suffix": "Let's think step by step and output the final answer within \\boxed{}.",
    "grading": {"answer_extraction": "boxed", "require_think": False},
}

# §11.1: avg@n in percent; columns in BENCHMARK_ORDER
_TABLE = [
    ("DeepSeek-R1-Distill-Qwen-7B", 55.0, 39.7, 36.7, 56.8, 81.9),
    ("AReaL-boba-RL-7B", 61.9, 48.3, 39.5, 61.9, 86.4),
    ("Skywork-OR1-7B-Math", 69.8, 52.3, 40.8, 63.2, 85.3),
    ("POLARIS-7B-Preview", 72.6, 52.6, 40.2, 65.4, 89.0),
    ("DeepSeek-R1-Distill-Qwen-32B", 72.6, 54.9, 42.1, 59.4, 84.3),
    ("Qwen3-32B", 81.4, 72.9, 44.2, 66.7, 92.4),
    ("Qwen3-4B", 73.8, 65.6, 43.6, 62.2, 87.2),
    ("POLARIS-4B-Preview", 81.2, 79.4, 44.0, 69.1, 94.8),
    ("DeepScaleR-1.5B", 43.1, 27.2, 34.6, 40.7, 50.6),
    ("Qwen3-1.7B", 48.3, 36.8, 34.9, 55.1, 75.6),
    ("POLARIS-1.7B-Preview", 66.9, 53.0, 38.9, 63.8, 85.8),
]
MAIN_TABLE: dict[str, dict[str, float]] = {
    row[0]: dict(zip(BENCHMARK_ORDER, row[1:])) for row in _TABLE}

# Hugging Face hub ids of the report's rows that can be re-evaluated with the same harness
HUB_IDS = {
    "Qwen/Qwen3-4B": "Qwen3-4B",
    "Qwen/Qwen3-1.7B": "Qwen3-1.7B",
    "Qwen/Qwen3-32B": "Qwen3-32B",
    "POLARIS-Project/Polaris-4B-Preview": "POLARIS-4B-Preview",
    "POLARIS-Project/Polaris-7B-Preview": "POLARIS-7B-Preview",
    "POLARIS-Project/Polaris-1.7B-Preview": "POLARIS-1.7B-Preview",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": "DeepSeek-R1-Distill-Qwen-7B",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B": "DeepSeek-R1-Distill-Qwen-32B",
    "agentica-org/DeepScaleR-1.5B-Preview": "DeepScaleR-1.5B",
}

# Which report row our base and trained models correspond to, per paper tier
TIER_ROWS = {
    "paper-4b": {"base": "Qwen3-4B", "trained": "POLARIS-4B-Preview"},
    "paper-7b": {"base": "DeepSeek-R1-Distill-Qwen-7B", "trained": "POLARIS-7B-Preview"},
    "paper-1.7b": {"base": "Qwen3-1.7B", "trained": "POLARIS-1.7B-Preview"},
}

# §8, Figures 10-11: accuracy (%) of POLARIS-4B's AIME24+25 responses (60 problems x 32) by length
LENGTH_BUCKET_EDGES = (16_384, 32_768)      # "< 16K", "16-32K", "> 32K"
LENGTH_BUCKETS = {
    "without YaRN": {"<16K": 100.0, "16-32K": 93.1, ">32K": 26.0},   # Figure 10
    "with YaRN": {"<16K": 100.0, "16-32K": 95.7, ">32K": 51.6},      # Figure 11
}

# §8, Figure 12: mean@32 (%) against the maximum context; 96K values labelled in the plot,
# the others read off the figure (approximate)
BUDGETS = (32_768, 49_152, 65_536, 81_920, 98_304)     # 32K 48K 64K 80K 96K
BUDGET_CURVES = {
    ("aime24", "with YaRN"): (69.0, 78.0, 79.4, 80.9, 81.2),
    ("aime24", "without YaRN"): (70.8, 77.4, 78.2, 78.6, 78.7),
    ("aime25", "with YaRN"): (63.9, 74.9, 77.4, 78.8, 79.4),
    ("aime25", "without YaRN"): (64.6, 72.8, 76.1, 76.6, 76.8),
}
TRAINING_LENGTH = 52_224     # the vertical line of Figure 12 (stage-3 response length, "52K")


def main_table() -> pd.DataFrame:
    """§11.1 as a DataFrame: one row per model, columns in the report's order (percent)."""
    df = pd.DataFrame.from_dict(MAIN_TABLE, orient="index")[list(BENCHMARK_ORDER)]
    df.index.name = "model"
    return df


def reported(row: str | None, benchmark: str) -> float | None:
    """The report's avg@n (percent) for a row and benchmark, or None."""
    if row is None:
        return None
    return MAIN_TABLE.get(row, {}).get(benchmark)


def row_for(model: str | None) -> str | None:
    """The report's row for a hub id or a row name (case-insensitive), else None."""
    if not model:
        return None
    m = str(model)
    if m in HUB_IDS:
        return HUB_IDS[m]
    low = {k.lower(): v for k, v in HUB_IDS.items()}
    if m.lower() in low:
        return low[m.lower()]
    names = {k.lower(): k for k in MAIN_TABLE}
    return names.get(m.lower()) or names.get(m.rsplit("/", 1)[-1].lower())


def length_buckets() -> pd.DataFrame:
    """Figures 10-11 as a long DataFrame (setting, bucket, accuracy %)."""
    rows = [{"setting": s, "bucket": b, "accuracy": v, "source": SOURCE}
            for s, d in LENGTH_BUCKETS.items() for b, v in d.items()]
    return pd.DataFrame(rows)


def budget_curves() -> pd.DataFrame:
    """Figure 12 as a long DataFrame (benchmark, setting, budget, accuracy %)."""
    rows = [{"benchmark": b, "setting": s, "budget": bud, "accuracy": v, "source": SOURCE}
            for (b, s), vals in BUDGET_CURVES.items() for bud, v in zip(BUDGETS, vals)]
    return pd.DataFrame(rows)
