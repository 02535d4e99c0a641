"""The run report: one self-contained HTML page (``05_report/report.html``) and a Markdown summary
(``05_report/summary.md``) built from what the sections wrote, never recomputed.

Order (both files): the **headline** (what the run shows: the claims of ``claims.yaml`` measured on
this run with the README's value, the tolerance and pass/fail; the held-out gain with its paired
interval; the stage temperatures; the run's identity), then **one part per section**, led by its key
figure with a one-sentence caption (what it shows, and how it compares with the report's figure),
then its key table(s); further figures follow, raw per-problem / per-step tables sit in collapsed
``<details>`` blocks and the remaining data files are linked. Last, the sections' status and times.

Pages are rendered with jinja2 (``templates/report.html``, ``templates/report_summary.md``); the
Markdown tables the sections wrote (``04_evaluation/results.md``) are converted to HTML with mistune.
Every table is an HTML table with numbers formatted at the claims' precision, every PNG is
embedded (base64), so the HTML file can be mailed on its own.

:func:`check` verifies a written report against its run folder (every figure embedded, the claims
table present, no Markdown table source shown as text); the report notebook asserts it.

The module is longer than 500 lines because it is the report's one renderer: the per-section
captions, the HTML assembly and the Markdown summary read the same run view and share their
formatting helpers.
"""
from __future__ import annotations

import base64
import html.parser
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from .artifacts import REPO_ROOT, Manifest, write_text
from .sections import SECTIONS, STAGE1_TEMPERATURE, output_record

TEMPLATES = Path(__file__).resolve().parent / "templates"
REPORT_SECTION = "05_report"
MAX_INLINE_ROWS = 60          # a table longer than this is shown collapsed, its CSV linked


# =============================================================================================
# What each section shows, in order: the first figure found is the section's key figure

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
    from .difficulty import shape_label

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


# =============================================================================================
# Reading a run


class RunView:
    """Cached reads of a run folder's artifacts (paths relative to the run folder)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._cache: dict[str, Any] = {}

    def csv(self, rel: str) -> pd.DataFrame:
        if rel not in self._cache:
            self._cache[rel] = pd.read_csv(self.run_dir / rel)
        return self._cache[rel]

    def json(self, rel: str) -> Any:
        if rel not in self._cache:
            self._cache[rel] = json.loads((self.run_dir / rel).read_text())
        return self._cache[rel]

    def exists(self, rel: str) -> bool:
        return (self.run_dir / rel).exists()

    def output_record(self, name: str) -> dict | None:
        """A section output's JSON record (:func:`polaris_repro.sections.output_record`)."""
        key = f"output:{name}"
        if key not in self._cache:
            self._cache[key] = output_record(self.run_dir, name)
        return self._cache[key]


def collect(run_dir: str | Path) -> dict[str, dict[str, list[Path]]]:
    """Figures (every PNG, subfolders included), tables (a section's top-level CSV files) and JSON
    results per section 01-04 that has an output folder."""
    run_dir = Path(run_dir)
    out = {}
    for section in SECTIONS:
        d = run_dir / section
        if section == REPORT_SECTION or not d.is_dir():
            continue
        top = sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))
        out[section] = {
            "figures": sorted(p for p in d.rglob("*.png") if not p.name.startswith(".")),
            "tables": [p for p in top if p.suffix == ".csv"],
            "json": [p for p in top if p.suffix == ".json"],
        }
    return out


# =============================================================================================
# Formatting


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


FRACTIONAL = {"rate", "reward", "score", "accuracy", "acc", "share", "frac", "fraction", "diversity", "avg", "mean",
              "ratio", "entropy", "loss", "norm", "difficulty", "se"}


def column_format(name: str, values: pd.Series) -> str:
    """The format of a numeric column, at the precision the claims use: counts as integers,
    temperatures .2f, differences in points +.1f, fractions in [0, 1] .3f, percentages and other
    magnitudes .1f (≥ 1000: no decimals), tiny magnitudes (a learning rate) .3g."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    words = set(re.split(r"[^a-z0-9]+", str(name).lower())) - {""}
    if not len(v):
        return ""
    if words & {"temperature", "t"}:
        return ".2f"
    if words & {"diff", "points", "gain"}:
        return "+.1f"
    if "%" in str(name):
        return ".1f"
    if (v == v.round()).all() and not words & FRACTIONAL:
        return "d"
    mx = float(v.abs().max())
    if 0 < mx < 0.01:
        return ".3g"
    if mx <= 1.0 + 1e-9:
        return ".3f"
    return ".0f" if mx >= 1000 else ".1f"


def format_cell(v: Any, fmt: str) -> str:
    if _is_missing(v):
        return "—"
    if isinstance(v, bool) or not fmt:
        return str(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if fmt == "d":
        return str(int(round(x)))
    return format(x, fmt)


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    csv: str | None = None          # link relative to 05_report/
    total_rows: int | None = None   # rows in the file when fewer are shown
    id: str = ""
    row_classes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # numbered footnotes, shown under the table

    @classmethod
    def from_frame(cls, df: pd.DataFrame, title: str, *, csv: str | None = None,
                   max_rows: int | None = None, id: str = "") -> "Table":
        fmts = {c: column_format(c, df[c]) if pd.api.types.is_numeric_dtype(df[c])
                and not pd.api.types.is_bool_dtype(df[c]) else "" for c in df.columns}
        shown = df if max_rows is None else df.head(max_rows)
        rows = [[format_cell(r[c], fmts[c]) for c in df.columns] for _, r in shown.iterrows()]
        return cls(title, [str(c) for c in df.columns], rows, [bool(fmts[c]) for c in df.columns], csv,
                   len(df) if len(shown) < len(df) else None, id)

    def markdown(self) -> str:
        esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        lines = ["| " + " | ".join(esc(c) for c in self.columns) + " |",
                 "|" + "|".join("---:" if n else "---" for n in self.numeric) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in self.rows]
        return "\n".join(lines)


@dataclass
class Figure:
    rel: str                  # path relative to the run folder
    caption: str
    b64: str
    data_csv: str | None      # the numbers drawn, relative to the run folder


@dataclass
class SectionView:
    name: str
    title: str
    status: str
    figures: list[Figure]         # key figure first
    tables: list[Table]
    blocks: list[tuple[str, str, str]]   # (title, html, markdown)
    raw: list[Table]
    links: list[str]              # further data files, relative to the run folder


def _fmt_secs(s: Any) -> str:
    if _is_missing(s):
        return "—"
    s = float(s)
    return f"{s:.0f} s" if s < 60 else f"{int(s // 60)} min {int(round(s % 60)):02d} s" if s < 3600 else \
        f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def _markdown_to_html(text: str, shift: int = 1) -> str:
    import mistune

    md = mistune.create_markdown(escape=True, plugins=["table"])
    out = md(text)
    if shift:   # the section is an <h2>: the file's own headings go below it
        out = re.sub(r"<(/?)h([1-6])>", lambda m: f"<{m.group(1)}h{min(6, int(m.group(2)) + shift + 1)}>", out)
    return out


def _shift_md_headings(text: str, levels: int = 2) -> str:
    """Headings ``levels`` deeper; a bare tag such as ``</think>`` in the text becomes code, or GitHub
    would drop it as HTML."""
    text = re.sub(r"(?<!`)(</?[A-Za-z][\w-]*>)(?!`)", r"`\1`", text)
    return re.sub(r"^(#{1,6}) ", lambda m: "#" * min(6, len(m.group(1)) + levels) + " ", text, flags=re.M)


# =============================================================================================
# The headline


def claims_rows(run_dir: Path, claims_file: Path | None) -> tuple[Table | None, str]:
    """The claims table of this run (exact claims, then bands, then the authors' numbers) and one
    sentence telling the reader whether the recipe reproduced (:func:`polaris_repro.claims.verdict`)."""
    from . import claims as C

    if claims_file is None or not Path(claims_file).exists():
        return None, "No claims file: nothing to check."
    data = C.load_claims(claims_file)
    results, ctx = C.evaluate(claims_file, run_dir)
    rows, classes, notes = [], [], []
    by_id = {c["id"]: c for c in data["claims"]}
    for r in results:
        c = by_id.get(r.id, {})
        paper = c.get("paper")
        report = C.format_value(c, paper) if paper is not None else "—"
        if not r.applies:
            check, cls = "not checked", "other"
        elif r.ok is None:
            notes.append(r.note)
            check, cls = f"missing [{len(notes)}]", "fail"
        elif r.ok:
            check, cls = "pass", "pass"
        else:
            check, cls = "FAIL", "fail"
        kind = "exact" if r.kind == "exact" else "band"
        rows.append([r.label, kind, r.measured, r.expected, report, check])
        classes.append(cls)
    for c in data["claims"]:
        if c["source"] == "reported":
            rows.append([c["label"], "authors", "—", "—", C.format_value(c, c.get("paper", c["value"])), "authors' number"])
            classes.append("reported")
    ex = data.get("exact") or {}
    title = f"Claims (`claims.yaml`, tier {data.get('tier')}" + (
        f"; exact: seed {ex.get('seed')} on {ex.get('numerics')}; bands: any run of their tiers)" if ex else ")")
    table = Table(title, ["claim", "kind", "this run", "claimed", "paper", "check"], rows,
                  [False, False, True, True, True, False], id="claims", row_classes=classes, notes=notes)
    return table, C.verdict(results, ctx)


def gain_lines(v: RunView) -> list[str]:
    """Every paired difference to the base model (04_evaluation/summary.json), with its interval."""
    if not v.exists("04_evaluation/summary.json"):
        return ["No evaluation in this run (section 4 not run): no held-out gain to show."]
    from .reference_results import BENCHMARK_TITLES

    s = v.json("04_evaluation/summary.json")
    out, others = [], 0
    for model, per in (s.get("paired_vs_base") or {}).items():
        info = s["models"].get(model, {})
        if info.get("role", "trained") != "trained" or info.get("yarn"):   # baselines, YaRN ablations: section 4
            others += len(per)
            continue
        for bench, p in per.items():
            lo, hi = p["ci95_points"]
            m = s["models"].get(model, {}).get("benchmarks", {}).get(bench, {})
            base = s["models"].get(p["vs"], {}).get("benchmarks", {}).get(bench, {})
            size = (f"{int(p['questions'])} questions × {int(m['n'])} sample{'s' if int(m['n']) != 1 else ''}"
                    if m.get("n") else
                    f"{int(p['questions'])} questions")
            if _is_missing(lo) or _is_missing(hi):
                verdict = "too few questions for an interval"
            elif lo > 0:
                verdict = "the interval is above 0: a gain beyond question-level noise"
            elif hi < 0:
                verdict = "the interval is below 0: a loss beyond question-level noise"
            else:
                verdict = "the interval includes 0: no change detectable at this size"
            acc = (f" ({100 * base['avg@n']:.1f} % → {100 * m['avg@n']:.1f} %)"
                   if "avg@n" in m and "avg@n" in base else "")
            out.append(f"**{model} − {p['vs']}** on {BENCHMARK_TITLES.get(bench, bench)} ({size}): "
                       f"**{p['diff_points']:+.1f} points**, paired 95 % interval "
                       f"[{lo:+.1f}, {hi:+.1f}]{acc}; {verdict}.")
    if others:
        out.append(f"Section 4's results table has {others} more paired "
                   f"comparison{'' if others == 1 else 's'} (baselines, the YaRN ablation).")
    return out or ["No trained model was evaluated against the base model: no paired difference."]


def temperature_line(v: RunView) -> str | None:
    parts = []
    if v.exists("03_training/stage_summary.csv"):
        df = v.csv("03_training/stage_summary.csv")
        for r in df.to_dict("records"):
            if not _is_missing(r.get("temperature")):
                src = r.get("T source")
                parts.append(f"{r['stage']} {float(r['temperature']):.2f}"
                             + (f" ({src})" if isinstance(src, str) and src else ""))
    elif v.output_record(STAGE1_TEMPERATURE) is not None:
        parts.append(f"stage 1 {float(v.output_record(STAGE1_TEMPERATURE)['temperature']):.2f} (02_temperature)")
    if not parts:
        return None
    try:
        from .config import load_config

        paper = [float(s["temperature"]) for s in load_config("paper-4b")["training"]["stages"]]
        ref = "; the report, POLARIS-4B: " + " → ".join(f"{t:.2f}" for t in paper)
    except Exception:   # the comparison is context; the run's own temperatures are the point
        ref = ""
    return "Rollout temperatures: " + ", ".join(parts) + ref + "."


def identity(run_dir: Path) -> dict:
    m = Manifest(run_dir).data
    secs = m.get("sections", {})
    done = [s for s in SECTIONS if secs.get(s, {}).get("status") == "done"]
    total = sum(float(secs[s].get("elapsed_s") or 0) for s in done)
    return {"run": run_dir.name, "tier": m.get("tier"), "seed": m.get("seed"), "commit": m.get("git_commit"),
            "version": m.get("version"), "created": m.get("created"),
            "total": _fmt_secs(total) if done else "—",
            "total_note": (f"sum of the {len(done)} finished sections" if len(done) < len(SECTIONS)
                           else "sum of all sections")}


def times_table(run_dir: Path) -> Table:
    secs = Manifest(run_dir).data.get("sections", {})
    rows = []
    for s in SECTIONS:
        st = secs.get(s)
        if st is None:
            rows.append([s, "not run", "—", "—", "—"])
            continue
        status = st.get("status", "?")
        elapsed = _fmt_secs(st.get("elapsed_s"))
        if s == REPORT_SECTION and status == "running":
            status, elapsed = "running (this report; the runner rewrites it with the time when it ends)", "—"
        rows.append([s, status, str(st.get("started") or "—"), str(st.get("ended") or "—"), elapsed])
    return Table("Sections and times", ["section", "status", "started", "ended", "time"], rows,
                 [False, False, False, False, True], id="times")


# =============================================================================================
# The sections


def _caption(cap: str | Caption, view: RunView, stem: str) -> str:
    if callable(cap):
        try:
            return cap(view)
        except (OSError, KeyError, ValueError, IndexError, TypeError):
            return f"{stem} (its caption's numbers could not be read from the run)"
    return cap


def _figure(view: RunView, png: Path, caption: str) -> Figure:
    csv = png.with_suffix(".csv")
    return Figure(str(png.relative_to(view.run_dir)), caption, base64.b64encode(png.read_bytes()).decode("ascii"),
                  str(csv.relative_to(view.run_dir)) if csv.exists() else None)


def _section_table(view: RunView, section: str, stem: str, title: str, *, raw: bool,
                   fields: Sequence[str] | None = None) -> Table | None:
    d = view.run_dir / section
    csv, js = d / f"{stem}.csv", d / f"{stem}.json"
    if csv.exists():
        df = pd.read_csv(csv)
        return Table.from_frame(df, title, csv=f"../{section}/{csv.name}",
                                max_rows=None if raw or len(df) <= MAX_INLINE_ROWS else MAX_INLINE_ROWS)
    if js.exists():   # a small JSON record (e.g. the temperature choice): its scalar fields, one row
        rec = json.loads(js.read_text())
        flat = {k: v for k, v in rec.items() if (isinstance(v, (int, float, str, bool)) or v is None)
                and (fields is None or k in fields)}
        return Table.from_frame(pd.DataFrame([flat]), title, csv=None)
    return None


def section_view(view: RunView, section: str, files: Mapping[str, list[Path]]) -> SectionView:
    lay = LAYOUT.get(section, Layout(section, figures=()))
    d = view.run_dir / section
    pngs = list(files["figures"])
    figures, used_png = [], set()
    for stem, cap in lay.figures:
        p = d / f"{stem}.png"
        if p in pngs:
            figures.append(_figure(view, p, _caption(cap, view, stem)))
            used_png.add(p)
    for p in pngs:                      # every other PNG the section wrote is shown too
        if p not in used_png:
            figures.append(_figure(view, p, f"{p.relative_to(d)} (no caption registered for this figure)."))
    tables, used = [], set()
    for stem, title in lay.tables:
        t = _section_table(view, section, stem, title, raw=False, fields=lay.json_fields.get(stem))
        if t is not None:
            tables.append(t)
            used.add(stem)
    blocks = []
    for name, title in lay.blocks:
        p = d / name
        if p.exists():
            text = p.read_text()
            blocks.append((title, _markdown_to_html(text), _shift_md_headings(text.strip(), 2)))
            used.add(p.stem)
    raw = []
    for stem, title in lay.raw:
        t = _section_table(view, section, stem, title, raw=True)
        if t is not None:
            raw.append(t)
            used.add(stem)
    fig_data = {p.with_suffix(".csv") for p in pngs}
    for p in files["tables"]:           # any other top-level table: collapsed, so nothing is hidden
        if p.stem not in used and p not in fig_data:
            raw.append(_section_table(view, section, p.stem, p.stem.replace("_", " "), raw=True))
            used.add(p.stem)
    links = sorted(str(p.relative_to(view.run_dir)) for p in d.rglob("*.csv")
                   if p not in fig_data and p.parent != d)[:40]
    st = Manifest(view.run_dir).data.get("sections", {}).get(section, {})
    status = (f"{st.get('status')}, {_fmt_secs(st.get('elapsed_s'))}" if st.get("status") == "done"
              else st.get("status", "not recorded in the manifest"))
    return SectionView(section, lay.title, status, figures, tables, blocks, raw, links)


# =============================================================================================
# Build


def _env(autoescape: bool):
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=autoescape,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters["md_inline"] = _md_inline
    return env


def _md_inline(text: str):
    """A line of Markdown (bold, code) as inline HTML."""
    import markupsafe
    import mistune

    out = mistune.html(str(text)).strip()
    if out.startswith("<p>") and out.endswith("</p>"):
        out = out[3:-4]
    return markupsafe.Markup(out)


def context(run_dir: str | Path, claims_file: str | Path | None = REPO_ROOT / "claims.yaml") -> dict:
    """Everything the templates show (also handy in a notebook)."""
    run_dir = Path(run_dir)
    view = RunView(run_dir)
    found = collect(run_dir)
    claims_table, claims_verdict = claims_rows(run_dir, Path(claims_file) if claims_file else None)
    sections = [section_view(view, s, files) for s, files in found.items()]
    return {"id": identity(run_dir), "claims": claims_table, "claims_verdict": claims_verdict,
            "gains": gain_lines(view), "temperatures": temperature_line(view), "sections": sections,
            "times": times_table(run_dir), "manifest": manifest_summary(run_dir)}


def manifest_summary(run_dir: str | Path) -> dict:
    m = Manifest(run_dir).data
    return {"tier": m.get("tier"), "version": m.get("version"), "git_commit": m.get("git_commit"),
            "seed": m.get("seed"), "overrides": m.get("overrides"), "created": m.get("created"),
            "outputs": {k: v.get("path") for k, v in m.get("outputs", {}).items()},
            "config": m.get("config")}


def build(run_dir: str | Path, out_dir: str | Path | None = None, *,
          claims_file: str | Path | None = REPO_ROOT / "claims.yaml") -> dict[str, Path]:
    """Write ``report.html`` and ``summary.md`` (into ``<run_dir>/05_report`` by default)."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / REPORT_SECTION
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = context(run_dir, claims_file)
    ctx["manifest_json"] = json.dumps(ctx["manifest"], indent=2, default=str)
    page = _env(True).get_template("report.html").render(**ctx)
    summary = _env(False).get_template("report_summary.md").render(**ctx)
    paths = {"html": write_text(out_dir / "report.html", page),
             "summary": write_text(out_dir / "summary.md", summary)}
    man = Manifest(run_dir)
    man.record_output("report_html", paths["html"], figures=sum(len(s.figures) for s in ctx["sections"]),
                      tables=sum(len(s.tables) + len(s.raw) + len(s.blocks) for s in ctx["sections"]))
    man.record_output("summary_md", paths["summary"])
    return paths


# =============================================================================================
# Checking a written report


class _Page(html.parser.HTMLParser):
    """Headings, tables (by id), embedded images and the text outside <pre>/<code> of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[str, str]] = []
        self.tables: list[dict] = []
        self.images: list[str] = []
        self.text_outside_code: list[str] = []
        self._code = 0
        self._heading: list[str] | None = None
        self._table: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("pre", "code"):
            self._code += 1
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading = [tag, ""]
        elif tag == "table":
            self._table.append({"id": a.get("id"), "rows": 0, "cells": 0})
            self.tables.append(self._table[-1])
        elif tag == "tr" and self._table:
            self._table[-1]["rows"] += 1
        elif tag in ("td", "th") and self._table:
            self._table[-1]["cells"] += 1
        elif tag == "img":
            self.images.append(a.get("src") or "")

    def handle_endtag(self, tag):
        if tag in ("pre", "code"):
            self._code = max(0, self._code - 1)
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6") and self._heading:
            self.headings.append((self._heading[0], self._heading[1].strip()))
            self._heading = None
        elif tag == "table" and self._table:
            self._table.pop()

    def handle_data(self, data):
        if self._heading is not None:
            self._heading[1] += data
        if not self._code:
            self.text_outside_code.append(data)


def parse_page(text: str) -> _Page:
    p = _Page()
    p.feed(text)
    p.close()
    return p


def check(report_html: str | Path, run_dir: str | Path, *,
          claims_file: str | Path | None = REPO_ROOT / "claims.yaml") -> list[str]:
    """What is wrong with a written report (empty: nothing): the page opens with its title and the
    headline; the claims table is an HTML table with a row per claim; every PNG the sections wrote
    is embedded byte for byte; no Markdown table source is shown as text outside <pre>/<code>."""
    run_dir = Path(run_dir)
    page = parse_page(Path(report_html).read_text())
    problems = []
    if not page.headings or page.headings[0][0] != "h1" or "report" not in page.headings[0][1].lower():
        problems.append(f"the page does not open with its <h1> title (first heading: {page.headings[:1]})")
    h2 = [t for tag, t in page.headings if tag == "h2"]
    if not h2 or not h2[0].lower().startswith("headline"):
        problems.append(f"the first section is not the headline (h2 headings: {h2[:3]})")
    claims = [t for t in page.tables if t["id"] == "claims"]
    if claims_file is not None and not Path(claims_file).exists():
        problems.append(f"{claims_file}: claims file not found, so the report has no claims table")
    elif claims_file is not None:
        from .claims import load_claims

        d = load_claims(claims_file)
        n = len(d["claims"]) + len(d.get("bands") or [])
        if not claims:
            problems.append("no <table id='claims'>")
        elif claims[0]["rows"] < n + 1:
            problems.append(f"the claims table has {claims[0]['rows'] - 1} rows, claims.yaml has {n} claims")
    embedded = {src.split(",", 1)[1] for src in page.images if src.startswith("data:image/png;base64,")}
    for section, files in collect(run_dir).items():
        for png in files["figures"]:
            if base64.b64encode(png.read_bytes()).decode("ascii") not in embedded:
                problems.append(f"figure {png.relative_to(run_dir)} is not embedded in the report")
    text = "".join(page.text_outside_code)
    bad = re.findall(r"[^\n]*\|\s*:?-{3,}:?\s*\|[^\n]*", text)
    if bad:
        problems.append(f"Markdown table source shown as text: {bad[0][:120]!r}")
    if re.search(r"\bNaN\b|\bnan\b", text):
        problems.append("'NaN' shown in the report")
    return problems


def markdown_part(text: str, heading: str) -> str:
    """The part of a Markdown document under ``## <heading>`` (up to the next ``## ``), heading included."""
    m = re.search(rf"^## {re.escape(heading)}\s*$.*?(?=^## |\Z)", text, flags=re.M | re.S)
    if m is None:
        raise ValueError(f"no '## {heading}' in the document")
    return m.group(0).strip()
