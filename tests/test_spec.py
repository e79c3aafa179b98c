"""The spec loader's cross-file checks, check_spec, and kernel profiles.

Defects are made in a copy of the packaged spec data by one exact text change (or
a file move); each test asserts the complete list of errors, with positions, both
when loading collects errors (check-spec) and when it raises the first one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import replace_once
from mmsem.semantics.specchecks import check_spec
from mmsem.spec import InputError, default_spec, load_spec


def loader_errors(directory: Path) -> list[str]:
    """Errors collected by the loader; also checks that raising mode raises the first."""
    errors: list[InputError] = []
    load_spec(directory, errors)
    if errors:
        with pytest.raises(InputError) as info:
            load_spec(directory)
        assert str(info.value) == str(errors[0])
    return [str(e) for e in errors]


# -- the packaged spec -------------------------------------------------------------------------

def test_packaged_spec_has_no_problems():
    assert check_spec() == []


def test_copy_of_packaged_spec_has_no_problems(spec_copy):
    assert loader_errors(spec_copy) == []
    assert check_spec(spec_copy) == []


def test_packaged_spec_contents():
    spec = default_spec()
    # The foundation's calls and sets; later work adds more.
    assert {"mlock", "mlock2", "mlockall", "mmap", "munlock", "munlockall", "munmap", "touch"} <= set(spec.syscalls)
    assert {"apply_vma_lock_flags", "do_mlock"} <= set(spec.procedures)
    assert {"mlock2", "mlockall", "mmap", "prot"} <= set(spec.flagsets)
    assert {name for name, entry in spec.syscalls.items() if entry.kind == "pseudo"} == {"fork", "touch"}
    assert spec.syscalls["touch"].kind == "pseudo"
    assert spec.syscalls["mlock2"].since == (4, 4)


# -- loader-level defects ------------------------------------------------------------------------

def test_duplicate_flag_value_in_a_flag_set(spec_copy):
    # MLOCK_ONFAULT is 1, like MCL_CURRENT: a twin in the mlockall set.
    replace_once(spec_copy / "flags/mlockall.yaml", "  - name: MCL_FUTURE\n",
                 "  - name: MLOCK_ONFAULT\n    brief: a twin\n  - name: MCL_FUTURE\n")
    assert loader_errors(spec_copy) == [
        f"{spec_copy}/flags/mlockall.yaml:11:11: MLOCK_ONFAULT has the same value as MCL_CURRENT"]


def test_duplicate_flag_value_from_the_constants(spec_copy):
    replace_once(spec_copy / "constants.yaml", "MCL_FUTURE: 0x2\n", "MCL_FUTURE: 0x1\n")
    assert loader_errors(spec_copy) == [
        f"{spec_copy}/flags/mlockall.yaml:11:11: MCL_FUTURE has the same value as MCL_CURRENT"]


def test_flag_without_a_constant(spec_copy):
    replace_once(spec_copy / "flags/mlock2.yaml", "name: MLOCK_ONFAULT\n", "name: MLOCK_ONFAULTX\n")
    assert loader_errors(spec_copy) == [
        f"{spec_copy}/flags/mlock2.yaml:4:11: no value for flag MLOCK_ONFAULTX: not in the headers nor declared"]


def test_syscall_number_names_an_unknown_constant(spec_copy):
    replace_once(spec_copy / "syscalls/mlock2.yaml", "number: __NR_mlock2\n", "number: __NR_mlock3\n")
    assert loader_errors(spec_copy) == [f"{spec_copy}/syscalls/mlock2.yaml:4:9: unknown constant __NR_mlock3"]


def test_procedure_in_syscalls_directory(spec_copy):
    (spec_copy / "procedures/do_mlock.yaml").rename(spec_copy / "syscalls/do_mlock.yaml")
    expected = [f"{spec_copy}/syscalls/do_mlock.yaml:2:7: a procedure belongs in procedures/"]
    assert loader_errors(spec_copy) == expected
    assert [str(e) for e in check_spec(spec_copy)] == expected


def test_syscall_in_procedures_directory(spec_copy):
    (spec_copy / "syscalls/munlockall.yaml").rename(spec_copy / "procedures/munlockall.yaml")
    assert loader_errors(spec_copy) == [f"{spec_copy}/procedures/munlockall.yaml:2:7: a syscall belongs in syscalls/"]


def test_name_differs_from_file_name(spec_copy):
    (spec_copy / "syscalls/munlockall.yaml").rename(spec_copy / "syscalls/munlock_all.yaml")
    expected = [f"{spec_copy}/syscalls/munlock_all.yaml:1:7: name 'munlockall' does not match the file name"]
    assert loader_errors(spec_copy) == expected
    assert [str(e) for e in check_spec(spec_copy)] == expected


def test_errors_are_collected_in_file_order(spec_copy):
    replace_once(spec_copy / "syscalls/mlock2.yaml", "number: __NR_mlock2\n", "number: __NR_mlock3\n")
    replace_once(spec_copy / "flags/mlock2.yaml", "name: MLOCK_ONFAULT\n", "name: MLOCK_ONFAULTX\n")
    assert [str(e) for e in check_spec(spec_copy)] == [
        f"{spec_copy}/flags/mlock2.yaml:4:11: no value for flag MLOCK_ONFAULTX: not in the headers nor declared",
        f"{spec_copy}/syscalls/mlock2.yaml:4:9: unknown constant __NR_mlock3",
    ]


def test_not_a_spec_copyectory(tmp_path):
    with pytest.raises(InputError) as info:
        load_spec(tmp_path / "nowhere")
    assert str(info.value) == f"{tmp_path}/nowhere:1:1: not a spec directory"


# -- kernel profiles --------------------------------------------------------------------------------

ALL_TRAITS = {"mlock_limit_credits_locked", "relock_not_recharged", "mlockall_onfault_alone_rejected",
              "mlock_skips_droppable", "droppable_loses_default_lock", "populate"}


def test_traits_declared():
    assert ALL_TRAITS <= set(default_spec().traits)


@pytest.mark.parametrize("name, traits", [
    ("4.3", {"populate"}),
    ("4.8", {"populate"}),
    ("4.9", {"populate", "mlock_limit_credits_locked", "relock_not_recharged"}),
    ("5.1", {"populate", "mlock_limit_credits_locked", "relock_not_recharged"}),
    ("5.2", {"populate", "mlock_limit_credits_locked", "relock_not_recharged", "mlockall_onfault_alone_rejected"}),
    ("6.1", {"populate", "mlock_limit_credits_locked", "relock_not_recharged", "mlockall_onfault_alone_rejected"}),
    ("6.11", ALL_TRAITS - {"droppable_loses_default_lock"}),
    ("6.18", ALL_TRAITS),
    ("nommu-6.18", ALL_TRAITS - {"populate"}),
])
def test_profile_traits(name, traits):
    # Only the traits listed above: later work adds traits of its own.
    assert default_spec().profile(name).traits & ALL_TRAITS == traits


def test_named_cases():
    spec = default_spec()
    assert "mlockall_onfault_alone_rejected" not in spec.profile("5.1").traits
    assert "mlockall_onfault_alone_rejected" in spec.profile("6.18").traits
    assert "populate" not in spec.profile("nommu-6.18").traits
    assert "populate" in spec.profile("6.18").traits


def test_profiles_listed_and_built_on_demand():
    spec = default_spec()
    assert sorted(spec.profiles) == ["4.3", "4.8", "5.1", "6.1", "6.18", "nommu-6.18"]
    listed, built = spec.profile("6.18"), spec.profile("6.18.44")
    assert (listed.version, listed.mmu, listed.version_text) == ((6, 18), True, "6.18")
    assert (built.name, built.version, built.traits) == ("6.18.44", (6, 18), listed.traits)
    nommu = spec.profile("nommu-6.1")
    assert (nommu.version, nommu.mmu) == ((6, 1), False)
    with pytest.raises(ValueError):
        spec.profile("latest")
