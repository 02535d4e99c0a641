r"""Our grader on math-verify's own test suite: agreement with the verdicts its tests expect.

The suite is not committed here: the sdist of the *installed* math-verify version is fetched at run
time (``pip download --no-binary :all: --no-deps math-verify==<version>``) and cached under
``~/.cache/polaris-repro/math-verify-sdist/`` (``--cache-dir``).  Its ``tests/*.py`` are read from the
archive and parsed with :mod:`ast`; none of their code is imported or run.  A case is one row of a
``@pytest.mark.parametrize`` table whose test asserts ``compare_strings(gold, pred, ...) ==
expected`` or ``int(verify(parse(gold), parse(pred))) == expected``; the row's cells are read with
:func:`ast.literal_eval` and the helper's keyword arguments (and ``compare_strings``' own defaults,
read from its definition) give the case's settings.

Skipped, each with its reason in the output:

* tests that exercise math-verify's internals or configuration rather than a (gold, prediction)
  verdict -- sympy objects built directly, extraction / normalisation configs, ``StringExtractionConfig``,
  timeouts, ``raise_on_error``, the parser's Gamma handling;
* rows whose settings are not the defaults: ``float_rounding`` other than 6 digits, expression-only
  extraction (``match_types=["expr"]``), and the tests whose subject is a flag (``strict``,
  ``allow_set_relation_comp``: the row's expected verdict is a consequence of the flag);
* a cell that is not a literal (an f-string);
* a prediction that is prose with no box: math-verify finds answers in free text ("Final Answer:
  The largest $n$ is 34.", the last ``$...$``, ``\[...\]``); our grader reads the last ``\boxed{}``
  (the POLARIS rule) and, in ``boxed_or_last_number`` mode, the last number -- a different
  extraction contract, not answer equivalence.  The summary also gives the agreement on these
  cases graded in ``boxed_or_last_number`` mode, for information;
* a gold that is prose with no box (nothing to take as the ground truth without that extraction).

How a case is graded (gold is the truth): the gold's answer is its final boxes
(:func:`gold_answer`), else its math (``$...$``, ``\(...\)``...) with the delimiters removed
(:func:`bare_answer`); a prediction with a box goes through ``is_correct(pred, gold_answer)``
(the last box, or the final boxes combined for a list); a bare prediction (math alone, or a short
string that is not a sentence) through ``equivalent(pred_answer, gold_answer)``.

Output: cases, skips by reason, agreement %, false accepts (we accept, math-verify's test expects a
reject), false rejects, and one line per disagreement with its reason category (:data:`REASONS`,
:func:`reason`); ``--all`` also lists every graded case and every skipped prose prediction.
Exit status 1 if agreement < 85 % or any false accept.

    .venv/bin/python benchmarks/bench_mathverify_suite.py [--cache-dir DIR] [--sdist FILE] [--all]
"""
from __future__ import annotations

import argparse
import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from polaris_repro.grading import equivalent, final_boxes, grade, prepare  # noqa: E402

MIN_AGREEMENT = 85.0
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "polaris-repro" / \
    "math-verify-sdist"

# tests whose subject is not a (gold, prediction) verdict under default settings
SKIP_TESTS = {
    "test_precision": "calls sympy_expr_eq on sympy objects and sets float_rounding (internals)",
    "test_boxed_match_priority": "extraction config (boxed_match_priority, first_match)",
    "test_normalization_config": "normalisation config of the LaTeX parser",
    "test_gamma_as_function": "the LaTeX parser's sympy output (Gamma), no verdict",
    "test_gamma_as_constant": "the LaTeX parser's sympy output (EulerGamma), no verdict",
    "test_verify_raise_on_error": "raise_on_error flag with a patched comparison",
    "test_timeout_expr": "timeouts (a patched sleep)",
    "test_timeout_latex": "timeouts (a patched sleep)",
    "test_timeout_verify": "timeouts (a patched sleep)",
}
FLAG_PARAMS = {"strict": "the strict flag is the test's subject",
               "allow_set_relation_comp": "the allow_set_relation_comp flag is the test's subject"}
DEFAULTS = {"match_types": ["latex", "expr"], "precision": 6, "strict": True,
            "allow_set_relation_comp": False}


@dataclass
class Case:
    file: str
    test: str
    row: int
    gold: str
    pred: str
    expected: bool
    settings: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.file}::{self.test}[{self.row}]"


# ---------------------------------------------------------------------------------------------------
# fetching and reading the suite


def installed_version() -> str:
    return importlib.metadata.version("math-verify")


def fetch_sdist(version: str, cache_dir: Path = CACHE, timeout_s: float = 300) -> Path:
    """The cached sdist of math-verify ``version``, downloaded with pip when missing."""
    cache_dir = Path(cache_dir)
    hits = sorted(cache_dir.glob(f"math_verify-{version}.tar.gz"))
    if hits:
        return hits[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                        "--disable-pip-version-check", "-q", f"math-verify=={version}", "-d", tmp],
                       check=True, timeout=timeout_s)
        got = sorted(Path(tmp).glob("math_verify-*.tar.gz"))
        if not got:
            raise RuntimeError(f"pip download left no math_verify sdist in {tmp}")
        dest = cache_dir / got[0].name
        os.replace(got[0], dest)
    return dest


def read_tests(sdist: Path) -> dict[str, str]:
    """``{file name: source}`` of the archive's ``<root>/tests/*.py``, read without extracting."""
    out: dict[str, str] = {}
    with tarfile.open(sdist, "r:gz") as tf:
        for m in tf.getmembers():
            parts = m.name.split("/")
            if len(parts) == 3 and parts[1] == "tests" and parts[2].endswith(".py") and m.isfile():
                out[parts[2]] = tf.extractfile(m).read().decode("utf-8")
    if not out:
        raise RuntimeError(f"no tests/*.py in {sdist}")
    return out


def _helper_defaults(sources: dict[str, str]) -> dict:
    """``compare_strings``' keyword defaults, read from its definition (falls back to DEFAULTS)."""
    defaults = dict(DEFAULTS)
    for src in sources.values():
        for node in ast.parse(src).body:
            if isinstance(node, ast.FunctionDef) and node.name == "compare_strings":
                args = node.args.args
                for a, d in zip(args[len(args) - len(node.args.defaults):], node.args.defaults):
                    try:
                        defaults[a.arg] = ast.literal_eval(d)
                    except ValueError:
                        pass
    return defaults


def _parametrize(fn: ast.FunctionDef):
    """``(names, rows)`` of the function's ``pytest.mark.parametrize`` decorator, or None."""
    for d in fn.decorator_list:
        if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "parametrize":
            names = [n.strip() for n in ast.literal_eval(d.args[0]).split(",")]
            return names, d.args[1].elts
    return None


def _call_kind(fn: ast.FunctionDef):
    """``("compare_strings", call)`` or ``("verify", call)`` for the asserted call, else None."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare):
            left = node.test.left
            if isinstance(left, ast.Call) and isinstance(left.func, ast.Name):
                if left.func.id == "compare_strings":
                    return "compare_strings", left
                if left.func.id == "int" and left.args and isinstance(left.args[0], ast.Call) and \
                        getattr(left.args[0].func, "id", "") == "verify":
                    return "verify", left.args[0]
    return None


def extract_cases(sources: dict[str, str]) -> tuple[list[Case], list[tuple[str, str]]]:
    """The suite's cases and ``(name, reason)`` for every test or row skipped."""
    defaults = _helper_defaults(sources)
    cases: list[Case] = []
    skipped: list[tuple[str, str]] = []
    for file in sorted(sources):
        for fn in ast.parse(sources[file]).body:
            if not (isinstance(fn, ast.FunctionDef) and fn.name.startswith("test")):
                continue
            where = f"{file}::{fn.name}"
            par = _parametrize(fn)
            kind = _call_kind(fn)
            if fn.name in SKIP_TESTS or par is None or kind is None:
                why = SKIP_TESTS.get(fn.name) or (
                    "checks what parse() extracts (StringExtractionConfig), no verdict" if par
                    else "no (gold, prediction, expected) table")
                n = len(par[1]) if par else 1
                skipped += [(where, why)] * n
                continue
            names, rows = par
            if kind[0] == "verify" and "pred" not in names:
                skipped += [(where, "checks what parse() extracts (StringExtractionConfig), no verdict")] * len(rows)
                continue
            flag = next((FLAG_PARAMS[n] for n in names if n in FLAG_PARAMS), None)
            call = kind[1]
            for i, row in enumerate(rows):
                name = f"{where}[{i}]"
                if flag:
                    skipped.append((name, flag))
                    continue
                try:
                    cells = dict(zip(names, (ast.literal_eval(c) for c in row.elts)))
                except ValueError:
                    skipped.append((name, "a cell is not a literal (f-string)"))
                    continue
                settings = dict(defaults)
                if kind[0] == "compare_strings":
                    for kw in call.keywords:
                        if isinstance(kw.value, ast.Name) and kw.value.id in cells:
                            settings[kw.arg] = cells[kw.value.id]
                        else:
                            settings[kw.arg] = ast.literal_eval(kw.value)
                    gold, pred = (cells[a.id] for a in call.args[:2])
                    exp_name = _expected_name(fn)
                else:
                    gold, pred, exp_name = cells["gold"], cells["pred"], _expected_name(fn)
                if settings.get("precision") != defaults["precision"]:
                    skipped.append((name, f"float_rounding={settings['precision']} (not the default)"))
                    continue
                if settings.get("match_types") != ["latex", "expr"] and "latex" not in settings["match_types"]:
                    skipped.append((name, "expression-only extraction config (match_types=['expr'])"))
                    continue
                cases.append(Case(file, fn.name, i, gold, pred, bool(cells[exp_name]), settings))
    return cases, skipped


def _expected_name(fn: ast.FunctionDef) -> str:
    for node in ast.walk(fn):
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare):
            right = node.test.comparators[0]
            if isinstance(right, ast.Name):
                return right.id
    raise ValueError(f"{fn.name}: no '== expected' in its assert")


# ---------------------------------------------------------------------------------------------------
# reading a gold / a prediction the way our grader is used

_BOX = re.compile(r"\\(?:boxed|fbox)\b")
_DELIMS = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
# words that may stand between or after the math of a bare answer ("$1$ and $2$", "$125$ miles")
_JOINERS = {"and", "or", "percent", "pct", "miles"}
_TWO_WORDS = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}\s+[A-Za-z]{2,}")
MAX_BARE = 120


def bare_answer(s: str) -> str | None:
    """The answer of a string with no box, or None for prose: one math segment (``$...$``,
    ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) with its delimiters removed, several segments
    joined by ``and`` / ``or`` or followed by a unit word (``$1$ and $2$``, ``$125$ miles``), or a
    short string without delimiters and without two words in a row (``28 percent``,
    ``W(x)=1orW(x)=-1``).
    A string that starts with a word (``Answer $9$``, ``We find that $x < 3$``) is prose."""
    t = s.strip().rstrip(".").strip()
    if len(t) > MAX_BARE:
        return None
    segs = list(_DELIMS.finditer(t))
    if not segs:
        words = _WORD.findall(re.sub(r"\\[A-Za-z]+", " ", t))
        return None if "\n" in t or _TWO_WORDS.search(t) or (
            len(words) == 1 and words[0].lower() not in _JOINERS and t.startswith(words[0])) else t
    if any(w.lower() not in _JOINERS for w in _WORD.findall(_DELIMS.sub(" ", t))):
        return None
    if t[:segs[0].start()].strip():
        return None
    return _DELIMS.sub(lambda m: next(g for g in m.groups() if g is not None), t).strip()


_BETWEEN = re.compile(r"[^A-Za-z]*(?:(?:[A-Za-z]+\s+){0,3}(?:and|or)\b)?[^A-Za-z]*")
_LAYOUT = re.compile(r"\\(?:quad|qquad|text|mbox|textnormal)\b")


def gold_answer(gold: str) -> str | None:
    """The gold's answer: its final boxes (:func:`final_boxes`), several combined into a list when
    nothing but symbols, ``and`` / ``or`` and up to three words before it stand between them
    (``\\boxed{1}, \\boxed{2}``, ``\\boxed{1} papers and \\boxed{2}``; not ``\\boxed{1} no no
    no \\boxed{2}``), else the last box (the rule of :func:`polaris_repro.grading.ground_truths`);
    a box repeated right after itself counts once; a gold whose box is unclosed is used as written
    (as ``ground_truths`` does); without a box, :func:`bare_answer`."""
    if not _BOX.search(gold):
        return bare_answer(gold)
    boxes = final_boxes(gold)
    if not boxes:
        return gold.strip()
    if len(boxes) > 1:
        # the text between consecutive boxes, found again from the end
        gaps, end = [], len(gold)
        for b in reversed(boxes):
            i = gold.rfind(b, 0, end)
            start = max(gold.rfind("\\boxed", 0, i), gold.rfind("\\fbox", 0, i))
            gaps.append(gold[gold.find("}", i + len(b)) + 1:end] if end < len(gold) else "")
            end = start
        joined = all(_BETWEEN.fullmatch(_LAYOUT.sub(" ", g)) for g in gaps[1:])
        dedup = [b for k, b in enumerate(boxes) if k == 0 or b.strip() != boxes[k - 1].strip()]
        if not joined:
            return boxes[-1]
        return ", ".join(dedup) if len(dedup) > 1 else dedup[0]
    return boxes[0]


def ours(case: Case, mode: str = "boxed") -> tuple[bool | None, str]:
    """``(our verdict, how)``; verdict None when the case is outside our grader's contract."""
    g = gold_answer(case.gold)
    if g is None:
        return None, "gold is prose with no box"
    if _BOX.search(case.pred):
        return grade(case.pred, g).correct, "is_correct"
    p = bare_answer(case.pred)
    if p is not None:
        return equivalent(p, g), "equivalent"
    if mode == "boxed_or_last_number":
        return grade(case.pred, g, mode=mode).correct, "last number"
    return None, "prediction is prose with no box (free-text extraction)"


# ---------------------------------------------------------------------------------------------------
# why we differ: one category per remaining disagreement, first matching rule wins

REASONS: list[tuple[str, str]] = [
    # (category, one-line reason)
    ("math-verify expects a wrong verdict",
     "1 - 1/e and 1 + 1/e differ; math-verify's table expects them equal"),
    ("false chain (arguable)",
     "the answer is an '=' chain with unequal sides (x = 5+5+1 = 7 = 11, z = 3+3 = 2, 1 = ... = 0): "
     "math-verify keeps the last side, we do not accept a false equation"),
    ("false approximation (arguable)",
     "A \\approx d with d not an approximation of A (1/3 \\approx 1.3): compared as a string; "
     "math-verify drops the \\approx part"),
    ("set vs tuple (arguable)",
     "{1,3} is a set, (1,3) a pair or an interval; math-verify's table equates them (but not with (3,1))"),
    ("repeated list item (arguable)",
     "the prediction lists one tuple twice; lists compare as multisets here, as sets in math-verify"),
    ("unboxed final answer",
     "the last box holds an intermediate value and the final answer is prose after it; we grade the "
     "last box (the POLARIS rule), math-verify finds 'final answer is ...'"),
    ("symbolic sum not read",
     "\\sum with a symbolic bound is not parsed (compared as a string), so reordered factors differ"),
    ("gold box unclosed",
     "the gold's \\boxed{ is never closed (an escaping slip in the table); it is compared as written"),
]


def reason(case: Case) -> tuple[str, str]:
    """``(category, reason)`` for a disagreement (from :data:`REASONS`), ``("unexplained", "")``
    when no rule matches."""
    g, p = case.gold, case.pred
    cat = dict(REASONS)

    def eq_chain(s: str | None) -> bool:
        if not s:
            return False
        v = prepare(s).value
        if v is None or v[0] == "text":     # not parsed ("1 = \\zzz = x = 0"): two '=' and no list
            return s.count("=") >= 2 and "," not in s and "{" not in s.replace("\\", "")
        return v[0] == "rel" and len(v[1]) > 1 and set(v[1]) == {"="}

    ga, pa = gold_answer(g), bare_answer(p)
    if _BOX.search(g) and not final_boxes(g):
        key = "gold box unclosed"
    elif re.search(r"1\s*-\s*\\frac\{1\}\{\\mathrm\{e\}\}", g) and "+" in p:
        key = "math-verify expects a wrong verdict"
    elif pa and "\\approx" in pa and prepare(pa).why.startswith("the approximation"):
        key = "false approximation (arguable)"
    elif "\\sum" in g and "\\sum" in p:
        key = "symbolic sum not read"
    elif eq_chain(pa) or eq_chain(ga):
        key = "false chain (arguable)"
    elif re.fullmatch(r"\$?\{[^{}]*\}\$?", p.strip()) and re.fullmatch(r"\$?\([^()]*\)\$?", g.strip()):
        key = "set vs tuple (arguable)"
    elif _BOX.search(p) and len(re.findall(r"\([^()]*\)", p)) > len(re.findall(r"\([^()]*\)", g)) and \
            re.search(r"\([^()]*\)\s*,\s*\([^()]*\)", g):
        key = "repeated list item (arguable)"
    elif _BOX.search(p) and re.search(r"final answer is", p[p.rfind("\\boxed"):], re.I):
        key = "unboxed final answer"
    else:
        return "unexplained", ""
    return key, cat[key]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache-dir", type=Path, default=CACHE)
    ap.add_argument("--sdist", type=Path, help="a math_verify-<version>.tar.gz to read instead")
    ap.add_argument("--all", action="store_true", help="list every case with both verdicts")
    args = ap.parse_args(argv)
    version = installed_version()
    sdist = args.sdist or fetch_sdist(version, args.cache_dir)
    cases, skipped = extract_cases(read_tests(sdist))
    rows = len(cases) + len(skipped)
    graded = []
    prose = []
    for c in cases:
        v, how = ours(c)
        if v is None:
            skipped.append((c.name, how))
            if how.startswith("prediction"):
                prose.append((c, ours(c, "boxed_or_last_number")[0]))
            continue
        graded.append((c, v, how))
    agree = sum(v == c.expected for c, v, _ in graded)
    fa = [(c, how) for c, v, how in graded if v and not c.expected]
    fr = [(c, how) for c, v, how in graded if not v and c.expected]
    pct = 100.0 * agree / max(1, len(graded))
    print(f"math-verify {version} test suite ({sdist.name}): {rows} rows or tests read, "
          f"{len(cases)} (gold, prediction, expected) cases at default settings")
    print(f"skipped {len(skipped)}:")
    for why, n in Counter(w for _, w in skipped).most_common():
        print(f"  {n:4d}  {why}")
    print(f"graded {len(graded)}: agreement {agree}/{len(graded)} = {pct:.1f} %, "
          f"false accepts {len(fa)}, false rejects {len(fr)}")
    if prose:
        pa = sum(v == c.expected for c, v in prose)
        pfa = sum(1 for c, v in prose if v and not c.expected)
        print(f"(information) prose predictions in boxed_or_last_number mode: {pa}/{len(prose)} agree, "
              f"{pfa} false accepts")
    print("disagreements:")
    cats: Counter = Counter()
    for c, how in fa + fr:
        kind = "FALSE ACCEPT" if not c.expected else "false reject"
        cat, why = reason(c)
        cats[cat] += 1
        print(f"  {kind:12s} {c.name}: gold {_short(c.gold)!r} pred {_short(c.pred)!r}\n"
              f"      [{cat}] {why}")
    if args.all:
        for c, v in prose:
            print(f"  skipped (prose) {c.name} exp={int(c.expected)} last-number={int(v)} "
                  f"pred {_short(c.pred)!r}")
        for c, v, how in graded:
            print(f"  {'ok ' if v == c.expected else 'DIS'} {c.name} exp={int(c.expected)} ours={int(v)} "
                  f"({how}) gold {_short(c.gold)!r} pred {_short(c.pred)!r}")
    if cats:
        print("disagreements by category: " + ", ".join(f"{k} {n}" for k, n in cats.most_common()))
    ok = pct >= MIN_AGREEMENT and not fa
    print(f"agreement >= {MIN_AGREEMENT:.0f} % and no false accept: {'MET' if ok else 'NOT MET'}")
    return 0 if ok else 1


def _short(s: str, n: int = 70) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[:30] + " ... " + s[-(n - 35):]


if __name__ == "__main__":
    sys.exit(main())
