"""Review output as text (``path:line: severity: message``), JSON or SARIF 2.1.0."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from .. import __version__
from .findings import Finding
from .review import ReviewResult

FORMATS = ("text", "json", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"high": "error", "medium": "warning", "low": "note"}
_RULES = {
    "secret": "A secret or secret file is being committed.",
    "conflict-marker": "A merge conflict marker was left in the file.",
    "debug-code": "Leftover debugging code.",
    "swallowed-error": "An error is caught and silently ignored.",
    "bare-except": "A bare except clause.",
    "model": "A possible problem noticed by the local model (advisory).",
}


def render(result: ReviewResult, fmt: str) -> str:
    """The review in ``fmt`` (one of :data:`FORMATS`), ending with a newline."""
    if fmt == "json":
        return json.dumps(as_json(result), indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(as_sarif(result), indent=2) + "\n"
    return as_text(result)


def as_text(result: ReviewResult) -> str:
    lines = [f"{f.path}:{f.line}: {f.severity}: {f.message} [{f.rule}]" for f in result.findings]
    return "\n".join(lines) + "\n" if lines else ""


def as_json(result: ReviewResult) -> dict[str, Any]:
    return {
        "target": result.target,
        "findings": [f.as_dict() for f in result.findings],
        "reviewed_files": result.reviewed,
        "notes": result.notes,
        "model": result.model,
        "model_calls": result.model_calls,
        "dropped_model_findings": result.dropped,
        "elapsed_s": round(result.elapsed_s, 3),
    }


def as_sarif(result: ReviewResult) -> dict[str, Any]:
    used = sorted({f.rule for f in result.findings})
    rules = [{"id": rule, "shortDescription": {"text": _RULES.get(rule, rule)}} for rule in used]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "codeslm",
                "version": __version__,
                "informationUri": "https://github.com/codeslm/codeslm",
                "rules": rules,
            }},
            "results": [_sarif_result(f, used.index(f.rule)) for f in result.findings],
            "properties": {"target": result.target, "notes": result.notes},
        }],
    }


def _sarif_result(finding: Finding, rule_index: int) -> dict[str, Any]:
    return {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.severity],
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": quote(finding.path), "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": finding.line},
        }}],
        "properties": {"source": finding.source, "severity": finding.severity},
    }
