"""The report's temperature curves (§6.2, Figures 3, 4, 5 and 8) as read off its figures, and the
temperatures the authors trained each stage at (§6.4)."""
from __future__ import annotations

import numpy as np
import pandas as pd

SOURCE = "reported by the authors (read off the figure)"

# The report's curves (§6.2), in percent as read off the figures; converted to [0, 1] by
# reported_curve(). Figure 3 diversity and Figure 4 accuracy share the grid below.

FIG34_GRID = (0.1, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6)
FIG3_DIVERSITY = {
    "Qwen3-4B": (28, 37.5, 42, 45, 47, 55, 63, 84),
    "Qwen3-32B": (34, 39, 48, 60.5, 72.5, 74.5, 80, 99),
    "R1-Distill-7B": (24.5, 45, 57, 63, 80, 91, 99, 99.5),
    "R1-Distill-1.5B": (26, 45, 65, 75.5, 86, 99, 99, 99),
}
FIG4_ACCURACY = {
    "Qwen3-4B": (57, 74, 73.8, 74.2, 73.9, 73.2, 74, 50),
    "Qwen3-32B": (64, 79.8, 81.2, 81, 82.4, 79.2, 62.7, 10),
    "R1-Distill-7B": (40, 52.9, 55, 51.6, 42, 11.5, 0, 0),
    "R1-Distill-1.5B": (21.6, 30, 28.5, 25.6, 24, 0, 0, 0),
}
# Figure 5: Qwen3-4B on AIME24, mean@32, a finer grid around the chosen temperature
FIG5_GRID = (0.1, 0.6, 0.8, 1.4, 1.45, 1.5, 1.55, 1.6, 1.7)
FIG5_ACCURACY = (70.0, 73.8, 74.2, 74.0, 73.2, 70.2, 67.8, 50.0, 32.7)
# Figure 8: R1-Distill-7B before RL and after 400 / 800 RL steps
FIG8_GRID = (0.4, 0.6, 0.7, 0.8, 1.0, 1.2)
FIG8 = {
    "before": {"accuracy": (52, 55, 56, 53, 47, 11), "diversity": (48, 58, 59, 62, 80, 91)},
    "after 400 steps": {"accuracy": (57, 61, 60, 58, 55, 38), "diversity": (45, 50, 52, 55, 64, 83)},
    "after 800 steps": {"accuracy": (61, 64.5, 66, 63, 62, 54), "diversity": (40, 44, 47, 50, 54, 70)},
}
# The temperatures the authors trained each stage at (§6.4)
REPORTED_CHOICES = {"Qwen3-4B": (1.4, 1.45, 1.5), "R1-Distill-7B": (0.7, 1.0, 1.1),
                    "Qwen3-1.7B": (1.5, 1.55)}


def reported_curve(name: str) -> pd.DataFrame:
    """One of the report's curves as a curve DataFrame (fractions, not percent).

    Names: ``"Qwen3-4B"``, ``"Qwen3-32B"``, ``"R1-Distill-7B"``, ``"R1-Distill-1.5B"`` (Figures 3/4);
    ``"Qwen3-4B fig5"`` (Figure 5 accuracy on its finer grid with Figure 3 diversity interpolated
    linearly, held constant beyond 1.6); ``"R1-Distill-7B fig8 before"``, ``"... after 400 steps"``,
    ``"... after 800 steps"`` (Figure 8).
    """
    if name in FIG4_ACCURACY:
        t, acc, div = FIG34_GRID, FIG4_ACCURACY[name], FIG3_DIVERSITY[name]
        interp = [False] * len(t)
    elif name == "Qwen3-4B fig5":
        t, acc = FIG5_GRID, FIG5_ACCURACY
        div = np.interp(t, FIG34_GRID, FIG3_DIVERSITY["Qwen3-4B"])
        interp = [x not in FIG34_GRID for x in t]
    elif name.startswith("R1-Distill-7B fig8 ") and name[len("R1-Distill-7B fig8 "):] in FIG8:
        row = FIG8[name[len("R1-Distill-7B fig8 "):]]
        t, acc, div = FIG8_GRID, row["accuracy"], row["diversity"]
        interp = [False] * len(t)
    else:
        raise KeyError(f"unknown reported curve {name!r}; expected one of {reported_curve_names()}")
    return pd.DataFrame({"temperature": np.asarray(t, float), "accuracy": np.asarray(acc, float) / 100,
                         "diversity": np.asarray(div, float) / 100, "diversity_interpolated": interp,
                         "source": SOURCE})


def reported_curve_names() -> list[str]:
    return [*FIG4_ACCURACY, "Qwen3-4B fig5", *(f"R1-Distill-7B fig8 {k}" for k in FIG8)]
