"""The tree's rules, pinned (as httpx pins its exported members): ``parent`` may import ``child``, never the
reverse; only ``parent`` (and the operator and local tools) talk to SQS; the sandbox knows neither process;
``container/`` imports nothing from ``worker/``; each package says what it holds; no module grows past the
size one reads at a sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 320  # "about 300"


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def names_used(path: Path) -> set[str]:
    return {
        node.id if isinstance(node, ast.Name) else node.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.Name, ast.Attribute))
    }


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("worker.child", ("worker.parent", "worker.ops", "worker.local")),
        ("worker.sandbox", ("worker.parent", "worker.child", "worker.ops", "worker.local")),
        (
            "worker.s3events",
            ("worker.parent", "worker.child", "worker.sandbox", "worker.ops", "worker.local"),
        ),
        ("worker.parent", ("worker.ops.cli", "worker.local")),
        ("container", ("worker",)),
    ],
)
def test_what_each_package_may_not_import(package, forbidden):
    broken = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported(path) if any(m == f or m.startswith(f + ".") for f in forbidden)
        )
        for path in modules(package)
    }
    assert not {k: v for k, v in broken.items() if v}


@pytest.mark.parametrize("package", ["worker.child", "worker.sandbox", "worker.s3events", "container"])
def test_only_the_parent_talks_to_sqs(package):
    talking = [
        str(path.relative_to(ROOT))
        for path in modules(package)
        if {"sqs_client", "worker.parent.sqs"} & (imported(path) | names_used(path))
        or '"sqs"' in path.read_text()
    ]
    assert not talking


def test_every_package_says_what_it_holds():
    silent = [
        str(init.relative_to(ROOT))
        for init in (ROOT / "worker").rglob("__init__.py")
        if ast.get_docstring(ast.parse(init.read_text())) is None
    ]
    assert not silent


def test_no_module_is_longer_than_one_reads_at_a_sitting():
    long = {
        str(p.relative_to(ROOT)): n
        for package in ("worker", "container")
        for p in modules(package)
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long
