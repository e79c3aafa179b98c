"""Fixture pages in the sphinx-lint style: silent/ pages report nothing, findings/ pages
report exactly the findings their ``.\\" expect: RULE LINE:COL [xN]`` comments list."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from mmsem.manpages.lint import Linter

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPECT_RE = re.compile(r'^\.\\" expect: (MM\d{3}) (\d+):(\d+)(?: x(\d+))?\s*$')


#: The rule families these fixtures are about (claim rules have fixtures of their own).
FAMILIES = ["structure", "coverage", "synopsis"]


@pytest.fixture(scope="module")
def linter():
    return Linter("6.18", select=FAMILIES)


def expectations(path: Path) -> Counter:
    expected: Counter = Counter()
    for line in path.read_text().splitlines():
        m = EXPECT_RE.match(line)
        if m:
            expected[(m.group(1), int(m.group(2)), int(m.group(3)))] += int(m.group(4) or 1)
        else:
            assert "expect:" not in line, f"{path.name}: malformed expectation {line!r}"
    return expected


@pytest.mark.parametrize("page", sorted((FIXTURES / "silent").glob("*.2")), ids=lambda p: p.name)
def test_silent_page_has_no_finding(linter, page):
    assert [str(f) for f in linter.lint_paths([str(page)])] == []


@pytest.mark.parametrize("page", sorted((FIXTURES / "findings").glob("*.2")), ids=lambda p: p.name)
def test_findings_page_reports_what_it_expects(linter, page):
    expected = expectations(page)
    assert expected, f"{page.name} lists no expected finding"
    findings = linter.lint_paths([str(page)])
    got = Counter((f.rule, f.origin.line, f.origin.col) for f in findings)
    assert got == expected, "\n".join(str(f) for f in findings)
    assert all(f.origin.path == str(page) for f in findings)


def test_every_rule_has_a_fixture_that_triggers_it():
    from mmsem.manpages.rules import RULES

    seen = set()
    for page in (FIXTURES / "findings").glob("*.2"):
        seen.update(rule for rule, _, _ in expectations(page))
    own = {rule_id for rule_id in RULES if rule_id[2] in "123"}  # claim and style rules test themselves
    assert own <= seen, f"no fixture triggers {sorted(own - seen)}"


def test_findings_carry_exact_messages(linter):
    findings = linter.lint_paths([str(FIXTURES / "findings" / "coverage-errors.2")])
    assert [(f.rule, f.subject, f.message) for f in findings] == [
        ("MM201", "mlock/EPERM",
         "mlock() can fail with EPERM (do_mlock: check no-lock-permission in the spec), "
         "but ERRORS does not document it"),
        ("MM201", "mlockall/ENOMEM",
         "mlockall() can fail with ENOMEM (check over-memlock-limit in the spec), but ERRORS does not document it"),
        ("MM201", "mlockall/EPERM",
         "mlockall() can fail with EPERM (check no-lock-permission in the spec), but ERRORS does not document it"),
        ("MM202", "munlock/EAGAIN", "EAGAIN is documented for munlock(), but the spec never lets munlock() fail with it"),
        ("MM202", "ENOSPC",
         "ENOSPC is documented, but the spec never lets mlock(), munlock() or mlockall() fail with it"),
    ]
