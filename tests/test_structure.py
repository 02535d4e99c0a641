"""The house rules of issue 23, checked statically (nothing is imported but the layout tool):

* no import cycle among the ``polaris_repro`` modules (module-level imports, parsed with ``ast``;
  imports inside functions and under ``if TYPE_CHECKING:`` are deferred and do not count);
* no module imports an underscore-prefixed name from another ``polaris_repro`` module (every
  import, deferred ones included; a private submodule such as ``_import_hooks`` is not a name),
  nor reaches one as an attribute of another module it imported (``from . import claims`` then
  ``claims._fmt``);
* no module over :data:`MAX_LINES` lines unless its docstring says why, in a sentence containing
  "longer than 500 lines because";
* the Layout page (``docs/layout.md``) is the one ``tools/layout.py`` generates from the tree
  (``python -m tools.layout`` rewrites it).
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / "polaris_repro"
MAX_LINES = 500
WHY = "longer than 500 lines because"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _top_level_imports(tree: ast.Module):
    """Import statements executed when the module is imported (not in functions, classes' methods
    or TYPE_CHECKING blocks)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            todo += node.body + node.orelse
        elif isinstance(node, ast.Try):
            todo += node.body + node.orelse + node.finalbody + [n for h in node.handlers for n in h.body]
        elif isinstance(node, (ast.With, ast.ClassDef)):
            todo += [n for n in node.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def _from_module(pkg: str, node: ast.ImportFrom) -> str:
    """The absolute module X of ``from X import ...`` written in package ``pkg``."""
    if not node.level:
        return node.module or ""
    base = pkg.split(".")
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """``{module: the polaris_repro modules it imports at module level}``."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        pkg = _package_of(name, path)
        for node in _top_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                mod = _from_module(pkg, node)
                # `from X import y`: y is a submodule when one of that name exists, else a name in X
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names]
            for t in targets:
                while t and t not in mods and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in mods and t != name:
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycle():
    graph = import_graph()
    assert graph["polaris_repro.report.view"] and "polaris_repro.sections" in graph["polaris_repro.report.view"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def private_imports() -> list[str]:
    """``file:line: from X import _name`` for every import, anywhere in a module (deferred ones
    included), of an underscore-prefixed name from another ``polaris_repro`` module.  A private
    submodule (``from . import _import_hooks``) is a module, not a name, and does not count."""
    mods = _modules()
    found = []
    for name, path in mods.items():
        pkg = _package_of(name, path)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            mod = _from_module(pkg, node)
            if mod != "polaris_repro" and not mod.startswith("polaris_repro."):
                continue
            for a in node.names:
                private = a.name.startswith("_") and not a.name.startswith("__")
                if private and mod != name and f"{mod}.{a.name}" not in mods:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: from {mod} import {a.name}")
    return found


def _module_aliases(tree: ast.Module, pkg: str, mods: dict[str, Path]) -> dict[str, str]:
    """``{local name: polaris_repro module}`` for every name an import anywhere in the module binds
    to a ``polaris_repro`` module (``import polaris_repro.x as m``, ``from . import claims as C``,
    ``from .training import stages``; ``import polaris_repro.x`` binds ``polaris_repro``)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in mods:
                    if a.asname:
                        out[a.asname] = a.name
                    else:
                        out[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            mod = _from_module(pkg, node)
            for a in node.names:
                if f"{mod}.{a.name}" in mods:
                    out[a.asname or a.name] = f"{mod}.{a.name}"
    return out


def private_attributes_in(tree: ast.Module, name: str, pkg: str, mods: dict[str, Path]) -> list[tuple[int, str]]:
    """``(line, module._name)`` for every underscore-prefixed name module ``name`` (in package
    ``pkg``) reaches as an attribute of another ``polaris_repro`` module it imported. A private
    submodule reached as an attribute is a module, not a name, and does not count."""
    aliases = _module_aliases(tree, pkg, mods)
    found = []
    for node in ast.walk(tree):
        if not aliases or not isinstance(node, ast.Attribute):
            continue
        chain, base = [node.attr], node.value
        while isinstance(base, ast.Attribute):
            chain.insert(0, base.attr)
            base = base.value
        if not isinstance(base, ast.Name) or base.id not in aliases:
            continue
        mod = aliases[base.id]
        for attr in chain:      # through submodules: polaris_repro.training.stages._x
            if f"{mod}.{attr}" in mods:
                mod = f"{mod}.{attr}"
                continue
            if attr.startswith("_") and not attr.startswith("__") and mod != name:
                found.append((node.lineno, f"{mod}.{attr}"))
            break
    return found


def private_attributes() -> list[str]:
    """``file:line: module._name`` over the package (:func:`private_attributes_in`): ``C._fmt``
    after ``from . import claims as C``, ``polaris_repro.report._page`` after
    ``import polaris_repro.report``."""
    mods = _modules()
    found = set()
    for name, path in mods.items():
        for line, what in private_attributes_in(ast.parse(path.read_text()), name, _package_of(name, path), mods):
            found.add(f"{path.relative_to(REPO)}:{line}: {what}")
    return sorted(found)


def test_no_private_names_imported_across_modules():
    """A helper that another module needs is public (no leading underscore) in the module that
    defines it; package ``__init__``s re-export public names only."""
    found = private_imports()
    assert not found, "underscore-prefixed names imported from another module:\n" + "\n".join(found)


def test_no_private_names_reached_across_modules():
    """Nor is a private helper reached as an attribute of the module that defines it
    (``claims._fmt`` from the report): the import rule above cannot see those."""
    found = private_attributes()
    assert not found, "underscore-prefixed names of another module used as attributes:\n" + "\n".join(found)


def test_the_attribute_rule_sees_aliased_and_dotted_modules():
    src = ("from . import claims as C\nimport polaris_repro.report\nfrom .training import stages\n"
           "def f(self):\n"
           "    from . import sections\n"
           "    return (C._fmt, polaris_repro.report._page, stages._x, sections.__doc__, C.load_claims,\n"
           "            self._cache, polaris_repro.training.stages._y)\n")
    found = private_attributes_in(ast.parse(src), "polaris_repro.plan", "polaris_repro", _modules())
    assert found == [(6, "polaris_repro.claims._fmt"), (6, "polaris_repro.report._page"),
                     (6, "polaris_repro.training.stages._x"), (7, "polaris_repro.training.stages._y")]
    # a module's own private names are its business
    assert not private_attributes_in(ast.parse("from . import claims\nclaims._fmt\n"), "polaris_repro.claims",
                                     "polaris_repro", _modules())


def test_long_modules_say_why():
    over = []
    for name, path in _modules().items():
        n = len(path.read_text().splitlines())
        doc = " ".join((ast.get_docstring(ast.parse(path.read_text())) or "").split())
        if n > MAX_LINES and WHY not in doc:
            over.append(f"{path.relative_to(REPO)}: {n} lines")
    assert not over, (f"modules over {MAX_LINES} lines whose docstring does not say why "
                      f"('{WHY} ...'): {over}")


def test_layout_page_matches_the_tree():
    sys.path.insert(0, str(REPO))
    from tools.layout import PAGE, layout, page_layout

    assert page_layout((REPO / PAGE).read_text()) == layout(), \
        f"{PAGE}'s Layout block is stale: run `python -m tools.layout`"


# ---- the typed configuration (issue 35): the plain dict is read only inside polaris_repro/config/ ----
# A ratchet: the mapping reads of the config (``cfg[...]`` / ``cfg.get(...)``) left outside the config
# package (in the package's modules and the notebooks), in code not yet moved to attribute access
# (``cfg.training.lr``). The number may only go down: lower it when a module moves, never raise it.
CONFIG_READS_LEFT = 0   # every module outside polaris_repro/config/ reads attributes (issue 35, phase 1)
_CONFIG_READ = re.compile(r"\bcfg(\[|\.get\()")


def config_reads_outside_the_config_package() -> dict[str, int]:
    out = {}
    for path in [*sorted(PKG.rglob("*.py")), *sorted((REPO / "notebooks").glob("*.ipynb"))]:
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("polaris_repro/config/"):
            continue
        n = len(_CONFIG_READ.findall(path.read_text()))
        if n:
            out[rel] = n
    return out


def test_config_mapping_reads_only_go_down():
    left = config_reads_outside_the_config_package()
    assert sum(left.values()) <= CONFIG_READS_LEFT, (
        f"{sum(left.values())} cfg[...] / cfg.get(...) reads outside polaris_repro/config/ (at most "
        f"{CONFIG_READS_LEFT}): read the typed config's attributes instead (cfg.training.lr, cfg.stage(x)); {left}")


def test_the_config_read_counter_sees_both_forms():
    assert len(_CONFIG_READ.findall('cfg["training"]["lr"], cfg.get("tier"), cfg.training.lr, xcfg["a"]')) == 2
