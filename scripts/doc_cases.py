#!/usr/bin/env python3
"""Measure the claim rules (MM4xx) on the documentation-defect corpus.

The corpus (../shared/corpus/doc_cases.yaml, beside the repository; never copied into
it) holds excerpts of man pages from before (ok: false) and after (ok: true) upstream
fixes, each with the kernel versions its verdict assumes. For every case this script
wraps the excerpt as a minimal page (an ERRORS entry when it starts with an errno, else
DESCRIPTION text), judges it for the newest kernel of the case's scope, runs the claim
rules with the excerpt flag, and the rules that judge text against other spec data
(JUDGED: an expression naming no parameter of the page's calls, a constant that
exists nowhere, a stale C library note), and compares what they find with the label
below:

* recall: ok:false cases with a finding of the labelled subject and kind
  (refuted = MM401 or MM403, undocumented = MM402, parameter = MM303,
  unknown-constant = MM207, stale-wrapper = MM208);
* false positives: ok:true cases with any finding of those rules.

The labels (subject, kind) are ours, read off each case's `expected` text; a case the
rules cannot catch says why (`reach`): "engine" means the property would need a
behaviour the engine does not model (see docs/lint-report.md).

    python3 scripts/doc_cases.py [--corpus PATH] [--json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "doc_cases.yaml"
TARGET_RECALL = 0.80
TARGET_FALSE_POSITIVES = 0.10
NEWEST = "6.18"  # the newest kernel the spec models: ">=X" and "any" scopes are judged there

#: case id -> (subject, kind[, reach]). reach is why the rules cannot find it.
LABELS = {
    "mmap-map_locked-before": ("MAP_LOCKED", "refuted"),
    "mmap-map_populate-before-2015": ("MAP_POPULATE", "refuted"),
    "mmap-map_populate-file-only-2006": ("MAP_POPULATE", "refuted"),
    "mmap-map_nonblock-before-2008": ("MAP_NONBLOCK", "refuted"),
    "mmap-map_populate-private-only-wording": ("MAP_POPULATE", "refuted"),
    "mmap-einval-both-types": ("MAP_SHARED_VALIDATE", "refuted"),
    "mmap-hint-before": ("mmap", "refuted"),
    "mmap-eacces-private-only": ("EACCES", "refuted"),
    "mmap-shared-munmap-sync": ("munmap", "refuted", "engine: no file contents or writeback in the model"),
    "mmap-never-zero": ("mmap", "refuted"),
    "mmap-anon-offset-ignored": ("MAP_ANONYMOUS", "refuted"),
    "mmap-noreserve-private-only": ("MAP_NORESERVE", "refuted"),
    "mmap-eexist-generic": ("MAP_FIXED_NOREPLACE", "refuted"),
    "mmap-sigbus-before": ("SIGBUS", "refuted"),
    "mlock-mcl_future-enomem": ("MCL_FUTURE", "refuted"),
    "mlock-errors-no-eagain": ("mlock", "refuted"),
    "mlock-einval-start": ("mlock", "parameter"),
    "mlock-vmlck-shm_lock": ("mlock", "refuted", "engine: no System V shared memory (shmctl SHM_LOCK)"),
    "mlock-mlock2-stale-glibc-note": ("mlock2", "stale-wrapper"),
    "mremap-dontunmap-errors-head": ("MREMAP_DONTUNMAP", "refuted"),
    "mremap-efault-segfault": ("EFAULT", "refuted"),
    "madvise-dontneed-shared-einval": ("MADV_DONTNEED", "refuted"),
    "madvise-dontneed-hugetlb-pre518-text": ("MADV_DONTNEED", "refuted"),
    "madvise-kernel-may-ignore": ("madvise", "refuted"),
    "madvise-free-swapless": ("MADV_FREE", "refuted"),
    "madvise-posix_madv_noreuse": ("POSIX_MADV_NOREUSE", "unknown-constant"),
    "madvise-guard-613-wording": ("MADV_GUARD_INSTALL", "refuted", "engine: no MADV_GUARD_INSTALL advice"),
    "process_madvise-cap_sys_admin": ("process_madvise", "refuted", "engine: no process_madvise, no "
                                                                     "capability but CAP_IPC_LOCK"),
    "fork-eagain-memory": ("fork", "refuted", "engine: fork never fails in the model"),
    "mprotect-efault": ("mprotect", "refuted"),
    "mprotect-pkey-zero": ("pkey_mprotect", "refuted", "engine: no pkey_mprotect"),
}
KINDS = {"refuted": ("MM401", "MM403"), "undocumented": ("MM402",), "parameter": ("MM303",),
         "unknown-constant": ("MM207",), "stale-wrapper": ("MM208",)}
#: The rules besides the claim rules (category "claims") that judge what a text says.
JUDGED = ("MM207", "MM208", "MM303")
_ERRNO_LINE = re.compile(r"^\.B\s+E[A-Z0-9]+\s*$")


@dataclass
class Row:
    id: str
    page: str
    ok: bool
    version: str
    label: tuple | None
    findings: list = field(default_factory=list)  # (rule, subject, line)

    @property
    def hit(self) -> bool:
        if self.ok or self.label is None:
            return False
        subject, kind = self.label[:2]
        return any(rule in KINDS.get(kind, ()) and found == subject for rule, found, _ in self.findings)

    @property
    def verdict(self) -> str:
        if self.ok:
            return "false positive" if self.findings else "clean"
        return "found" if self.hit else "missed"


@dataclass
class Evaluation:
    rows: list

    @property
    def positives(self) -> list:
        return [r for r in self.rows if not r.ok]

    @property
    def negatives(self) -> list:
        return [r for r in self.rows if r.ok]

    @property
    def recall(self) -> float:
        return sum(r.hit for r in self.positives) / len(self.positives)

    @property
    def in_reach(self) -> list:
        """ok:false cases whose defect a property could express with today's engine."""
        return [r for r in self.positives if r.label is not None and len(r.label) == 2]

    @property
    def recall_in_reach(self) -> float:
        return sum(r.hit for r in self.in_reach) / len(self.in_reach)

    @property
    def false_positive_rate(self) -> float:
        return sum(bool(r.findings) for r in self.negatives) / len(self.negatives)

    def table(self) -> str:
        lines = [f"{'case':42} {'kernel':6} {'ok':5} {'label':32} {'verdict':14} findings"]
        for r in self.rows:
            label = "-" if r.label is None or r.ok else f"{r.label[0]} {r.label[1]}"
            found = ", ".join(f"{rule} {subject}@{line}" for rule, subject, line in r.findings) or "-"
            reach = f"  [{r.label[2]}]" if r.label is not None and len(r.label) > 2 and not r.hit else ""
            lines.append(f"{r.id:42} {r.version:6} {str(r.ok).lower():5} {label:32} {r.verdict:14} {found}{reach}")
        hits, pos = sum(r.hit for r in self.positives), len(self.positives)
        reach_hits, reach = sum(r.hit for r in self.in_reach), len(self.in_reach)
        fps, neg = sum(bool(r.findings) for r in self.negatives), len(self.negatives)
        lines.append(f"recall {hits}/{pos} = {self.recall:.1%} (target {TARGET_RECALL:.0%}); "
                     f"within the engine's reach {reach_hits}/{reach} = {self.recall_in_reach:.1%}; "
                     f"false positives {fps}/{neg} = {self.false_positive_rate:.1%} "
                     f"(target at most {TARGET_FALSE_POSITIVES:.0%})")
        return "\n".join(lines)


def judged_version(scope: str) -> str:
    """The kernel a case is judged for: the newest one its scope covers."""
    scope = str(scope).strip()
    if m := re.fullmatch(r"<\s*(\d+)\.(\d+)", scope):
        major, minor = int(m.group(1)), int(m.group(2))
        return f"{major}.{minor - 1}" if minor else f"{major - 1}.99"
    if m := re.fullmatch(r"(\d+\.\d+)\s*-\s*(\d+\.\d+)", scope):
        return m.group(2)
    if re.fullmatch(r"\d+\.\d+", scope):
        return scope
    return NEWEST  # ">=X", "any", "n/a"


def wrap(case: dict, names: list[str]) -> str:
    """The excerpt as a minimal man(7) page."""
    text = case["text"] if case["text"].endswith("\n") else case["text"] + "\n"
    title, _, section = case["page"].rpartition(".")
    first = text.lstrip("\n").splitlines()[0] if text.strip() else ""
    body = (".SH ERRORS\n.TP\n" if _ERRNO_LINE.match(first) else ".SH DESCRIPTION\n") + text
    return f'.TH {title.upper()} {section}\n.SH NAME\n{", ".join(names)} \\- excerpt\n{body}'


def page_functions(spec, page: str) -> list[str]:
    names = sorted(name for name, entry in spec.syscalls.items() if getattr(entry, "page", None) == page)
    return names or [page.rpartition(".")[0]]


def evaluate(corpus: Path = CORPUS) -> Evaluation:
    importlib.import_module("mmsem.manpages.checks")  # registers the rules
    from mmsem.manpages.roff import parse_text
    from mmsem.manpages.rules import RULES, LintContext, run_rules
    from mmsem.semantics.engine import Engine
    from mmsem.spec import default_spec

    spec = default_spec()
    engine = Engine(spec)
    rules = [r for r in RULES.values() if r.category == "claims" or r.id in JUDGED]
    cases = yaml.safe_load(corpus.read_text(encoding="utf-8"))
    rows = []
    for case in cases:
        version = judged_version(case.get("kernel_scope", "any"))
        document = parse_text(wrap(case, page_functions(spec, case["page"])), f"{case['id']}.{case['page']}")
        ctx = LintContext(document, spec, spec.profile(version),
                          tuple(n for n in document.names if n in spec.syscalls), engine, None, {"excerpt": True})
        findings = sorted({(f.rule, f.subject, f.origin.line) for f in run_rules(ctx, rules)})
        rows.append(Row(case["id"], case["page"], bool(case["ok"]), version, LABELS.get(case["id"]), findings))
    return Evaluation(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help=f"doc_cases.yaml (default {CORPUS})")
    parser.add_argument("--json", action="store_true", help="print the figures and rows as JSON")
    args = parser.parse_args(argv)
    if not args.corpus.is_file():
        print(f"{args.corpus}:1:1: no corpus here", file=sys.stderr)
        return 2
    result = evaluate(args.corpus)
    if args.json:
        print(json.dumps({"recall": result.recall, "recall_in_reach": result.recall_in_reach,
                          "false_positive_rate": result.false_positive_rate,
                          "rows": [{"id": r.id, "ok": r.ok, "version": r.version, "verdict": r.verdict,
                                    "label": list(r.label) if r.label else None,
                                    "findings": [list(f) for f in r.findings]} for r in result.rows]}, indent=2))
    else:
        print(result.table())
    met = result.recall >= TARGET_RECALL and result.false_positive_rate <= TARGET_FALSE_POSITIVES
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
