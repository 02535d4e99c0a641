"""The run report reads like a results page: headline first, real HTML tables, every figure embedded,
honest times. A small run folder is written here in the sections' own artifact formats (through the
package's writers: ``plots.save_figure``/``save_table``, ``evaluation.write_results``, the manifest),
so the report is rendered in a second; ``tests/test_notebooks.py`` renders it from a real tiny run.
"""
import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from polaris_repro import plots, report  # noqa: E402
from polaris_repro.artifacts import REPO_ROOT, Manifest, write_json  # noqa: E402
from polaris_repro.config import load_config  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _fig(seed: int):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar(range(5), [(seed * 7 + i * 3) % 11 + 1 for i in range(5)], color=f"C{seed % 10}")
    ax.set_title(f"figure {seed}")
    return fig


def _save_fig(path: Path, seed: int, data: dict | None = None):
    fig = _fig(seed)
    plots.save_figure(fig, path, pd.DataFrame(data or {"x": [1, 2], "y": [seed, seed + 1]}), dpi=40, close=True)


def make_run(root: Path, *, tier: str = "tiny") -> Path:
    """A finished run folder with the files sections 01-04 write (values of a smoke-like run)."""
    from polaris_repro import evaluation

    run = root / tier / "20990101-000000"
    man = Manifest(run, load_config(tier))
    for i, s in enumerate(("01_difficulty", "02_temperature", "03_training", "04_evaluation")):
        man.section(s, status="done", started="2099-01-01T00:00:00+00:00", ended="2099-01-01T00:01:00+00:00",
                    elapsed_s=60.0 + i)
    d1, d2, d3, d4 = (run / s for s in ("01_difficulty", "02_temperature", "03_training", "04_evaluation"))
    # 01
    plots.save_table(pd.DataFrame([
        {"pair": "strong on train", "problems": 32, "mean_pass_rate": 0.8125, "share_unsolved": 0.0625,
         "share_perfect": 0.75, "mean_length": 12.5, "truncation_rate": 0.0, "shape": "J"},
        {"pair": "weak on hard", "problems": 32, "mean_pass_rate": 0.125, "share_unsolved": 0.75,
         "share_perfect": 0.0, "mean_length": 30.25, "truncation_rate": 0.1, "shape": "mirrored-J"}]),
        d1 / "pair_summary")
    plots.save_table(pd.DataFrame({"correct": [f"{i}/4" for i in range(5)], "a": [1, 2, 3, 4, 22],
                                   "b": [24, 4, 2, 1, 1]}), d1 / "pair_histogram_counts")
    plots.save_table(pd.DataFrame({"index": range(32), "num_correct": [i % 5 for i in range(32)],
                                   "difficulty": [(i % 5) / 4 for i in range(32)]}), d1 / "train_profile")
    plots.save_table(pd.DataFrame([{"set": "ours", "before": 32, "after": 26, "rule": "drop_perfect",
                                    "source": "measured"},
                                   {"set": "R1-Distill-7B on DeepScaleR", "before": 40315, "after": 26701,
                                    "rule": "drop_perfect", "source": "reported by the authors"}]),
                     d1 / "filter_sizes")
    for k, stem in enumerate(("fig1_pass_rate_histograms", "fig2_reported")):
        _save_fig(d1 / stem, k)
    _save_fig(d1 / "filter_effect", 2, {"correct": [f"{i}/4" for i in range(5)], "before": [10, 8, 6, 2, 6],
                                        "after": [10, 8, 6, 2, 0], "dropped": [0, 0, 0, 0, 6]})
    # 02
    _save_fig(d2 / "sweep_curves", 10, {"temperature": [0.2, 0.4], "accuracy": [0.5, 0.4]})
    _save_fig(d2 / "paper_curves_stage1", 11)
    write_json(d2 / "choice.json", {"temperature": 0.4, "diversity": 0.80255, "accuracy": 0.41, "rule": "initial",
                                    "target_diversity": None, "measured": True,
                                    "curve": [{"temperature": 0.2}, {"temperature": 0.4}]})
    plots.save_table(pd.DataFrame({"temperature": [0.2, 0.4, 0.6], "accuracy": [0.5, 0.41, 0.2],
                                   "diversity": [0.6, 0.8, 0.9], "zone": ["robust", "controlled", "collapse"]}),
                     d2 / "sweep_table")
    (d2 / "sweep.samples").mkdir()
    pd.DataFrame({"t": [0.2]}).to_csv(d2 / "sweep.csv", index=False)
    # 03
    plots.save_table(pd.DataFrame([
        {"stage": f"stage{i}", "status": "done", "steps": s, "launches": 1, "temperature": t,
         "T source": src, "train rows": 26, "reward first": rf, "reward last": rl, "train s": 40.5}
        for i, s, t, src, rf, rl in ((1, 2, 0.4, "02_temperature", 0.65625, 0.7), (2, 1, 0.45, "search", 0.5, 0.55),
                                     (3, 1, 0.45, "search", 0.6, 0.59375))]), d3 / "stage_summary")
    plots.save_table(pd.DataFrame({"stage": ["stage1"] * 4, "step": [1, 2, 3, 4],
                                   "polaris/score_pre_substitution": [0.6, 0.65, 0.7, 0.62]}), d3 / "step_metrics")
    for k, stem in enumerate(("training_curves", "stage_temperatures", "difficulty_histograms")):
        _save_fig(d3 / stem, 20 + k)
    (d3 / "stage1" / "logs").mkdir(parents=True)
    # 04
    table = pd.DataFrame([
        {"model": m, "path": m, "role": m, "yarn": False, "benchmark": b, "n": 4, "questions": 48, "avg": a,
         "ci_low": a - 7, "ci_high": a + 7, "se": 3.4, "pass@n": a + 10, "maj@n": a, "truncation_rate": 1.0,
         "missing_box_rate": 2.0, "mean_length": 30.0, "grader_disagreements": 0, "reported_row": None,
         "reported": None, **({"vs": "base", "diff_vs_base": 19.791667, "diff_ci_low": 11.458333,
                               "diff_ci_high": 28.125, "diff_se": 4.2, "paired_questions": 48} if m == "trained" else {})}
        for m, a in (("base", 36.979), ("trained", 56.771)) for b in ("synthetic",)])
    proto = evaluation.protocol(load_config(tier))
    d4.mkdir(parents=True, exist_ok=True)
    evaluation.write_results(table, proto, d4)
    write_json(d4 / "summary.json", {
        "models": {m: {"role": role, "yarn": m.endswith("yarn"),
                       "benchmarks": {"synthetic": {"n": 4, "questions": 48, "avg@n": a / 100}}}
                   for m, role, a in (("base", "base", 36.979167), ("trained", "trained", 56.770833),
                                      ("trained+yarn", "trained-ablation", 50.0))},
        "paired_vs_base": {"trained": {"synthetic": {"vs": "base", "diff_points": 19.791667,
                                                     "ci95_points": [11.458333, 28.125], "questions": 48}},
                           "trained+yarn": {"synthetic": {"vs": "base", "diff_points": 13.020833,
                                                          "ci95_points": [-1.0, 27.0], "questions": 48}}}})
    for k, stem in enumerate(("pass_at_k", "length_buckets", "budget_curve")):
        _save_fig(d4 / stem, 30 + k)
    (d4 / "trained").mkdir()
    pd.DataFrame({"index": [0, 1], "correct": [1, 0]}).to_csv(d4 / "trained" / "questions.csv", index=False)
    plots.save_table(pd.DataFrame({"model": ["base"], "benchmark": ["synthetic"], "avg@n (%)": [36.979]}),
                     d4 / "format_truncation")
    return run


FIXTURE_CLAIMS = {"temperature_choice": 0.4, "temperature_diversity": 0.80255, "stage1_reward_first": 0.65625,
                  "eval_base_synthetic": 0.369792}


def claims_for(run: Path, tmp_path: Path, tier: str) -> Path:
    """claims.yaml with the repository's claims, marked as measured on ``tier``; the values of the
    claims this fixture run holds are the fixture's own (typed in above), so the test does not
    depend on which smoke run claims.yaml was last updated from."""
    from polaris_repro.claims import run_identity

    data = yaml.safe_load((REPO_ROOT / "claims.yaml").read_text())
    data["tier"] = tier
    ident = run_identity(run)
    # the exact claims are this fixture run's: its seed, on the kernels of the machine running the test
    data["exact"].update(seed=ident["seed"], numerics=ident["numerics"])
    for c in data["claims"]:
        if c["id"] in FIXTURE_CLAIMS:
            c["value"] = FIXTURE_CLAIMS[c["id"]]
    cf = tmp_path / "claims.yaml"
    cf.write_text(yaml.safe_dump(data, sort_keys=False))
    return cf


@pytest.fixture()
def run(tmp_path):
    return make_run(tmp_path / "artifacts")


def _pngs(run: Path) -> list[Path]:
    return sorted(p for s in ("01_difficulty", "02_temperature", "03_training", "04_evaluation")
                  for p in (run / s).rglob("*.png"))


def test_report_structure(run, tmp_path):
    paths = report.build(run, claims_file=REPO_ROOT / "claims.yaml")
    text = paths["html"].read_text()
    page = report.parse_page(text)
    # opens with the title, then the headline; the claims table is the first table, as real HTML
    assert page.headings[0][0] == "h1" and "POLARIS reproduction report" in page.headings[0][1]
    assert [t for tag, t in page.headings if tag == "h2"][0] == "Headline"
    assert page.tables[0]["id"] == "claims"
    data = yaml.safe_load((REPO_ROOT / "claims.yaml").read_text())
    assert page.tables[0]["rows"] == len(data["claims"]) + len(data["bands"]) + 1
    headline = text.split('id="headline"')[1].split("</section>")[0]
    assert "+19.8 points" in headline and "[+11.5, +28.1]" in headline          # the gain with its interval
    assert "+13.0" not in headline.split("<table")[0] and "1 more paired comparison (" in headline    # the YaRN ablation: section 4
    assert "0.40" in headline and "1.40" in headline                             # ours and the report's T
    # the first figure comes after the headline; the first section is led by its key figure
    assert text.index('id="headline"') < text.index("<img")
    sec1 = text.split('id="01_difficulty"')[1]
    assert sec1.index("<img") < sec1.index("<table")
    assert "fig1_pass_rate_histograms.png" in sec1.split("<table")[0]
    # every PNG the sections wrote is embedded byte for byte
    embedded = {s.split(",", 1)[1] for s in page.images if s.startswith("data:image/png;base64,")}
    pngs = _pngs(run)
    assert len(pngs) == 12
    for p in pngs:
        assert base64.b64encode(p.read_bytes()).decode() in embedded, p
    # no Markdown table source as text outside <pre>/<code>; results.md became HTML tables
    outside = "".join(page.text_outside_code)
    assert "|---" not in outside and "| model |" not in outside
    assert sum(1 for t in page.tables if t["id"] is None) >= 8
    # raw per-problem / per-step tables are collapsed
    for raw in ("Per-problem profile of the training set", "Per-step metrics"):
        assert re.search(r"<details>\s*<summary>" + re.escape(raw), text), raw
    # numbers at the claims' precision: temperatures .2f, fractions .3f, points +.1f
    assert "<td class=\"num\">0.45</td>" in text and "<td class=\"num\">0.656</td>" in text
    assert "0.65625" not in outside
    assert report.check(paths["html"], run) == []


def test_claims_table_checks_the_run_against_claims_yaml(run, tmp_path):
    # the same tier: each measured claim is pass/FAIL against the run's value
    cf = claims_for(run, tmp_path, "tiny")
    # a claim on an artifact this synthetic run lacks (an AIME24 evaluation)
    data = yaml.safe_load(cf.read_text())
    data["claims"].append({"id": "eval_base_aime24_trunc", "label": "04 base model on AIME24: truncation rate",
                           "source": "measured", "section": "04_evaluation", "artifact": "04_evaluation/summary.json",
                           "json_path": "models.base.benchmarks.aime24.truncation_rate", "value": 1.0,
                           "tolerance": 0.001, "fmt": ".3f"})
    cf.write_text(yaml.safe_dump(data, sort_keys=False))
    table, verdict = report.claims_rows(run, cf)
    rows = {r[0]: r for r in table.rows}
    t = rows["02 stage-1 temperature chosen by the diversity rule"]
    assert t[1:] == ["exact", "0.40", "0.40 ± 0.001", "1.40", "pass"]
    base = rows["04 base model, 64 held-out synthetic problems (add1, mul1) avg@4 (fraction correct)"]
    assert base[2] == "0.370" and base[-1] == "pass"
    # what training produces is not an exact claim (the bf16 update is not bitwise reproducible)
    assert not any(k.startswith("04 trained") and r[1] == "exact" for k, r in rows.items())
    # artifacts this synthetic run lacks (AIME truncation) are reported as missing, not passed
    trunc = rows["04 base model on AIME24: truncation rate"]
    assert trunc[2] == "—" and trunc[-1].startswith("missing") and any("summary.json has no" in n for n in table.notes)
    assert "did NOT reproduce" in verdict and "eval_base_aime24_trunc" in verdict
    # the tiny tier's bands apply to a tiny run, the smoke tier's do not
    assert rows["02 stage-1 temperature inside the Robust Generation or Controlled Exploration zone of its own sweep"][1] == "band"
    smoke_only = rows["03 share of rollouts cut at the length cap, first three steps vs last three"]
    assert smoke_only[-1] == "not checked"
    # a drifted artifact turns its claim to FAIL
    choice = run / "02_temperature" / "choice.json"
    choice.write_text(json.dumps({**json.loads(choice.read_text()), "temperature": 0.9}))
    table, _ = report.claims_rows(run, cf)
    assert {r[0]: r for r in table.rows}["02 stage-1 temperature chosen by the diversity rule"][-1] == "FAIL"
    # another tier's exact claims are shown beside the run's values, not checked
    table, verdict = report.claims_rows(run, claims_for(run, tmp_path, "smoke"))
    assert "bands only" in verdict and "the exact claims are the `smoke` tier's" in verdict
    assert {r[-1] for r, c in zip(table.rows, table.row_classes) if c == "other"} == {"not checked"}
    assert all(r[-1] == "not checked" for r in table.rows if r[1] == "exact")


def test_check_catches_a_broken_report(run):
    paths = report.build(run)
    good = paths["html"].read_text()
    assert report.check(paths["html"], run) == []
    # a figure left out
    png = run / "03_training" / "training_curves.png"
    b64 = base64.b64encode(png.read_bytes()).decode()
    paths["html"].write_text(good.replace(b64, ""))
    assert any("training_curves.png is not embedded" in p for p in report.check(paths["html"], run))
    # a figure written after the report was built
    paths["html"].write_text(good)
    _save_fig(run / "04_evaluation" / "late_figure", 99)
    assert any("late_figure.png" in p for p in report.check(paths["html"], run))
    (run / "04_evaluation" / "late_figure.png").unlink()
    # Markdown table source shown as text, no claims table, headline not first
    paths["html"].write_text(good.replace("<h2>Headline</h2>", "<h2>Headline</h2><p>| a | b |\n|---|---|</p>"))
    assert any("Markdown table source" in p for p in report.check(paths["html"], run))
    paths["html"].write_text(good.replace('id="claims"', 'id="x"'))
    assert any("no <table id='claims'>" in p for p in report.check(paths["html"], run))
    paths["html"].write_text(good.replace("<h2>Headline</h2>", "<h2>Sections</h2>"))
    assert any("headline" in p for p in report.check(paths["html"], run))
    # the claims table is required whenever a claims file is named; a missing file is a problem too
    paths["html"].write_text(good)
    assert any("claims file not found" in p for p in report.check(paths["html"], run, claims_file=run / "nope.yaml"))


def test_every_figure_is_shown_even_without_a_registered_caption(run):
    _save_fig(run / "02_temperature" / "extra_plot", 50)
    paths = report.build(run)
    assert report.check(paths["html"], run) == []
    assert "extra_plot.png (no caption registered" in paths["html"].read_text()


def test_times_are_honest(run):
    # while the report section runs, its row says so instead of NaN
    Manifest(run).section("05_report", status="running", started="2099-01-01T00:05:00+00:00")
    html = report.build(run)["html"].read_text()
    times = html.split('id="times"')[1].split("</table>")[0]
    assert "running (this report" in times and "NaN" not in html and "nan" not in times
    assert "4 min 06 s (sum of the 4 finished sections)" in html
    # once done, the report shows its own time and the total of all five sections
    Manifest(run).section("05_report", status="done", ended="2099-01-01T00:05:02+00:00", elapsed_s=2.0)
    html = report.build(run)["html"].read_text()
    times = html.split('id="times"')[1].split("</table>")[0]
    assert re.search(r"<td>05_report</td><td>done</td>.*?<td class=\"num\">2 s</td>", times)
    assert "4 min 08 s (sum of all sections)" in html


def test_runner_rewrites_the_report_when_its_section_ends(run, monkeypatch):
    """run_section marks 05_report done, then re-renders the report so it shows its own time."""
    import papermill as pm

    from polaris_repro import runner

    build = report.build

    def fake_execute(src, out, **kw):   # the report notebook's work: build the report while running
        build(kw["parameters"]["run_dir"])
        Path(out).write_text("{}")

    monkeypatch.setattr(pm, "execute_notebook", fake_execute)
    runner.run_section("05_report", "tiny", run)
    st = Manifest(run).data["sections"]["05_report"]
    assert st["status"] == "done"
    times = (run / "05_report" / "report.html").read_text().split('id="times"')[1].split("</table>")[0]
    assert "<td>05_report</td><td>done</td>" in times and "running" not in times
    md = (run / "05_report" / "summary.md").read_text()
    assert "| 05_report | done |" in md
    # a report that cannot be rendered again fails the section, with the reason
    monkeypatch.setattr(report, "build", lambda *a, **k: (_ for _ in ()).throw(ValueError("broken template")))
    with pytest.raises(runner.SectionFailed, match="re-rendering the report after its section.*broken template"):
        runner.run_section("05_report", "tiny", run)
    assert Manifest(run).data["sections"]["05_report"]["status"] == "failed"


def test_summary_md_follows_the_same_order_and_is_github_markdown(run):
    md = report.build(run)["summary"].read_text()
    heads = re.findall(r"^(#{1,3}) (.+)$", md, flags=re.M)
    assert heads[0] == ("#", "POLARIS reproduction report: `tiny` tier")
    h2 = [t for lvl, t in heads if lvl == "##"]
    assert h2[0] == "Headline" and h2[-1] == "Sections and times"
    assert [t for t in h2 if t[0].isdigit()] == [report.LAYOUT[s].title for s in
                                                 ("01_difficulty", "02_temperature", "03_training", "04_evaluation")]
    headline = md.split("## Headline")[1].split("\n## ")[0]
    assert "+19.8 points" in headline and "| claim | kind | this run |" in headline
    # each section: its key figure (relative link into the run folder) before its first table
    sec = md.split("## 1. ")[1].split("\n## ")[0]
    assert sec.index("![01_difficulty/fig1_pass_rate_histograms.png](../01_difficulty/fig1_pass_rate_histograms.png)") \
        < sec.index("| pair |")
    # every table is well-formed: header, separator, rows with the same number of cells
    for block in re.findall(r"(?:^\|.*\|\n)+", md, flags=re.M):
        lines = block.strip().splitlines()
        cells = [len(re.split(r"(?<!\\)\|", l)) for l in lines]
        assert re.fullmatch(r"\|(?:-{3,}:?\|)+", lines[1]), lines[:2]
        assert len(set(cells)) == 1, block[:300]
    # a bare tag in a section's Markdown (the protocol's </think>) is shown as code, not dropped as HTML
    assert "(no `</think>` required)" in md
    # raw tables are linked, not inlined
    assert "| index | num_correct |" not in md and "[Per-problem profile of the training set](../01_difficulty/train_profile.csv)" in md


def test_bad_run_folder_gives_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        report.check(tmp_path / "nope.html", tmp_path)


def chromium_screenshot(html: Path, png: Path, *, width: int = 1280, height: int = 2000) -> Path:
    res = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          f"--screenshot={png}", f"--window-size={width},{height}", html.resolve().as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and png.exists(), res.stderr[-2000:]
    return png


def test_report_screenshot_is_not_blank(run, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian package `chromium`): no headless screenshot")
    from PIL import Image

    html = report.build(run)["html"]
    shot = chromium_screenshot(html, tmp_path / "report.png")
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 2000)
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot is (nearly) one colour"
    # something is drawn in the top band (the title and headline) and further down (figures)
    top, lower = img.crop((0, 0, 1280, 300)), img.crop((0, 1000, 1280, 2000))
    for band in (top, lower):
        assert len(band.getcolors(maxcolors=1 << 20) or range(99)) > 10


def test_the_filter_caption_is_computed_from_its_counts(run):
    """Section 1's filter caption says what the counts say: how many were dropped, where the kept set
    peaks and its shape, not a fixed sentence (a run that dropped nothing once read 'leaves a
    mirrored-J set' under a set peaking at 2/8)."""
    cap = report.LAYOUT["01_difficulty"].figures[1][1](report.RunView(run))
    assert "26 of 32 kept: 6 problem(s) dropped by drop_perfect" in cap and "peaks at 0/4" in cap
    assert "a mirrored J" in cap and "ours is" not in cap
    f = run / "01_difficulty" / "filter_effect.csv"
    pd.DataFrame({"correct": [f"{i}/4" for i in range(5)], "before": [2, 5, 9, 4, 0], "after": [2, 5, 9, 4, 0],
                  "dropped": [0] * 5}).to_csv(f, index=False)
    cap = report.LAYOUT["01_difficulty"].figures[1][1](report.RunView(run))
    assert "nothing was dropped" in cap and "peaks at 2/4" in cap and "ours is balanced" in cap
