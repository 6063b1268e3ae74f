"""The package as the architecture tests see it: every module of ``codeslm/`` and ``lsp/``
(installed as ``codeslm.lsp``) with its dotted name, and the ``codeslm`` modules it imports
(at the top or inside a function: a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tests.conftest import REPO

ROOTS = (REPO / "codeslm", REPO / "lsp")


@dataclass(frozen=True)
class Module:
    path: Path  # absolute
    name: str  # dotted, as installed: lsp/server.py is codeslm.lsp.server

    @property
    def rel(self) -> str:
        return self.path.relative_to(REPO).as_posix()

    @cached_property
    def tree(self) -> ast.Module:
        return ast.parse(self.path.read_text(), str(self.path))

    @cached_property
    def lines(self) -> int:
        return len(self.path.read_text().splitlines())

    def imports(self) -> set[str]:
        """Dotted names this module imports from codeslm (``from x import y`` gives ``x`` and
        ``x.y``: ``y`` may be a submodule)."""
        package = self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, package)
                found.add(base)
                found |= {f"{base}.{alias.name}" for alias in node.names}
        return {name for name in found if name == "codeslm" or name.startswith("codeslm.")}

    def dependencies(self, known: set[str]) -> set[str]:
        """The ``known`` modules this one depends on: ``from pkg import mod`` is a dependency
        on ``pkg.mod`` alone, and a module's own ancestor packages are left out (a package's
        ``__init__`` re-exporting its modules is not a cycle)."""
        package = self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, package)
                submodules = {f"{base}.{a.name}" for a in node.names} & known
                found |= submodules
                if len(submodules) < len(node.names):
                    found.add(base)
        return {
            name
            for name in found & known
            if name != self.name and not self.name.startswith(name + ".")
        }


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def modules() -> Iterator[Module]:
    for root in ROOTS:
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[0] == "lsp":
                parts = ["codeslm", *parts]
            if parts[-1] == "__init__":
                parts.pop()
            yield Module(path, ".".join(parts))


ALL_MODULES = list(modules())
