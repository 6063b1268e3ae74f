"""The context provider through the real engine (scripted backend): what reaches the prompt,
the budget, the cache-stable layout, incremental buffers and the secret canaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeslm.backends.fake import FakeBackend
from codeslm.config import Config
from codeslm.context import WorkspaceProvider, provider_for_root
from codeslm.context.incremental import edit_span
from codeslm.context.port import estimate_tokens
from codeslm.context.records import build_record
from codeslm.context.tags import extract
from codeslm.documents import read_document
from codeslm.engine import CompletionEngine
from codeslm.types import Document, Position

from .conftest import CANARIES


@pytest.fixture
def provider(repo: Path, config: Config) -> WorkspaceProvider:
    p = WorkspaceProvider.open(repo, config)
    yield p
    p.close()


def _doc(repo: Path, rel: str, text: str | None = None) -> Document:
    d = read_document(repo / rel)
    return Document(text if text is not None else d.text, d.path, d.language)


def _cursor(text: str, marker: str) -> int:
    return text.index(marker) + len(marker)


def _blocks_at(provider: WorkspaceProvider, repo: Path, rel: str, marker: str | None,
               budget: int = 400) -> dict[str, str]:
    """The context blocks (path -> text) for a cursor just after ``marker`` in ``rel`` (its
    last character but one when ``marker`` is None)."""
    doc = _doc(repo, rel)
    offset = _cursor(doc.text, marker) if marker is not None else len(doc.text) - 1
    ctx = provider.context_for(doc, offset, budget_tokens=budget, count_tokens=estimate_tokens)
    return {f.path: f.text for f in ctx.files}


def test_definitions_of_names_near_the_cursor_come_from_their_files(
        repo: Path, provider: WorkspaceProvider) -> None:
    doc = _doc(repo, "pkg/service.py")
    ctx = provider.context_for(doc, _cursor(doc.text, "    user = "), budget_tokens=400,
                               count_tokens=estimate_tokens)
    assert ctx.repo_name == "repo" and ctx.path == "pkg/service.py"
    blocks = {f.path: f.text for f in ctx.files}
    assert "pkg/models.py" in blocks
    models = blocks["pkg/models.py"]
    assert "def make_user(name: str, domain: str = \"example.com\") -> User:" in models
    assert "class User:" in models and "MAX_USERS = 10" in models
    assert "pkg/storage.py" in blocks and "def save_user" in blocks["pkg/storage.py"]


def test_the_budget_is_respected_and_zero_means_nothing(
        repo: Path, provider: WorkspaceProvider) -> None:
    doc = _doc(repo, "pkg/service.py")
    offset = _cursor(doc.text, "    user = ")
    for budget in (0, 10, 60, 150, 1000):
        provider.forget_region()
        ctx = provider.context_for(doc, offset, budget_tokens=budget,
                                   count_tokens=estimate_tokens)
        used = sum(estimate_tokens(f.text) + estimate_tokens(f.path) + 4 for f in ctx.files)
        assert used <= budget
        if budget == 0:
            assert ctx.files == ()


def test_typing_in_place_keeps_every_block_and_the_prompt_prefix(
        repo: Path, config: Config, provider: WorkspaceProvider) -> None:
    async def prompts() -> list[str]:
        engine = CompletionEngine(FakeBackend("x"), config, context_provider=provider)
        doc = _doc(repo, "pkg/service.py")
        offset = _cursor(doc.text, "    user = ")
        out = []
        for typed in ("", "m", "ma", "mak", "make_", "make_u"):
            text = doc.text[:offset] + typed + doc.text[offset:]
            line = text[:offset].count("\n")
            col = offset + len(typed) - (text.rfind("\n", 0, offset) + 1)
            plan = await engine.plan(Document(text, doc.path, doc.language), Position(line, col))
            out.append(plan.prompt)
        return out

    import asyncio

    prompts_ = asyncio.run(prompts())
    head = prompts_[0][: prompts_[0].index("<|fim_prefix|>")]
    assert "<|repo_name|>repo" in head and "<|file_sep|>pkg/models.py" in head
    for prompt in prompts_[1:]:
        shared = _common_prefix(prompts_[0], prompt)
        # Everything up to the cursor is shared: context blocks and the prefix before it.
        assert len(shared) >= prompts_[0].index("    user = ") + len("    user = ")


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def test_moving_elsewhere_recomputes_and_keeps_known_blocks_first(
        repo: Path, provider: WorkspaceProvider) -> None:
    doc = _doc(repo, "pkg/service.py")
    first = provider.context_for(doc, _cursor(doc.text, "    user = "), budget_tokens=400,
                                 count_tokens=estimate_tokens)
    assert not provider.last.reused
    again = provider.context_for(doc, _cursor(doc.text, "    user = m"), budget_tokens=400,
                                 count_tokens=estimate_tokens)
    assert provider.last.reused and again.files[: len(first.files)] == first.files
    other = _doc(repo, "web/app.ts")
    ctx = provider.context_for(other, _cursor(other.text, "  const g = "), budget_tokens=400,
                               count_tokens=estimate_tokens)
    paths = [f.path for f in ctx.files]
    assert "web/util.js" in paths and "pkg/models.py" not in paths


def test_open_buffers_are_indexed_incrementally(repo: Path, provider: WorkspaceProvider) -> None:
    path = repo / "pkg" / "storage.py"
    text = path.read_text()
    edits = [text + "\ndef archive(user):\n    return user\n",
             text.replace("save_user", "store_user"),
             "def only(x):\n    return x\n" + text]
    for new in edits:
        provider.update_document(path, new)
        entry = provider.index.entries["pkg/storage.py"]
        assert entry.symbols == extract(new.encode(), "python").symbols
        full = build_record(new.encode(), "python")
        assert list(entry.tokens) == full["tokens"]
        assert sorted([i.module, [list(p) for p in i.names], i.alias] for i in entry.imports) \
            == sorted(full["imports"])
    assert not provider.index.definitions("save_user") or provider.index.definitions(
        "save_user")[0][0] != "pkg/storage.py" or "save_user" in edits[-1]
    provider.remove_document(path)  # buffer closed: the disk content again
    assert "archive" not in {s.name for s in provider.index.entries["pkg/storage.py"].symbols}


def testedit_span() -> None:
    assert edit_span(b"abcdef", b"abXYef") == (2, 4, 4)
    assert edit_span(b"abc", b"abc!") == (3, 3, 4)
    assert edit_span(b"aaaa", b"aa") == (2, 4, 2)
    assert edit_span(b"", b"new") == (0, 0, 3)


def test_files_changed_on_disk_and_deleted(repo: Path, provider: WorkspaceProvider) -> None:
    util = repo / "web" / "util.js"
    util.write_text(util.read_text() + "\nexport function shout(s) { return s; }\n")
    provider.file_changed(util)
    assert "shout" in {s.name for s in provider.index.entries["web/util.js"].symbols}
    util.unlink()
    provider.file_changed(util)
    assert "web/util.js" not in provider.index.entries


def test_unknown_languages_and_outside_files_never_fail(
        repo: Path, tmp_path: Path, provider: WorkspaceProvider) -> None:
    doc = _doc(repo, "notes.xyz")
    ctx = provider.context_for(doc, len(doc.text), budget_tokens=300,
                               count_tokens=estimate_tokens)
    assert all(f.path != "notes.xyz" or "make_user" in f.text for f in ctx.files)
    outside = tmp_path / "elsewhere.py"
    outside.write_text("import os\nos.")
    doc = Document(outside.read_text(), str(outside), "python")
    assert provider.context_for(doc, len(doc.text), budget_tokens=300,
                                count_tokens=estimate_tokens).files == ()
    untitled = Document("x = 1\n", None, "python")
    assert provider.context_for(untitled, 3, budget_tokens=300,
                                count_tokens=estimate_tokens).files == ()


def test_no_prompt_ever_contains_a_canary_secret(repo: Path, config: Config) -> None:
    """Canaries in .env, a key file, a .netrc, a key block in a text file and string literals in
    code: complete everywhere in every indexed file and check every prompt."""
    import asyncio

    backend = FakeBackend("pass")
    provider = WorkspaceProvider.open(repo, config)
    engine = CompletionEngine(backend, config, context_provider=provider)

    async def complete_everywhere() -> list[str]:
        prompts = []
        for rel in sorted(provider.index.entries):
            if rel == "pkg/settings.py":
                continue  # the user's own open file is shown to the model as it is
            doc = _doc(repo, rel)
            lines = doc.text.split("\n")
            for line in range(0, len(lines), 2):
                provider.forget_region()
                plan = await engine.plan(doc, Position(line, len(lines[line])))
                prompts.append(plan.prompt)
        # The settings module's names typed in another file, completed for real.
        doc = _doc(repo, "pkg/service.py")
        text = doc.text + "\nfrom .settings import STRIPE_KEY, DB_PASSWORD\nkey = STRIPE_KEY\n"
        provider.forget_region()
        await engine.complete(Document(text, doc.path, doc.language),
                              Position(text.count("\n"), 0))
        return prompts + [r.prompt or "" for r in backend.requests]

    prompts = asyncio.run(complete_everywhere())
    assert len(prompts) > 20 and backend.requests
    assert any("STRIPE_KEY = " in p for p in prompts)  # the definition is shown, redacted
    for canary in CANARIES:
        assert not any(canary in p for p in prompts), canary
    provider.close()


def test_language_server_factory_refreshes_in_the_background(repo: Path, config: Config) -> None:
    provider = provider_for_root(str(repo), config)
    assert provider._refresh_thread is not None
    provider._refresh_thread.join(timeout=30)
    doc = _doc(repo, "pkg/service.py")
    ctx = provider.context_for(doc, _cursor(doc.text, "    user = "), budget_tokens=400,
                               count_tokens=estimate_tokens)
    assert any(f.path == "pkg/models.py" for f in ctx.files)
    provider.close()


def test_typing_a_new_name_keeps_the_blocks_until_the_cursor_leaves_the_region(
        repo: Path, provider: WorkspaceProvider) -> None:
    extra = repo / "pkg" / "audit.py"
    extra.write_text("def audit_trail(user, action: str) -> None:\n    print(user, action)\n")
    provider.file_changed(extra)
    doc = _doc(repo, "pkg/service.py")
    at = doc.text.index("    return user\n")
    first = provider.context_for(doc, at, budget_tokens=1000, count_tokens=estimate_tokens)
    assert "audit_trail" not in "".join(f.text for f in first.files)
    typed = doc.text[:at] + "    audit_trail(" + doc.text[at:]
    typed_doc = Document(typed, doc.path, doc.language)
    second = provider.context_for(typed_doc, at + len("    audit_trail("), budget_tokens=1000,
                                  count_tokens=estimate_tokens)
    assert provider.last.reused and second.files == first.files
    provider.forget_region(doc.path)  # what leaving the region does
    third = provider.context_for(typed_doc, at + len("    audit_trail("), budget_tokens=1000,
                                 count_tokens=estimate_tokens)
    assert "def audit_trail(user, action: str) -> None:" in "".join(f.text for f in third.files)


def test_the_pure_builder_ranks_without_a_provider(repo: Path, provider: WorkspaceProvider) -> None:
    """``ContextBuilder.build``: index + cursor in, best snippets out (what other features use)."""
    from codeslm.context.builder import CursorQuery

    doc = _doc(repo, "pkg/service.py")
    offset = _cursor(doc.text, "    user = ")
    query = CursorQuery("pkg/service.py", "python", doc.text, offset, 0, len(doc.text))
    chosen = provider.builder.build(query, budget_tokens=300, count_tokens=estimate_tokens)
    assert chosen and chosen == sorted(chosen, key=lambda s: -s.score)
    assert any(s.path == "pkg/models.py" and "def make_user" in s.text for s in chosen)
    assert all(s.path != "pkg/service.py" for s in chosen)  # the whole file is the window


PACKAGE = {
    "shop/__init__.py": "from ._config import *\nfrom ._models import Order as Order\n"
                        "from ._http import *\n\n__all__ = ['Limits', 'Order', 'fetch']\n",
    "shop/_config.py": "class Limits:\n    \"\"\"How much a client may do.\"\"\"\n\n"
                       "    def __init__(self, *, max_orders: int = 10, max_items: int = 3):\n"
                       "        self.max_orders = max_orders\n"
                       "        self.max_items = max_items\n\n"
                       "    def allows(self, count: int) -> bool:\n"
                       "        return count <= self.max_orders\n"
                       "\n\nclass Timeout:\n    def __init__(self, seconds: float):\n"
                       "        self.seconds = seconds\n\n\ndef _private():\n    return 1\n",
    "shop/_models.py": "class Order:\n    def __init__(self, item: str, quantity: int = 1):\n"
                       "        self.item = item\n        self.quantity = quantity\n",
    "shop/_http.py": "def fetch(url: str, *, timeout: float = 5.0, retries: int = 2,\n"
                     "          verify: bool = True, headers: dict | None = None,\n"
                     "          follow_redirects: bool = False) -> bytes:\n"
                     "    return b''\n",
    "tests/test_shop.py": "import shop\n\n\ndef test_limits():\n    limits = shop.\n",
}


def test_a_package_s_reexported_api_is_offered_after_its_name_and_a_dot(
        tmp_path: Path, config: Config) -> None:
    """``limits = shop.``: the package ``__init__`` only re-exports, so its API comes from the
    files it star-imports and imports; the class the line names is offered whole (with its
    constructor), the rest as one-line stubs, private names never."""
    from .conftest import write_repo

    root = write_repo(tmp_path / "shop", PACKAGE)
    p = WorkspaceProvider.open(root, config)
    try:
        doc = _doc(root, "tests/test_shop.py")
        ctx = p.context_for(doc, _cursor(doc.text, "limits = shop."), budget_tokens=600,
                            count_tokens=estimate_tokens)
        text = "\n".join(f"<{f.path}>\n{f.text}" for f in ctx.files)
        assert "max_orders: int = 10" in text  # Limits whole, constructor included
        assert "class Order: ..." in text and "class Timeout: ..." in text
        assert "def fetch(url: str, *, timeout: float = 5.0" in text
        assert "_private" not in text
        assert text.count("class Limits") == 1
    finally:
        p.close()


RECEIVERS = {
    "billing/models.py": "class Invoice:\n    def __init__(self, number: str):\n"
                         "        self.number = number\n\n"
                         "    def total_due(self) -> float:\n        return 0.0\n\n"
                         "    def mark_paid(self, when: str) -> None:\n        pass\n",
    "billing/other.py": "class Receipt:\n    def printable(self) -> str:\n        return ''\n",
    "billing/service.py": "from billing.models import Invoice\n\n\n"
                          "class Biller:\n    @staticmethod\n"
                          "    def issue(number: str) -> Invoice:\n"
                          "        return Invoice(number)\n\n\n"
                          "def open_invoice(number: str) -> 'Invoice':\n"
                          "    return Invoice(number)\n",
    "returned.py": "from billing.service import Biller, open_invoice\n\n\n"
                   + "".join(f"def filler_{i}():\n    return {i}\n\n\n" for i in range(12))
                   + "def by_function():\n    x = open_invoice('7')\n    return x.\n\n\n"
                   + "def by_method():\n    made = Biller.issue('7')\n    return made.\n",
    "app.py": "from billing.models import Invoice\n\n\n"
              + "".join(f"def filler_{i}():\n    return {i}\n\n\n" for i in range(12)) +
              "def annotated(doc: Invoice):\n    return doc.\n\n\n"
              "def constructed():\n    bill = Invoice('7')\n    return bill.\n\n\n"
              "def unknown(thing):\n    return thing.\n",
    "named.py": "from billing.models import Invoice\n\n\n"
                + "".join(f"def filler_{i}():\n    return {i}\n\n\n" for i in range(12))
                + "def named(invoice):\n    return invoice.\n\n\n"
                + "".join(f"def after_{i}():\n    return {i}\n\n\n" for i in range(4)),
}


@pytest.mark.parametrize("where", [("app.py", "return doc."), ("app.py", "return bill."),
                                   ("named.py", "return invoice."),
                                   ("returned.py", "return x."),
                                   ("returned.py", "return made.")])
def test_the_class_of_a_variable_before_a_dot_is_offered(
        tmp_path: Path, config: Config, where: tuple[str, str]) -> None:
    """``doc: Invoice`` (annotation), ``bill = Invoice(...)`` (construction), ``invoice``
    (named like the class, with ``Invoice`` imported far above) and ``x = open_invoice(...)`` /
    ``made = Biller.issue(...)`` (the called function's return annotation): the class outline
    with its members reaches the prompt; a variable with no known class brings nothing."""
    from .conftest import write_repo

    root = write_repo(tmp_path / "billing", RECEIVERS)
    p = WorkspaceProvider.open(root, config)
    try:
        blocks = _blocks_at(p, root, *where)
        assert "def total_due(self) -> float:" in blocks.get("billing/models.py", ""), blocks
        p.forget_region()
        doc = _doc(root, "app.py")
        unknown = p.context_for(doc, _cursor(doc.text, "return thing."), budget_tokens=400,
                                count_tokens=estimate_tokens)
        assert "billing/other.py" not in {f.path for f in unknown.files}
    finally:
        p.close()


def test_a_long_signature_s_return_class_and_its_base_are_offered(
        tmp_path: Path, config: Config) -> None:
    """``result = Runner.stream(...)`` where ``stream`` has more parameters than a stored
    signature keeps: its return annotation is read from the source, and the members of the
    returned class's base (defined in another module) reach the prompt with the class."""
    from .conftest import write_repo

    params = "".join(f"        p{i}: int = {i},\n" for i in range(10))
    root = write_repo(tmp_path / "runner", {
        "pkg/__init__.py": "",
        "pkg/base.py": "class ResultBase:\n    def to_input_list(self) -> list[str]:\n"
                       "        return []\n",
        "pkg/result.py": "from pkg.base import ResultBase\n\n\n"
                         "class StreamedResult(ResultBase):\n    current_turn: int = 0\n",
        "pkg/run.py": "from pkg.result import StreamedResult\n\n\nclass Runner:\n"
                      "    @classmethod\n    def stream(\n        cls,\n" + params
                      + "    ) -> StreamedResult:\n        return StreamedResult()\n",
        "main.py": "from pkg.run import Runner\n\n\n"
                   + "".join(f"def filler_{i}():\n    return {i}\n\n\n" for i in range(12))
                   + "def go():\n    result = Runner.stream(1)\n    return result.\n",
    })
    p = WorkspaceProvider.open(root, config)
    try:
        blocks = _blocks_at(p, root, "main.py", "return result.")
        assert "class StreamedResult(ResultBase):" in blocks.get("pkg/result.py", ""), blocks
        assert "def to_input_list(self)" in blocks.get("pkg/base.py", ""), blocks
    finally:
        p.close()


def test_a_context_left_empty_before_the_index_was_built_is_chosen_again(
        tmp_path: Path, config: Config) -> None:
    """A file opened while the background refresh runs gets no blocks at first; once the index
    is built, the same place must get them (an empty choice is not kept sticky)."""
    from .conftest import write_repo

    root = write_repo(tmp_path / "early", {
        "helpers.py": "def scale_factor():\n    return 42\n",
        "main.py": "from helpers import scale_factor\n\nx = scale_factor()\n",
    })
    p = WorkspaceProvider.open(root, config, refresh="none")
    try:
        doc = _doc(root, "main.py")
        offset = len(doc.text)
        before = p.context_for(doc, offset, budget_tokens=300, count_tokens=estimate_tokens)
        assert not any("return 42" in f.text for f in before.files)
        p.refresh(workers=1)
        after = p.context_for(doc, offset, budget_tokens=300, count_tokens=estimate_tokens)
        assert any("return 42" in f.text for f in after.files)
    finally:
        p.close()


def test_a_name_imported_but_not_used_yet_is_offered_and_a_local_is_not_resolved(
        tmp_path: Path, config: Config) -> None:
    """``stdio_server`` is imported far above the cursor and used nowhere yet: the user is
    likely about to call it, so its definition is offered. ``version`` is a local variable
    near the cursor: the repository's unrelated ``version()`` command is not; nor is the
    repository's ``Console.info`` for ``logger.info`` (a logger comes from outside)."""
    from .conftest import write_repo

    root = write_repo(tmp_path / "unused", {
        "transport.py": "def stdio_server(stdin=None, stdout=None):\n"
                        "    \"\"\"Yield a (read_stream, write_stream) pair.\"\"\"\n"
                        "    return stdin, stdout\n",
        "cli.py": "def version() -> None:\n    \"\"\"Print the CLI version banner.\"\"\"\n",
        "ui.py": "class Console:\n    def info(self, text):\n        \"\"\"Show text.\"\"\"\n",
        "main.py": "import logging\n\nfrom transport import stdio_server\n\n"
                   "logger = logging.getLogger(__name__)\n\n\n"
                   + "".join(f"def filler_{i}():\n    return {i}\n\n\n" for i in range(12))
                   + "def main():\n    version = read_version()\n    print(version)\n"
                   + "    logger.info('starting')\n    with \n",
    })
    p = WorkspaceProvider.open(root, config)
    try:
        blocks = _blocks_at(p, root, "main.py", "    with ")
        assert "def stdio_server(stdin=None, stdout=None):" in blocks.get("transport.py", "")
        assert "cli.py" not in blocks and "ui.py" not in blocks
    finally:
        p.close()


def test_a_long_function_shows_what_it_gives_back(tmp_path: Path, config: Config) -> None:
    """A definition too long to show whole keeps its signature, first lines and, after the
    elision, its last ``yield``/``return``: what a caller binds (``as (read, write)``)."""
    from .conftest import write_repo

    body = "".join(f"        step_{i} = prepare({i})\n" for i in range(20))
    root = write_repo(tmp_path / "streams", {
        "transport.py": "import contextlib\n\n\n@contextlib.contextmanager\n"
                        "def open_streams(url: str):\n    \"\"\"Connect to url.\"\"\"\n"
                        "    with connect(url) as conn:\n" + body
                        + "        yield conn.reader, conn.writer\n",
        "client.py": "from transport import open_streams\n\n\ndef run(url):\n"
                     "    with open_streams(url) as \n",
    })
    p = WorkspaceProvider.open(root, config)
    try:
        doc = _doc(root, "client.py")
        ctx = p.context_for(doc, _cursor(doc.text, "open_streams(url) as "), budget_tokens=400,
                            count_tokens=estimate_tokens)
        shown = {f.path: f.text for f in ctx.files}.get("transport.py", "")
        assert "def open_streams(url: str):" in shown and "step_19" not in shown
        assert shown.rstrip().endswith("yield conn.reader, conn.writer")
    finally:
        p.close()


def test_module_paths_and_strings_are_not_uses_of_a_name(tmp_path: Path, config: Config) -> None:
    """``shop`` in ``from shop.models import Order`` and in ``"shop"`` is no use of the
    repository's ``shop()`` function; ``Order``, imported and used, is."""
    from .conftest import write_repo

    root = write_repo(tmp_path / "paths", {
        "shop/__init__.py": "",
        "shop/models.py": "class Order:\n    def total(self) -> float:\n        return 0.0\n",
        "helpers.py": "def shop():\n    \"\"\"Open the shop for the day.\"\"\"\n    return 1\n",
        "main.py": "from shop.models import Order\n\nLABEL = \"shop\"\n\n\ndef run():\n"
                   "    order = Order()\n    print(LABEL, order)\n    \n",
    })
    p = WorkspaceProvider.open(root, config)
    try:
        blocks = _blocks_at(p, root, "main.py", None)
        assert "class Order:" in blocks.get("shop/models.py", ""), blocks
        assert "helpers.py" not in blocks
    finally:
        p.close()
