"""The lint rule registry: rules are small functions over a page, the spec and the engine.

A rule is registered with :func:`rule`; its name comes from the function name
(``check_undocumented_errno`` is ``undocumented-errno``) and its docstring is the
help ``mmsem lint --list-rules`` prints (first line: what it reports; then why, and
a Bad/Good pair where that helps). A rule yields :class:`Report` values; the runner
turns them into :class:`Finding` values carrying the rule's id, name and severity,
so a rule never repeats them.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from mmsem.manpages.document import Document, Origin

SEVERITIES = ("error", "warning", "info")
#: Rule categories, in the order --list-rules shows them.
CATEGORIES = ("structure", "coverage", "synopsis", "claims", "style")


@dataclass(frozen=True)
class Evidence:
    """Why a semantic finding holds: a trace and what it did."""

    trace: str  # the counterexample (or witness) trace, as trace YAML
    engine: str  # the engine's outcome, in words
    kernel: str | None = None  # the live kernel's outcome for the same trace, with --kernel

    def as_dict(self) -> dict:
        return {"trace": self.trace, "engine": self.engine, "kernel": self.kernel}


@dataclass(frozen=True)
class Report:
    """What a rule yields: where, what, about which syscall/flag/errno, and evidence."""

    origin: Origin
    message: str
    subject: str = ""
    evidence: Evidence | None = None


@dataclass(frozen=True)
class Finding:
    rule: str  # id, e.g. MM201
    name: str  # e.g. undocumented-errno
    severity: str
    origin: Origin
    message: str
    subject: str = ""
    evidence: Evidence | None = None

    def as_dict(self) -> dict:
        out = {"path": self.origin.path, "line": self.origin.line, "column": self.origin.col,
               "rule": self.rule, "name": self.name, "severity": self.severity,
               "message": self.message, "subject": self.subject}
        if self.evidence is not None:
            out["evidence"] = self.evidence.as_dict()
        return out

    def __str__(self) -> str:
        return f"{self.origin}: {self.severity}: {self.message} [{self.rule}]"


@dataclass
class LintContext:
    """What a rule sees: the page, the spec, the engine and the kernel version judged against.

    ``syscalls`` are the spec's syscalls the page documents (from its NAME section);
    ``engine`` and ``kernel`` (a kernel backend, with --kernel) are shared by every
    rule of a run.
    """

    document: Document
    spec: object  # mmsem.spec.model.Spec
    profile: object  # mmsem.spec.model.Profile
    syscalls: tuple[str, ...] = ()
    engine: object = None  # mmsem.semantics.engine.Engine
    kernel: object = None
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: str
    category: str
    check: Callable[[LintContext], Iterable[Report]]
    doc: str

    @property
    def summary(self) -> str:
        return self.doc.splitlines()[0] if self.doc else self.name


RULES: dict[str, Rule] = {}


def rule(rule_id: str, severity: str = "warning", category: str = "claims"):
    """Register ``check_<name>(ctx) -> Iterable[Report]`` as rule `rule_id`."""
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}")

    def register(fn):
        if not fn.__name__.startswith("check_"):
            raise ValueError("rule functions are named check_<name>")
        name = fn.__name__[len("check_"):].replace("_", "-")
        if rule_id in RULES or any(r.name == name for r in RULES.values()):
            raise ValueError(f"rule {rule_id} ({name}) registered twice")
        RULES[rule_id] = Rule(rule_id, name, severity, category, fn, inspect.getdoc(fn) or "")
        return fn
    return register


def run_rules(ctx: LintContext, rules: Iterable[Rule]) -> Iterator[Finding]:
    for r in rules:
        for report in r.check(ctx):
            yield Finding(r.id, r.name, r.severity, report.origin, report.message, report.subject,
                          report.evidence)
