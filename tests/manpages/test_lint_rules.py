"""Units of the lint rules: the errno derivation, qualifiers, prototypes, orderings, suppressions."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsem.manpages.checks._model import _may_fire, errno_causes, flag_required, producible_errnos
from mmsem.manpages.checks.coverage import entry_applies
from mmsem.manpages.checks.synopsis import Param, parse_signature
from mmsem.manpages.document import ErrorEntry, Origin, Span
from mmsem.manpages.lint import Linter, running_kernel_version
from mmsem.manpages.rules import RULES
from mmsem.spec import default_spec


@pytest.fixture(scope="module")
def spec():
    return default_spec()


@pytest.fixture(scope="module")
def linter():
    return Linter("6.18")


# -- what a call can fail with ------------------------------------------------------------

def test_errnos_of_the_mlock_family(spec):
    p = spec.profile("6.18")
    assert producible_errnos(spec, p, "mlock") == {"EPERM", "ENOMEM", "EINVAL", "EAGAIN"}
    assert producible_errnos(spec, p, "mlock2") == {"EPERM", "ENOMEM", "EINVAL", "EAGAIN"}
    assert producible_errnos(spec, p, "munlock") == {"EINVAL", "ENOMEM"}
    assert producible_errnos(spec, p, "mlockall") == {"EINVAL", "EPERM", "ENOMEM"}
    assert producible_errnos(spec, p, "munlockall") == frozenset()
    assert producible_errnos(spec, p, "brk") == frozenset()


def test_causes_name_checks_procedures_primitives_and_from_mappings(spec):
    causes = errno_causes(spec, spec.profile("6.18"), "mlock")
    # populate reports EFAULT and ENOMEM, which do_mlock maps to ENOMEM and EAGAIN
    assert causes["ENOMEM"] == ("do_mlock: check over-memlock-limit", "apply_vma_lock_flags: lock_range",
                                "do_mlock: populate")
    assert causes["EAGAIN"] == ("do_mlock: populate",)
    assert causes["EPERM"] == ("do_mlock: check no-lock-permission",)


def test_value_rejects_count_for_the_call_that_takes_the_value(spec):
    causes = errno_causes(spec, spec.profile("6.18"), "madvise")
    assert "MADV_REMOVE" in causes["EACCES"]
    assert "MADV_COLLAPSE" in causes["EINVAL"]
    # values newer than the profile's kernel reject nothing there
    assert "MADV_COLLAPSE" not in errno_causes(spec, spec.profile("5.1"), "madvise")["EINVAL"]


def test_a_call_newer_than_the_profile_only_fails_with_enosys(spec):
    assert producible_errnos(spec, spec.profile("4.3"), "mlock2") == {"ENOSYS"}
    assert producible_errnos(spec, spec.profile("4.4"), "mlock2") == {"EPERM", "ENOMEM", "EINVAL", "EAGAIN"}


def test_steps_that_need_a_missing_trait_or_flag_do_not_fire(spec):
    assert not _may_fire(spec, spec.profile("5.1"), "mlockall_onfault_alone_rejected and flags == MCL_ONFAULT")
    assert _may_fire(spec, spec.profile("6.18"), "mlockall_onfault_alone_rejected and flags == MCL_ONFAULT")
    assert not _may_fire(spec, spec.profile("6.1"), "x and available('MAP_DROPPABLE')")
    assert _may_fire(spec, spec.profile("6.18"), "x and available('MAP_DROPPABLE')")
    assert _may_fire(spec, spec.profile("5.1"), "flags == 0 or mlockall_onfault_alone_rejected")
    # EOPNOTSUPP needs MAP_SHARED_VALIDATE (4.15)
    assert "EOPNOTSUPP" not in producible_errnos(spec, spec.profile("4.3"), "mmap")
    assert "EOPNOTSUPP" in producible_errnos(spec, spec.profile("4.15"), "mmap")


def test_shared_flag_sets_require_a_flag_only_of_the_calls_that_test_it(spec):
    prot = spec.flagsets["prot"]
    growsdown = prot.get("PROT_GROWSDOWN")
    assert flag_required(spec, spec.syscalls["mprotect"], prot, growsdown)
    assert not flag_required(spec, spec.syscalls["mmap"], prot, growsdown)
    assert flag_required(spec, spec.syscalls["mmap"], prot, prot.get("PROT_WRITE"))
    assert not flag_required(spec, spec.syscalls["mprotect"], prot, prot.get("PROT_SEM"))  # undocumented


# -- qualifiers ---------------------------------------------------------------------------

def _entry(*qualifiers: str) -> ErrorEntry:
    return ErrorEntry("ENOMEM", Span(), Origin("p", 1), (), qualifiers)


@pytest.mark.parametrize("qualifier, versions", [
    ("Linux 2.4 and earlier", {"2.4": True, "2.6": False, "6.18": False}),
    ("Linux 2.6.9 and later", {"2.4": False, "2.6": False, "6.18": True}),
    ("since Linux 4.7", {"4.6": False, "4.7": True, "6.18": True}),
    ("before Linux 5.2", {"5.1": True, "5.2": False}),
    ("Not on Linux", {"6.18": False}),
    ("for MADV_COLLAPSE", {"4.3": True, "6.18": True}),
])
def test_entry_qualifiers_place_it_in_kernel_versions(spec, qualifier, versions):
    for version, applies in versions.items():
        assert entry_applies(_entry(qualifier), spec.profile(version)) is applies, version


# -- prototypes ---------------------------------------------------------------------------

def test_array_notation_is_a_pointer():
    page = parse_signature("int mlock2(const void addr[.len], size_t len, unsigned int flags);")
    spec = parse_signature("int mlock2(const void *addr, size_t len, unsigned int flags);")
    assert page == spec
    assert page.params[0] == Param("const void *", "addr")


def test_comments_attributes_and_variadic_tails():
    sig = parse_signature("[[deprecated]] void *mremap(void old[.n], size_t n, int f, ... /* void *new */);")
    assert sig.returns == "void *"
    assert [p.type for p in sig.params] == ["void *", "size_t", "int", "..."]
    assert parse_signature("int munlockall(void);").params == ()
    assert len(parse_signature("int f(int (*cb)(int, long), char **argv);").params) == 2


# -- ERRORS order, checked against a reference on random orderings --------------------------

ERRNOS = ["EACCES", "EAGAIN", "EBADF", "EEXIST", "EINVAL", "ENOMEM", "EPERM"]


def _errors_page(order: list) -> str:
    lines = [".TH frob 2", ".SH NAME", "frob \\- test", ".SH ERRORS"]
    for errno in order:
        lines += [".TP", f".B {errno}", "Some cause."]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(ERRNOS), min_size=1, max_size=9))
def test_errno_order_reports_each_entry_that_sorts_before_its_predecessor(order):
    linter = Linter("6.18", select=["MM103"])
    findings = linter.lint_text(_errors_page(order), "frob.2")
    expected = [(6 + 3 * i, errno) for i, errno in enumerate(order) if i and errno < order[i - 1]]
    assert [(f.origin.line, f.subject) for f in findings] == expected
    assert all(f.origin.col == 4 for f in findings)


# -- suppression comments -----------------------------------------------------------------

_ORDERED_PAGE = [".TH frob 2", ".SH NAME", "frob \\- test", ".SH ERRORS", ".TP", ".B ENOMEM", "x", ".TP",
                 ".B EINVAL", "y"]  # EINVAL (line 9) is out of order


def _name_forms(rule) -> list:
    return [rule.id, rule.id.lower(), rule.name]


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_random_suppression_comments(data):
    rule = RULES["MM103"]
    other = data.draw(st.sampled_from([r for r in RULES.values() if r.id != "MM103"]))
    named = data.draw(st.lists(st.sampled_from(_name_forms(rule) + _name_forms(other)), min_size=1, max_size=3))
    separator = data.draw(st.sampled_from([" ", ", ", ",", "  "]))
    verb = data.draw(st.sampled_from(["ignore", "ignore-page", "Ignore"]))
    # where the comment goes: right above the tag, above the .TP before it, or at the top
    place = data.draw(st.sampled_from(["above-tag", "above-tp", "top", "end-of-line"]))
    comment = f"mmsem: {verb} {separator.join(named)}"
    lines = list(_ORDERED_PAGE)
    if place == "end-of-line":
        lines[8] += f' \\" {comment}'
    else:
        at = {"above-tag": 8, "above-tp": 7, "top": 1}[place]
        lines.insert(at, f'.\\" {comment}')
    findings = Linter("6.18", select=["MM103", "MM100"]).lint_text("\n".join(lines) + "\n", "frob.2")
    silenced = any(name in _name_forms(rule) for name in named) and (
        verb.lower() == "ignore-page" or place != "top")
    assert [f.rule for f in findings] == ([] if silenced else ["MM103"])


def test_running_kernel_version_agrees_with_the_engine():
    from mmsem.semantics.config import running_profile_name

    assert running_kernel_version() == running_profile_name()


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_, ", max_size=30))
@settings(max_examples=50, deadline=None)
def test_any_mmsem_comment_is_followed_or_reported(words):
    page = f'.TH frob 2\n.\\" mmsem: ignore {words}\n.SH NAME\nfrob \\- test\n'
    findings = Linter("6.18", select=["MM100"]).lint_text(page, "frob.2")
    assert all(f.rule == "MM100" and f.origin.line == 2 for f in findings)
