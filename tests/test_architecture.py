"""The layering of docs/architecture.md, held against the code: who may import whom, who commits,
where the time comes from, how large a quality module may grow.

Each test reads the source with ``ast`` (nothing is imported or run), names every offending
place, and fails on the first regression, so the rules cannot erode one exception at a time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bridge", "qms", "xapi", "lti")
# Who may import whom: a part is a top-level package or one of bridge's three parts.
ALLOWED = {
    "bridge.core": {"bridge.core"},
    "qms": {"bridge.core", "qms"},
    "xapi": {"bridge.core", "xapi"},
    "lti": {"bridge.core", "qms", "lti"},
    "bridge.rules": {"bridge.core", "bridge.rules", "qms", "xapi", "lti", "bridge.content"},
    "bridge.content": {"bridge.core", "bridge.content", "qms", "xapi", "lti"},
    "bridge.app": set(PACKAGES) | {"bridge.core", "bridge.rules", "bridge.content", "bridge.app"},
}
QMS_MODULE_MAX_LINES = 450


def part(module: str) -> str:
    """The part a dotted module name belongs to."""
    bits = module.split(".")
    if bits[0] == "bridge":
        if len(bits) > 1 and bits[1] in ("core", "rules", "content"):
            return ".".join(bits[:2])
        return "bridge.app"
    return bits[0]


def sources() -> Iterator[tuple[str, str, ast.Module, str]]:
    """(relative path, module name, tree, text) of every application module but migrations."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" in rel:
                continue
            text = path.read_text(encoding="utf-8")
            module = rel[:-3].replace("/", ".").removesuffix(".__init__")
            yield rel, module, ast.parse(text), text


def imported(node: ast.AST) -> list[str]:
    """The project modules an import statement names."""
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if node.module == "bridge":
            return [f"bridge.{a.name}" for a in node.names if a.name != "__version__"]
        return [node.module]
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    return []


def inside_functions(tree: ast.Module) -> set[int]:
    """Ids of every node that sits inside a function body."""
    return {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in ast.walk(f) if n is not f}


def test_imports_run_one_way_down() -> None:
    broken = []
    for rel, module, tree, _text in sources():
        me = part(module)
        for node in ast.walk(tree):
            for target in imported(node):
                if target.split(".")[0] not in PACKAGES or target == "bridge":
                    continue
                if part(target) not in ALLOWED[me]:
                    broken.append(f"{rel}:{node.lineno} ({me}) imports {target}")
    assert broken == []


def test_no_function_local_import_of_another_part() -> None:
    local = []
    for rel, module, tree, _text in sources():
        me = part(module)
        nested = inside_functions(tree)
        for node in ast.walk(tree):
            if id(node) not in nested:
                continue
            for target in imported(node):
                if target.split(".")[0] in PACKAGES and target != "bridge" and part(target) != me:
                    local.append(f"{rel}:{node.lineno} imports {target} inside a function")
    assert local == []


def test_only_the_core_commits() -> None:
    """The request, the command and the worker own the unit of work; they live in bridge/core."""
    commits = []
    for rel, module, tree, _text in sources():
        if part(module) == "bridge.core":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "commit":
                commits.append(f"{rel}:{node.lineno}")
    assert commits == []


def test_packages_do_not_import_the_app_layer() -> None:
    """CLI and demo helpers every package uses are in bridge/core (bridge.core.cli, bridge.core.demo)."""
    found = []
    for rel, module, tree, _text in sources():
        if part(module) == "bridge.app":
            continue
        for node in ast.walk(tree):
            for target in imported(node):
                if target.startswith(("bridge.cli", "bridge.demo", "bridge.app")):
                    found.append(f"{rel}:{node.lineno} imports {target}")
    assert found == []


@pytest.mark.parametrize("package", ["qms", "xapi", "lti", "bridge/rules"])
def test_domain_code_reads_the_injected_clock(package: str) -> None:
    """Times come from ``uow.clock`` (tests and the demo move it), never from the system clock."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if "/migrations/" in rel:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "utcnow" or (name in ("now", "utcnow", "today") and isinstance(func, ast.Attribute)
                                    and getattr(func.value, "attr", getattr(func.value, "id", ""))
                                    in ("datetime", "date")):
                found.append(f"{rel}:{node.lineno}")
    assert found == []


def test_policy_and_settings_are_injected() -> None:
    """Domain code gets the site's policy through the unit of work, not from the environment."""
    found = []
    for rel, module, tree, _text in sources():
        if part(module) in ("bridge.core", "bridge.app") or rel.endswith("__init__.py"):
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("QmsPolicy", "Settings")):
                found.append(f"{rel}:{node.lineno} {node.func.id}()")
    assert found == []


def test_quality_modules_stay_small() -> None:
    big = [f"{rel}: {len(text.splitlines())} lines" for rel, _m, _t, text in sources()
           if rel.startswith("qms/") and len(text.splitlines()) > QMS_MODULE_MAX_LINES]
    assert big == []


def test_the_rules_table_names_every_cross_package_subscription() -> None:
    """Only bridge/rules subscribes handlers to events; packages publish.

    The app layer may observe events without consequence for a record (``bridge/metrics``).
    """
    found = []
    for rel, module, tree, _text in sources():
        if part(module) in ("bridge.rules", "bridge.core", "bridge.app"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "subscribe":
                found.append(f"{rel}:{node.lineno}")
            if isinstance(node, ast.FunctionDef):
                for deco in node.decorator_list:
                    target = deco.func if isinstance(deco, ast.Call) else deco
                    if getattr(target, "attr", getattr(target, "id", "")) == "subscribe":
                        found.append(f"{rel}:{node.lineno} @subscribe")
    assert found == []
