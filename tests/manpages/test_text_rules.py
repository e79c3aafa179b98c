"""The rules that judge what the text says against spec data other than the engine:
MM207 (a constant that exists nowhere), MM208 (a stale "no glibc wrapper" note) and
MM303 (an expression naming no parameter of the page's calls). Exact rule, place and
message; the pages are written for the tests (tests/manpages/fixtures/findings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mmsem.manpages.lint import Linter
from mmsem.spec import default_spec

FINDINGS = Path(__file__).resolve().parent / "fixtures" / "findings"


def found(text: str, rules: list, name: str = "page.2") -> list[tuple]:
    return [(f.rule, f.origin.line, f.origin.col, f.subject, f.message)
            for f in Linter("6.18", select=rules).lint_text(text, name)]


def page(names: str, body: str) -> str:
    """A page around `body`, whose first line is line 4."""
    return f".TH {names.split(',')[0].upper()} 2\n.SH NAME\n{names} \\- test page\n{body}"


def test_fixture_messages():
    linter = Linter("6.18", select=["MM207", "MM208", "MM303"])
    got = [(Path(f.origin.path).name, f.rule, f.origin.line, f.origin.col, f.subject, f.message)
           for f in linter.lint_paths([str(FINDINGS / n) for n in ("constants.2", "parameters.2", "wrapper.2")])]
    assert got == [
        ("constants.2", "MM207", 14, 4, "MADV_WIPEOUT",
         "MADV_WIPEOUT is not one of the MADV_* constants (of the kernel or C library headers) that the spec knows"),
        ("constants.2", "MM207", 20, 5, "POSIX_MADV_NOREUSE",
         "POSIX_MADV_NOREUSE is not one of the POSIX_MADV_* constants (of the kernel or C library headers) "
         "that the spec knows"),
        ("parameters.2", "MM303", 23, 5, "mlock",
         "'start' in 'start+len' is not a parameter of mlock() or munlock() (the page's calls take addr, len)"),
        ("wrapper.2", "MM208", 12, 27, "mlock2", "glibc has provided a wrapper for mlock2() since glibc 2.27"),
    ]


def test_unknown_parameter_uses_the_spec_without_a_synopsis():
    text = page("mlock, mlock2", ".SH ERRORS\n.TP\n.B EINVAL\n.I start\n+ len overflowed.\n")
    assert found(text, ["MM303"]) == [
        ("MM303", 7, 4, "mlock", "'start' in 'start + len' is not a parameter of mlock() or mlock2() "
                                 "(the page's calls take addr, flags, len)")]


@pytest.mark.parametrize("expression", ["addr + len", "addr+len", "start - len", "PAGE_SIZE + len", "len + 1"])
def test_expressions_of_parameters_or_constants_are_fine(expression):
    assert found(page("mlock", f".SH DESCRIPTION\nThe range ends at {expression}.\n"), ["MM303"]) == []


def test_unknown_constant_is_reported_once_and_not_when_tagged():
    body = ".SH DESCRIPTION\nMAP_FROB and MAP_FROB again.\n.TP\n.B MAP_TAGGED\nMAP_TAGGED is MM204's.\n"
    assert found(page("mmap", body), ["MM207"]) == [
        ("MM207", 5, 1, "MAP_FROB",
         "MAP_FROB is not one of the MAP_* constants (of the kernel or C library headers) that the spec knows")]


def test_constants_of_other_families_and_pages_are_not_judged():
    assert found(page("mmap", ".SH DESCRIPTION\nPOSIX_FADV_NOREUSE and O_FROB.\n"), ["MM207"]) == []
    assert found(page("open", ".SH DESCRIPTION\nMAP_FROB.\n"), ["MM207"]) == []


def test_wrapper_notes_dated_or_about_unlisted_calls_are_fine():
    body = (".SH NOTES\nGlibc does not provide a wrapper for mlock2() before glibc 2.27.\n"
            "The C library does not provide a wrapper for mremap_frob().\n")
    assert found(page("mlock, mlock2", body), ["MM208"]) == []
    stale = ".SH NOTES\nGlibc does not provide a wrapper for\n.BR mlock2 ().\n"
    assert found(page("mlock, mlock2", stale), ["MM208"]) == [
        ("MM208", 5, 1, "mlock2", "glibc has provided a wrapper for mlock2() since glibc 2.27")]


def test_libc_wrappers_are_read_with_the_spec():
    assert default_spec().libc_wrappers["mlock2"] == (
        "2.27", "glibc 2.27 NEWS (released 2018-02-01): mlock2 is added; sysdeps/unix/sysv/linux/mlock2.c")


@pytest.mark.parametrize("old, new, error", [
    ('    glibc: "2.27"\n', '    glibc: "2.27 or so"\n',
     "8:12: '2.27 or so' does not match '^[0-9]{1,4}\\\\.[0-9]{1,4}(\\\\.[0-9]{1,4})?$' (at /wrappers/mlock2/glibc)"),
    ("  mlock2:\n", "  mlock3:\n", "7:3: mlock3 is not a modelled call"),
])
def test_check_spec_validates_libc_yaml(spec_copy, old, new, error):
    libc = spec_copy / "libc.yaml"
    text = libc.read_text()
    assert text.count(old) == 1
    libc.write_text(text.replace(old, new))
    done = subprocess.run([sys.executable, "-m", "mmsem", "check-spec", "spec"], cwd=spec_copy.parent,
                          capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"spec/libc.yaml:{error}\n")
