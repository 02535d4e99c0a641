"""The Layout page (``docs/layout.md``), generated from the tree: ``python -m tools.layout`` rewrites
its block between ``<!-- layout:begin -->`` and ``<!-- layout:end -->``, ``tests/test_structure.py``
checks that it is current.

The top-level folders are described here (:data:`TOP_LEVEL`; a folder missing from it is an
error, so a new one gets a line); the package's modules and subpackages are listed from the tree,
each with the first line of its docstring.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "polaris_repro"
PAGE = Path("docs") / "layout.md"
BEGIN, END = "<!-- layout:begin -->\n```\n", "```\n<!-- layout:end -->"
WIDTH = 100
SKIP = {".git", ".ci", ".venv", ".pytest_cache", "__pycache__", "shared"}

TOP_LEVEL = {
    "notebooks": "00_reproduce + one notebook per section (exactly one `parameters` cell each)",
    PACKAGE: "the package, one module per mechanism (below)",
    "envs": "cpu.txt (CPU tiers), cluster.txt (GPU cluster), cluster-on-cpu.txt (its vLLM swapped for the CPU build)",
    "artifacts": "run folders: artifacts/<tier>/<run-id>/ (not committed)",
    "tests": "unit tests and notebook tests (`make test`); golden/ holds stored outputs",
    "benchmarks": "speed benchmarks printing ratios against a baseline measured in the same run",
    "tools": "rehearse.sh, rehearse_slurm.sh + local_slurm.sh (`make rehearse[-slurm]`), nbmake.py, layout.py",
    "docs": "the pages the README links (results, performance, grading, cluster, ...) and its image",
}
TOP_FILES = {
    "environment.yml": "conda environment for the GPU cluster",
    "claims.yaml": "the numbers of docs/results.md, where each comes from (`polaris-repro claims check`)",
}


def _summary(path: Path) -> str:
    """The first line of a module's docstring (a package: its ``__init__``'s), without reST markup."""
    init = path / "__init__.py" if path.is_dir() else path
    doc = ast.get_docstring(ast.parse(init.read_text())) if init.exists() else None
    line = (doc or "").strip().splitlines()[0] if doc else ""
    line = line.replace("\x08", "\\b").replace("\t", "\\t")    # \\boxed, \\text in non-raw docstrings
    return line.replace("``", "`").replace(":class:", "").replace(":func:", "").replace(":data:", "")


def _entries(folder: Path, depth: int) -> list[str]:
    out = []
    items = sorted(p for p in folder.iterdir()
                   if not p.name.startswith((".", "_")) and p.name not in SKIP
                   and ((p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"))
    for p in items:
        name = p.name + "/" if p.is_dir() else p.stem
        text = f"{'  ' * depth}{name:<{20 - 2 * depth}} {_summary(p)}".rstrip()
        if len(text) > WIDTH:
            text = text[:WIDTH - 3].rsplit(" ", 1)[0].rstrip(",;:") + " ..."
        out.append(text)
        if p.is_dir():
            out += _entries(p, depth + 1)
    return out


def layout(root: Path = REPO) -> str:
    """The Layout block (without the fences) for the tree at ``root``."""
    dirs = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in SKIP
                  and not p.name.startswith(".") and not p.name.endswith(".egg-info"))
    missing = [d for d in dirs if d not in TOP_LEVEL]
    if missing:
        raise ValueError(f"tools/layout.py: describe the top-level folder(s) {missing} in TOP_LEVEL")
    lines = []
    for d in TOP_LEVEL:   # all of them, present or not (artifacts/ appears with the first run)
        lines.append(f"{d + '/':<16}{TOP_LEVEL[d]}")
        if d == PACKAGE:
            lines += ["  " + e for e in _entries(root / PACKAGE, 0)]
    lines += [f"{f:<16}{text}" for f, text in TOP_FILES.items()]
    return "\n".join(lines) + "\n"


def page_layout(page: str) -> str:
    """The Layout block as the page (:data:`PAGE`) has it."""
    start = page.index(BEGIN) + len(BEGIN)
    return page[start:page.index(END, start)]


def write(root: Path = REPO) -> None:
    path = root / PAGE
    text = path.read_text()
    start = text.index(BEGIN) + len(BEGIN)
    end = text.index(END, start)
    path.write_text(text[:start] + layout(root) + text[end:])


if __name__ == "__main__":
    write()
    sys.stdout.write(layout())
