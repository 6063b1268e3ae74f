"""The layers of codeslm, lowest first; no module imports from a layer above its own.

- **values**: plain data and the errors every layer raises (``types``, ``errors``, ``config``);
- **core**: what codeslm decides, with no process, network or editor in sight: completion,
  context, actions, generation, git messages and reviews. It talks to a model only through
  the :class:`~codeslm.backends.base.Backend` port;
- **runtime**: what runs models: the backends behind that port, model files, managed servers,
  daemons, llama.cpp builds, fine-tuning, the evaluations, and the composition root
  (``session``) that wires a backend, a context provider and an engine together;
- **edges**: what people and editors talk to: the CLI, the language server, setup scripts,
  ``doctor``, editor configurations.

A lazy import inside a function counts like one at the top. A new module must be placed in
:data:`LAYERS` (the longest matching prefix wins), so the table stays the map of the tree.
"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

from .walk import ALL_MODULES, Module

VALUES, CORE, RUNTIME, EDGES = range(4)
NAMES = ("values", "core", "runtime", "edges")

LAYERS: dict[str, int] = {
    "codeslm": VALUES,  # the package itself: __version__
    "codeslm.types": VALUES,
    "codeslm.errors": VALUES,
    "codeslm.paths": VALUES,
    "codeslm.config": VALUES,
    "codeslm.fileio": VALUES,
    "codeslm.completion": CORE,
    "codeslm.context": CORE,
    "codeslm.engine": CORE,
    "codeslm.actions": CORE,
    "codeslm.generate": CORE,
    "codeslm.candidates": CORE,
    "codeslm.stats": CORE,
    "codeslm.fim": CORE,
    "codeslm.templates": CORE,
    "codeslm.outline": CORE,
    "codeslm.textedit": CORE,
    "codeslm.documents": CORE,
    "codeslm.redaction": CORE,
    "codeslm.secret_content": CORE,
    "codeslm.git": CORE,
    "codeslm.backends.base": CORE,  # the port the core calls; its implementations are runtime
    "codeslm.backends": RUNTIME,
    "codeslm.runtime": RUNTIME,  # models, servers, the llama.cpp build, vLLM's environment
    "codeslm.session": RUNTIME,  # the composition root
    "codeslm.evaluation": RUNTIME,  # runs the engine over a session, as tune does
    "codeslm.tune": RUNTIME,  # training a LoRA adapter; the llama.cpp backend loads its store
    "codeslm.cli": EDGES,
    "codeslm.lsp": EDGES,
    "codeslm.bootstrap": EDGES,
    "codeslm.__main__": EDGES,
}

# Imports that go up a layer today, each with why it is tolerated; empty is the goal.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}

# Libraries that belong to one layer and above: the core never touches an editor protocol
# or a model runtime.
LIBRARIES: dict[str, int] = {
    "pygls": EDGES,
    "lsprotocol": EDGES,
    "llama_cpp": RUNTIME,
    "vllm": RUNTIME,
}


def layer_of(name: str) -> int | None:
    """The layer of a dotted module name (longest matching prefix), None when unplaced."""
    best: tuple[int, int] | None = None
    for prefix, layer in LAYERS.items():
        if (name == prefix or name.startswith(prefix + ".")) and (
            best is None or len(prefix) > best[0]
        ):
            best = (len(prefix), layer)
    return None if best is None else best[1]


ALL = ALL_MODULES


def test_every_folder_of_modules_is_a_package() -> None:
    """A folder of modules without ``__init__.py`` is a namespace package: it imports, but
    setuptools' package list and the type checker treat it differently."""
    folders = {m.path.parent for m in ALL}
    bare = sorted(str(f.relative_to(REPO)) for f in folders if not (f / "__init__.py").is_file())
    assert bare == []


def test_every_module_has_a_layer() -> None:
    unplaced = [m.rel for m in ALL if layer_of(m.name) is None]
    assert unplaced == [], "add these to LAYERS in tests/architecture/test_layers.py"


def test_no_module_imports_from_a_higher_layer() -> None:
    offenders = []
    for module in ALL:
        own = layer_of(module.name)
        if own is None:
            continue
        for name in sorted(module.imports()):
            target = layer_of(name)
            if target is None or target <= own or (module.name, name) in ALLOWED_UPWARD:
                continue
            offenders.append(f"{module.rel} ({NAMES[own]}) imports {name} ({NAMES[target]})")
    assert offenders == []


def test_allowed_upward_imports_still_exist() -> None:
    """An exception nobody needs any more is removed, so the list only shrinks."""
    by_name = {m.name: m for m in ALL}
    stale = [
        pair
        for pair in ALLOWED_UPWARD
        if pair[0] not in by_name or pair[1] not in by_name[pair[0]].imports()
    ]
    assert stale == []


def _third_party(module: Module) -> set[str]:
    found = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_libraries_stay_in_their_layer(library: str) -> None:
    lowest = LIBRARIES[library]
    offenders = [
        m.rel for m in ALL if library in _third_party(m) and (layer_of(m.name) or EDGES) < lowest
    ]
    assert offenders == []
