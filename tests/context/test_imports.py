"""Import extraction and resolution to workspace files."""

from __future__ import annotations

from codeslm.context.imports import Import, PathLookup, extract_imports, resolve

PATHS = PathLookup([
    "src/pkg/__init__.py", "src/pkg/models.py", "src/pkg/sub/__init__.py", "src/pkg/sub/deep.py",
    "web/util.ts", "web/lib/index.js", "cmd/server/main.go", "internal/store/store.go",
    "src/main/java/com/acme/Account.java", "src/geo.rs", "src/geo/shapes.rs", "include/vec.h",
    "src/vec.c",
])


def test_python_imports_and_aliases() -> None:
    found = extract_imports(
        "from .models import (User as U,\n    make)\nimport os.path, json as j\n"
        "from . import sub\n", "python")
    assert Import(".models", (("User", "U"), ("make", "make"))) in found
    assert Import("os.path", (), "os") in found
    assert Import("json", (), "j") in found
    assert Import(".", (("sub", "sub"),)) in found


def test_python_resolution_relative_and_absolute() -> None:
    here = "src/pkg/sub/deep.py"
    assert resolve(Import("..models", (("User", "User"),)), here, "python", PATHS) == [
        "src/pkg/models.py"]
    assert resolve(Import("pkg.sub"), "tests/t.py", "python", PATHS) == ["src/pkg/sub/__init__.py"]
    assert resolve(Import(".", (("deep", "deep"),)), here, "python", PATHS) == [
        "src/pkg/sub/__init__.py", "src/pkg/sub/deep.py"]
    assert resolve(Import("requests"), here, "python", PATHS) == []
    # A module named like the standard library's, deep inside a package, is not what an
    # absolute ``import logging`` gets; a top-level one is.
    nested = PathLookup(["src/pkg/__init__.py", "src/pkg/util/__init__.py",
                         "src/pkg/util/logging.py"])
    assert resolve(Import("logging", (), "logging"), here, "python", nested) == []
    assert resolve(Import("pkg.util.logging"), here, "python", nested) == [
        "src/pkg/util/logging.py"]
    top = PathLookup(["scripts/logging.py"])
    assert resolve(Import("logging", (), "logging"), "scripts/run.py", "python", top) == [
        "scripts/logging.py"]


def test_javascript_and_typescript() -> None:
    found = extract_imports("import D, { a as b } from './util';\n"
                            "const { x } = require('./lib');\n", "typescript")
    assert Import("./util", (("a", "b"), ("default", "D"))) in found
    assert resolve(Import("./util"), "web/app.ts", "typescript", PATHS) == ["web/util.ts"]
    assert resolve(Import("./lib"), "web/app.ts", "javascript", PATHS) == ["web/lib/index.js"]
    assert resolve(Import("react"), "web/app.ts", "typescript", PATHS) == []


def test_go_java_rust_c() -> None:
    go = extract_imports('import (\n\t"fmt"\n\tst "example.com/app/internal/store"\n)\n', "go")
    assert Import("example.com/app/internal/store", (), "st") in go
    assert resolve(go[1], "cmd/server/main.go", "go", PATHS) == ["internal/store/store.go"]
    java = extract_imports("import com.acme.Account;\n", "java")
    assert resolve(java[0], "X.java", "java", PATHS) == ["src/main/java/com/acme/Account.java"]
    rust = extract_imports("use crate::geo::shapes::{Circle, Square as Sq};\n", "rust")
    assert rust[0].names == (("Circle", "Circle"), ("Square", "Sq"))
    assert resolve(rust[0], "src/main.rs", "rust", PATHS) == ["src/geo/shapes.rs"]
    c = extract_imports('#include "vec.h"\n#include <stdio.h>\n', "c")
    assert [i.module for i in c] == ["vec.h"]
    assert resolve(c[0], "src/vec.c", "c", PATHS) == ["include/vec.h"]


def test_unknown_language_has_no_imports() -> None:
    assert extract_imports("import x", None) == []
    assert resolve(Import("x"), "a", None, PATHS) == []
