"""Numbers come from the uapi headers, never by hand (STYLE.md principle 2).

spec/constants.yaml is generated from the installed headers with gcc; these tests
regenerate it and compare, and make sure that what declared_constants.yaml supplies
by hand is really missing from the headers (so a header upgrade that adds it forces
the declaration to go and the generated file to be rewritten).
"""

from __future__ import annotations

import shutil

import pytest

from mmsem.spec import PACKAGE_DIR, default_spec, gen_constants, source

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is needed to read the uapi headers")


def declared() -> dict:
    return source.load(PACKAGE_DIR / "declared_constants.yaml").data["values"]


def test_committed_constants_match_headers():
    committed = (PACKAGE_DIR / "constants.yaml").read_text()
    assert committed == gen_constants.render(PACKAGE_DIR), (
        "spec/constants.yaml is stale: run `python -m mmsem.spec.gen_constants`")


def test_declared_uapi_names_are_absent_from_headers():
    uapi = sorted(name for name, entry in declared().items() if not entry.get("internal", False))
    # newer than the 6.1 headers, the C library's own names, and another architecture's flag
    assert uapi == ["MAP_ANON", "MAP_DROPPABLE", "MAP_FAILED", "POSIX_MADV_DONTNEED", "POSIX_MADV_NORMAL",
                    "POSIX_MADV_RANDOM", "POSIX_MADV_SEQUENTIAL", "POSIX_MADV_WILLNEED", "PROT_SAO", "__NR_mseal"]
    assert gen_constants.header_values(uapi) == {name: None for name in uapi}


def test_header_values_reads_known_and_unknown_names():
    assert gen_constants.header_values(["MAP_LOCKED", "__NR_mlock2", "NOT_A_MACRO_AT_ALL"]) == {
        "MAP_LOCKED": 0x2000, "__NR_mlock2": 325, "NOT_A_MACRO_AT_ALL": None}


def test_declared_and_generated_names_are_disjoint():
    generated = source.load(PACKAGE_DIR / "constants.yaml").data["values"]
    assert set(generated).isdisjoint(declared())


def test_every_declared_constant_has_a_source():
    assert [name for name, entry in declared().items() if not entry["source"].strip()] == []


@pytest.mark.parametrize("name, value", [
    ("MLOCK_ONFAULT", 1),
    ("MCL_CURRENT", 1),
    ("MCL_FUTURE", 2),
    ("MCL_ONFAULT", 4),
    ("MAP_LOCKED", 0x2000),
    ("MAP_DROPPABLE", 8),
    ("MAP_FIXED_NOREPLACE", 0x100000),
    ("__NR_mlock2", 325),
    ("__NR_mlockall", 151),
    ("ENOMEM", 12),
    ("SIGBUS", 7),
])
def test_constant_values_as_loaded(name, value):
    assert default_spec().constants[name] == value


def test_flag_values_as_loaded():
    spec = default_spec()
    assert {f.name: f.value for f in spec.flagsets["mlock2"].flags} == {"MLOCK_ONFAULT": 1}
    assert {f.name: f.value for f in spec.flagsets["mlockall"].flags} == {
        "MCL_CURRENT": 1, "MCL_FUTURE": 2, "MCL_ONFAULT": 4}
    mmap = spec.flagsets["mmap"]
    assert (mmap.get("MAP_LOCKED").value, mmap.get("MAP_DROPPABLE").value) == (0x2000, 8)
    assert mmap.get("MAP_DROPPABLE").field == "MAP_TYPE"
    assert mmap.fields == {"MAP_TYPE": 0xF}
    assert spec.syscalls["mlock2"].number == "__NR_mlock2"


def test_declared_c_library_names_have_glibcs_values(tmp_path):
    """POSIX_MADV_* and MAP_FAILED are the C library's (<sys/mman.h>): the declared values are its own."""
    import subprocess

    names = [name for name, entry in declared().items() if "glibc" in entry["source"] and name != "MAP_ANON"]
    assert sorted(names) == ["MAP_FAILED", "POSIX_MADV_DONTNEED", "POSIX_MADV_NORMAL", "POSIX_MADV_RANDOM",
                             "POSIX_MADV_SEQUENTIAL", "POSIX_MADV_WILLNEED"]
    body = "".join(f'  printf("{n} %lld\\n", (long long)(intptr_t)({n}));\n' for n in names)
    src = tmp_path / "libc.c"
    src.write_text(f"#include <sys/mman.h>\n#include <stdint.h>\n#include <stdio.h>\nint main(void) {{\n{body}  return 0;\n}}\n")
    subprocess.run(["gcc", "-w", "-o", str(tmp_path / "libc"), str(src)], check=True)
    out = subprocess.run([str(tmp_path / "libc")], check=True, capture_output=True, text=True).stdout
    assert {line.split()[0]: int(line.split()[1]) for line in out.splitlines()} == {
        name: declared()[name]["value"] for name in names}
