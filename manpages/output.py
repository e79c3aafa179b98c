"""Findings as text, JSON, SARIF 2.1.0 or GitHub workflow commands.

Every format carries the same facts: path, line, column (1-based), rule id and name,
severity, message, subject and, for semantic findings, evidence. The JSON shape is
``{"findings": [...]}`` and is described by schema/findings.schema.json.
"""

from __future__ import annotations

import json
from urllib.parse import quote

FORMATS = ("text", "json", "sarif", "github")
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_SARIF_LEVELS = {"error": "error", "warning": "warning", "info": "note"}
_GITHUB_LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def render(fmt: str, findings: list, rules: list) -> str:
    """The findings in format `fmt`; `rules` are the rules that ran (SARIF lists them)."""
    if fmt == "json":
        return as_json(findings)
    if fmt == "sarif":
        return json.dumps(as_sarif(findings, rules), indent=2)
    if fmt == "github":
        return "\n".join(github_line(f) for f in findings)
    return "\n".join(str(f) for f in findings)


def as_json(findings: list) -> str:
    return json.dumps({"findings": [f.as_dict() for f in findings]}, indent=2)


def _rule_descriptor(rule) -> dict:
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.doc or rule.summary},
        "defaultConfiguration": {"level": _SARIF_LEVELS[rule.severity]},
        "properties": {"category": rule.category},
    }


def as_sarif(findings: list, rules: list) -> dict:
    from mmsem import __version__

    index = {rule.id: n for n, rule in enumerate(rules)}
    results = []
    for f in findings:
        result = {
            "ruleId": f.rule,
            "level": _SARIF_LEVELS[f.severity],
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": quote(f.origin.path)},
                "region": {"startLine": f.origin.line, "startColumn": f.origin.col},
            }}],
            "properties": {"subject": f.subject},
        }
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        if f.evidence is not None:
            result["properties"]["evidence"] = f.evidence.as_dict()
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "mmsem", "version": __version__,
                                "informationUri": "https://mmsem.invalid/lint",
                                "rules": [_rule_descriptor(rule) for rule in rules]}},
            "results": results,
        }],
    }


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(f) -> str:
    """``::warning file=PATH,line=L,col=C,title=RULE::message`` (a GitHub Actions annotation)."""
    return (f"::{_GITHUB_LEVELS[f.severity]} file={_escape_property(f.origin.path)},line={f.origin.line},"
            f"col={f.origin.col},title={_escape_property(f.rule)}::{_escape_data(f.message)}")


def rule_table(rules: list) -> str:
    """What --list-rules prints: id, name, severity, category and the summary, one rule a line."""
    width = max((len(rule.name) for rule in rules), default=0)
    return "\n".join(f"{rule.id}  {rule.name:<{width}}  {rule.severity:<7}  {rule.category:<9}  {rule.summary}"
                     for rule in rules)
