"""Version profiles: every syscall and flag with a since-version behaves as absent before it.

For each one, a small trace runs on the profile just before its since-version and on
the profile of that version. A syscall is ENOSYS before; a flag is EINVAL before
(or, for the flags old kernels silently ignored, gives the outcome of the same call
without it) and is accepted from its version on: the outcome there is the outcome
the running kernel's profile gives. Each example written for Linux 6.1 changes its
result at exactly one version between 6.1 and 6.18, for the trait it shows
(semantics/kerneldiff.py finds that version).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mmsem.semantics.engine import Engine
from mmsem.semantics.kerneldiff import change_points, versioned_items
from mmsem.semantics.program import Outcome
from mmsem.semantics.runner import mismatches, run_engine
from mmsem.semantics.trace import parse_trace, read_trace
from mmsem.spec import default_spec

SPEC = default_spec()
ENGINE = Engine(SPEC)
CURRENT = "6.18"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

MAPPING = "- mmap: {len: 4p, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS, MAP_POPULATE]}\n  as: A\n"

#: Per flag set: the steps before, and the step that passes {flags} (the last step's
#: outcome is what the test compares).
FLAG_TRACES = {
    "madvise": (MAPPING, "- madvise: {{addr: A, len: 1p, advice: {flags}}}\n"),
    "mlock2": (MAPPING, "- mlock2: {{addr: A, len: 1p, flags: [{flags}]}}\n"),
    "mlockall": ("", "- mlockall: {{flags: [MCL_CURRENT, {flags}]}}\n"),
    "mremap": (MAPPING, "- mremap: {{old_address: A, old_size: 1p, new_size: 1p, flags: [MREMAP_MAYMOVE, {flags}]}}\n"),
    "mmap": ("", "- mmap: {{len: 1p, prot: [PROT_READ, PROT_WRITE], flags: [{flags}], fd: {fd}}}\n"),
}
#: mmap values of the MAP_TYPE field: how each is used (flags, fd).
MAP_TYPES = {"MAP_SHARED_VALIDATE": ("MAP_SHARED_VALIDATE", "F"), "MAP_DROPPABLE": ("MAP_DROPPABLE, MAP_ANONYMOUS", -1)}
#: A call with each since-version, and the step that makes it.
CALL_STEPS = {
    "mlock2": "- mlock2: {addr: A, len: 1p}\n",
    "mseal": "- mseal: {addr: A, len: 1p}\n",
    "remap_file_pages": "- remap_file_pages: {addr: A, size: 1p}\n",
}


def version_before(since: tuple[int, ...]) -> str:
    """The profile name of the last release before `since` (X.Y or X.Y.Z)."""
    if len(since) > 2 and since[2] > 0:
        return f"{since[0]}.{since[1]}"
    if since[1] > 0:
        return f"{since[0]}.{since[1] - 1}"
    return f"{since[0] - 1}.99"


def version_of(since: tuple[int, ...]) -> str:
    """The first profile (profiles are X.Y) that has `since`: for X.Y.Z, Z > 0, it is X.Y+1."""
    if len(since) > 2 and since[2] > 0:
        return f"{since[0]}.{since[1] + 1}"
    return f"{since[0]}.{since[1]}"


def last_outcome(text: str, kernel: str) -> Outcome:
    trace = parse_trace(f"config: {{kernel: '{kernel}'}}\nfiles: {{F: {{size: 4p}}}}\n" + text, f"<{kernel}>")
    return run_engine(trace, ENGINE).steps[-1].outcome


def flag_trace(flagset: str, flags: str, fd="-1") -> str:
    before, step = FLAG_TRACES[flagset]
    return "steps:\n" + before + step.format(flags=flags, fd=fd)


def with_and_without(flagset: str, flag) -> tuple[str, str | None]:
    """The trace passing the flag, and the same trace without it (for ignored flags)."""
    if flagset != "mmap":
        return flag_trace(flagset, flag.name), None
    if flag.name in MAP_TYPES:
        flags, fd = MAP_TYPES[flag.name]
        return flag_trace("mmap", flags, fd), None
    return (flag_trace("mmap", f"MAP_PRIVATE, MAP_ANONYMOUS, {flag.name}"),
            flag_trace("mmap", "MAP_PRIVATE, MAP_ANONYMOUS"))


def versioned_flags():
    for flagset in SPEC.flagsets.values():
        if flagset.name not in FLAG_TRACES:
            continue
        for flag in flagset.flags:
            if flag.since:
                yield pytest.param(flagset.name, flag, id=f"{flagset.name}-{flag.name}")


@pytest.mark.parametrize("name", sorted(CALL_STEPS))
def test_syscall_is_enosys_before_its_version(name):
    since = SPEC.syscalls[name].since
    text = "steps:\n- mmap: {len: 4p, prot: [PROT_READ], flags: [MAP_SHARED], fd: F}\n  as: A\n" + CALL_STEPS[name]
    assert last_outcome(text, version_before(since)) == Outcome(errno="ENOSYS")
    assert last_outcome(text, version_of(since)) != Outcome(errno="ENOSYS")


def test_every_versioned_syscall_is_covered():
    assert {name for name, entry in SPEC.syscalls.items() if entry.since} == set(CALL_STEPS)


def test_every_versioned_flag_set_is_covered():
    have = {fs.name for fs in SPEC.flagsets.values() if any(f.since for f in fs.flags)}
    assert have == set(FLAG_TRACES)


@pytest.mark.parametrize("flagset, flag", list(versioned_flags()))
def test_flag_before_and_at_its_version(flagset, flag):
    text, without = with_and_without(flagset, flag)
    before = version_before(flag.since)
    outcome = last_outcome(text, before)
    owner = SPEC.syscalls.get(flagset)
    if owner is not None and owner.since and SPEC.profile(before).version < owner.since:
        assert outcome == Outcome(errno="ENOSYS")  # the call itself is younger than that kernel
    elif flag.before_since == "einval":
        assert outcome == Outcome(errno="EINVAL")
    else:
        assert without is not None and outcome == last_outcome(without, before)
    if getattr(flag, "action", None) != "unmodelled":  # e.g. MADV_HWPOISON: the model stops there
        assert last_outcome(text, version_of(flag.since)) == last_outcome(text, CURRENT)


# -- what separates 6.1 from 6.18, example by example ---------------------------------------------

@pytest.mark.parametrize("name, version, items", [
    ("madvise-populate-after-hole-6.1", "6.10", ["trait madvise_populate_stops_at_hole"]),
    ("map-stack-nohugepage-6.1", "6.7", ["trait map_stack_no_thp"]),
    ("mmap-fixed-splits-hugetlb-6.1", "6.12", ["EINVAL of mmap", "trait map_fixed_unmap_errno"]),
    ("mremap-dontunmap-sizes-before-rounding-6.1", "6.17", ["trait mremap_checks_rounded_sizes_first"]),
    ("mremap-dontunmap-vmlck-6.1", "6.15", ["trait dontunmap_overcounts_locked_vm"]),
    ("mremap-fixed-failure-unmaps-target-6.1", "6.17", ["trait mremap_moves_several_mappings"]),
    ("mremap-fixed-shrink-unmap-fails-6.1", "6.17", ["trait mremap_checks_before_unmapping"]),
    ("mremap-move-not-thp-aligned-6.1", "6.7", ["trait anon_thp_aligned"]),
    ("mremap-new-size-above-task-size-6.1", "6.17", ["trait mremap_checks_rounded_sizes_first"]),
])
def test_6_1_example_changes_once_at_its_version(name, version, items):
    trace = read_trace(EXAMPLES / f"{name}.yaml")
    assert trace.config.kernel == "6.1"
    changes = change_points(ENGINE, trace, None, "6.1", CURRENT, versioned_items(SPEC))
    assert [c.as_dict() for c in changes] == [{"version": version, "items": items}]


def test_every_6_1_example_is_listed():
    listed = {"madvise-populate-after-hole-6.1", "map-stack-nohugepage-6.1", "mmap-fixed-splits-hugetlb-6.1",
              "mremap-dontunmap-sizes-before-rounding-6.1", "mremap-dontunmap-vmlck-6.1",
              "mremap-fixed-failure-unmaps-target-6.1", "mremap-fixed-shrink-unmap-fails-6.1",
              "mremap-move-not-thp-aligned-6.1", "mremap-new-size-above-task-size-6.1"}
    assert {p.stem for p in EXAMPLES.glob("*.yaml") if read_trace(p).config.kernel == "6.1"} == listed


def test_versioned_items_name_traits_calls_flags_and_errors():
    items = versioned_items(SPEC)
    assert items["6.10"] == ["EPERM of madvise", "EPERM of mmap", "EPERM of mprotect", "EPERM of mremap",
                             "EPERM of munmap", "EPERM of remap_file_pages", "call mseal",
                             "trait madvise_populate_stops_at_hole"]
    assert "flag MAP_DROPPABLE" in items["6.11"]
    assert items["6.17"] == ["trait mremap_checks_before_unmapping", "trait mremap_checks_rounded_sizes_first",
                             "trait mremap_moves_several_mappings"]
    assert items["5.13"] == ["trait dontunmap_any_mapping"]


def test_a_trace_the_versions_do_not_touch_has_no_change_points():
    trace = parse_trace("steps:\n" + MAPPING + "- munmap: {addr: A, len: 4p}\n", "<plain>")
    assert change_points(ENGINE, trace, None, "6.1", CURRENT, versioned_items(SPEC)) == []


def test_an_address_named_after_its_own_step_is_also_given_in_full():
    trace = read_trace(EXAMPLES / "mremap-move-not-thp-aligned-6.1.yaml")
    trace.config = dataclasses.replace(trace.config, kernel=CURRENT)
    # on 6.18 the 2 MiB range M is aligned, and N goes below it instead of after it
    assert [m.message for m in mismatches(run_engine(trace, ENGINE))] == [
        "mremap: expected M+512p, got N+0p (0x2aaaaaab3000)"]
