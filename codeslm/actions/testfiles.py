"""Where generated tests go: the conventional test file of each language, and the Python
module a test imports the code from."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..types import Document
from .base import ReadText


def python_module(path: Path, root: Path | None) -> str:
    """The dotted module name of ``path`` under ``root`` (a ``src``/``lib`` layout skipped)."""
    if root is not None:
        try:
            rel = path.with_suffix("").relative_to(root)
        except ValueError:
            rel = Path(path.stem)
    else:
        rel = Path(path.stem)
    parts = list(rel.parts)
    if parts and parts[0] in {"src", "lib"} and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or path.stem


def conventional_test_file(
    document: Document, root: str | None, name: str, *, read_text: ReadText | None = None
) -> tuple[str, str, str]:
    """``(test file path, framework, import hint)`` by the language's conventions."""
    if not document.path:
        raise InputError("tests need a saved file (the buffer has no path)")
    path = Path(document.path)
    root_path = Path(root) if root else None
    lang = document.language
    stem = path.stem
    symbol = f"`{name}`" if name else "the code"
    if lang == "python":
        tests_dir = root_path / "tests" if root_path is not None else None
        if tests_dir is not None and tests_dir.is_dir():
            target = tests_dir / f"test_{stem}.py"
        else:
            target = path.with_name(f"test_{stem}.py")
        module = python_module(path, root_path)
        return str(target), "pytest", f"Import {symbol} with `from {module} import {name or '*'}`. "
    if lang in {"javascript", "typescript", "tsx"}:
        return _javascript(path, root_path, lang, symbol, read_text)
    if lang == "go":
        return (
            str(path.with_name(f"{stem}_test.go")),
            "the standard testing package",
            "Use the same package clause as the code. ",
        )
    if lang == "rust":
        return (
            str(path),
            "#[test] functions in a #[cfg(test)] mod tests",
            "Put them in `mod tests` with `use super::*;`. ",
        )
    if lang == "java":
        parts = list(path.parts)
        if "main" in parts:
            i = len(parts) - 1 - parts[::-1].index("main")
            parts[i] = "test"
            target = Path(*parts).with_name(f"{stem}Test.java")
        else:
            target = path.with_name(f"{stem}Test.java")
        return str(target), "JUnit 5", f"Name the class `{stem}Test`. "
    ext = path.suffix or ".txt"
    return str(path.with_name(f"test_{stem}{ext}")), "the usual test framework of the language", ""


def _javascript(
    path: Path, root: Path | None, lang: str, symbol: str, read_text: ReadText | None
) -> tuple[str, str, str]:
    target = path.with_name(f"{path.stem}.test{path.suffix}")
    framework = "node:test and node:assert"
    package = root / "package.json" if root is not None else None
    manifest = (read_text(str(package)) if read_text and package else None) or ""
    for runner in ("vitest", "jest", "mocha"):
        if f'"{runner}"' in manifest:
            framework = runner
            break
    import_from = f"./{path.stem}" + (".js" if lang == "javascript" else "")
    return str(target), framework, f"Import {symbol} from `{import_from}`. "
