"""Bad input through the real command line: exit status 2, one line `path:line:col: message`.

Each case runs `python3 -m mmsem` in a subprocess from a temporary directory, so
paths in messages are relative and exactly predictable. Traces are written as
bytes so that the positions below can be counted by eye.

Spec defects go through `mmsem check-spec DIR` on a copy of the packaged spec
directory, changed by one text replacement that must match exactly once (so a
reworded spec breaks the test loudly instead of testing nothing). check-spec
prints its findings on stderr, one per line, and exits with 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import replace_once

ANON = b"{len: 8p, prot: [PROT_READ], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}"


def mmsem(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C")  # strerror texts in English
    return subprocess.run([sys.executable, "-m", "mmsem", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def assert_bad_input(result: subprocess.CompletedProcess, line: str) -> None:
    """Exit 2, stderr exactly `line`, nothing on stdout, no traceback anywhere."""
    assert "Traceback" not in result.stdout + result.stderr
    assert (result.returncode, result.stdout, result.stderr) == (2, "", line + "\n")


def run_trace(tmp_path: Path, name: str, content: bytes) -> subprocess.CompletedProcess:
    (tmp_path / name).write_bytes(content)
    return mmsem(tmp_path, "run", name)


# -- traces -----------------------------------------------------------------------------

def test_trace_malformed_yaml(tmp_path):
    # The flow mapping of line 2 is never closed; the parser notices at `as` on line 3.
    trace = b"steps:\n  - mmap: {len: 8p, prot: [PROT_READ], flags: [MAP_PRIVATE]\n    as: A\n"
    assert_bad_input(run_trace(tmp_path, "bad.yaml", trace),
                     "bad.yaml:3:5: malformed YAML: expected ',' or '}', but got '<scalar>'")


def test_trace_unknown_key_in_expect(tmp_path):
    trace = b"steps:\n  - mmap: " + ANON + b"\n    expect: {ret: ok, errnum: ENOMEM}\n"
    #                                            col 31 ^ (the value of errnum)
    assert_bad_input(run_trace(tmp_path, "bad.yaml", trace),
                     "bad.yaml:3:31: unknown key 'errnum' (did you mean 'errno'?) "
                     "(at /steps/0/expect/errnum)")


def test_trace_unknown_system_call(tmp_path):
    trace = b"steps:\n  - mmap: " + ANON + b"\n    as: A\n  - mlock3: {addr: A, len: 1p}\n"
    assert_bad_input(run_trace(tmp_path, "bad.yaml", trace),
                     "bad.yaml:4:5: unknown system call or pseudo-step 'mlock3' "
                     "(did you mean mlock or mlock2?)")


def test_trace_unknown_mmap_flag(tmp_path):
    trace = b"steps:\n  - mmap: {len: 8p, prot: [PROT_READ], flags: [MAP_PRIVATE, MAP_FOO]}\n"
    #                                             MAP_FOO is at col 61 ^
    assert_bad_input(run_trace(tmp_path, "bad.yaml", trace),
                     "bad.yaml:2:61: MAP_FOO is not a flag of mmap (known: MAP_SHARED, MAP_PRIVATE, "
                     "MAP_SHARED_VALIDATE, MAP_DROPPABLE, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_ANONYMOUS, "
                     "MAP_32BIT, MAP_GROWSDOWN, MAP_DENYWRITE, MAP_EXECUTABLE, MAP_LOCKED, MAP_NORESERVE, "
                     "MAP_POPULATE, MAP_NONBLOCK, MAP_STACK, MAP_HUGETLB, MAP_SYNC, MAP_UNINITIALIZED)")


def test_trace_flag_of_another_call(tmp_path):
    # MAP_FIXED is a real flag, but not one of mlock2's.
    trace = b"steps:\n  - mmap: " + ANON + b"\n    as: A\n  - mlock2: {addr: A, len: 1p, flags: [MAP_FIXED]}\n"
    assert_bad_input(run_trace(tmp_path, "bad.yaml", trace),
                     "bad.yaml:4:40: MAP_FIXED is not a flag of mlock2 (known: MLOCK_ONFAULT)")


def test_trace_unbound_name_in_address(tmp_path):
    trace = b"steps:\n  - mmap: " + ANON + b"\n    as: A\n  - mlock: {addr: B+2p, len: 1p}\n"
    assert_bad_input(run_trace(tmp_path, "bad.yaml", trace),
                     "bad.yaml:4:19: unknown name 'B' in address 'B+2p'")


def test_trace_name_bound_later_is_unbound(tmp_path):
    # Names are bound in step order: a use before the binding step is an error too.
    trace = b"steps:\n  - mlock: {addr: A, len: 1p}\n  - mmap: " + ANON + b"\n    as: A\n"
    assert_bad_input(run_trace(tmp_path, "bad.yaml", trace),
                     "bad.yaml:2:19: unknown name 'A' in address 'A'")


def test_trace_not_utf8(tmp_path):
    # Latin-1 e-acute (0xe9) is the 15th byte of line 3.
    trace = b"steps:\n  - mmap: " + ANON + b'\n    note: "caf\xe9"\n'
    assert_bad_input(run_trace(tmp_path, "latin1.yaml", trace), "latin1.yaml:3:15: not UTF-8 text")


def test_trace_missing_file(tmp_path):
    assert_bad_input(mmsem(tmp_path, "run", "missing.yaml"),
                     "missing.yaml:1:1: cannot read: No such file or directory")


# -- spec directories --------------------------------------------------------------------

def check_spec(spec_dir: Path) -> subprocess.CompletedProcess:
    return mmsem(spec_dir.parent, "check-spec", spec_dir.name)


def assert_spec_defect(result: subprocess.CompletedProcess, line: str) -> None:
    """Exit 2, exactly one line `line` on stderr, nothing on stdout, no traceback."""
    assert "Traceback" not in result.stdout + result.stderr
    assert (result.returncode, result.stdout, result.stderr) == (2, "", line + "\n")


def test_intact_spec_copy_is_clean(spec_copy):
    result = check_spec(spec_copy)
    assert (result.returncode, result.stdout, result.stderr) == (0, "spec: no problems found\n", "")


def test_spec_unknown_key_in_syscall(spec_copy):
    replace_once(spec_copy / "syscalls/mlock2.yaml", "number: __NR_mlock2\n", "number: __NR_mlock2\nnumbr: 325\n")
    assert_spec_defect(check_spec(spec_copy),
                       "spec/syscalls/mlock2.yaml:5:8: unknown key 'numbr' (did you mean 'number'?) (at /numbr)")


def test_spec_unknown_errno_in_check(spec_copy):
    # The first check of mlock2 (unknown-flags) is the only `errno: EINVAL` line of the file.
    replace_once(spec_copy / "syscalls/mlock2.yaml", "    errno: EINVAL\n", "    errno: EWHATEVER\n")
    assert_spec_defect(check_spec(spec_copy), "spec/syscalls/mlock2.yaml:23:12: unknown errno EWHATEVER")


def test_spec_expression_syntax_error(spec_copy):
    # Expression errors point at the expression itself (the value of `when:`).
    replace_once(spec_copy / "syscalls/mlock2.yaml", "when: flags & ~valid_flags('mlock2')",
                 "when: flags & ~valid_flags('mlock2'))")
    assert_spec_defect(check_spec(spec_copy), "spec/syscalls/mlock2.yaml:24:11: in when of step unknown-flags: "
                                              "syntax error in expression: unmatched ')'")


def test_spec_expression_unknown_name(spec_copy):
    replace_once(spec_copy / "syscalls/mlock2.yaml", "when: flags & ~valid_flags('mlock2')",
                 "when: flags & ~valid_mask")
    assert_spec_defect(check_spec(spec_copy), "spec/syscalls/mlock2.yaml:24:11: in when of step unknown-flags: "
                                              "unknown name 'valid_mask'")


def test_spec_expression_unknown_function(spec_copy):
    replace_once(spec_copy / "syscalls/mlock2.yaml", "when: flags & ~valid_flags('mlock2')",
                 "when: flags & ~valid_flagz('mlock2')")
    assert_spec_defect(check_spec(spec_copy), "spec/syscalls/mlock2.yaml:24:11: in when of step unknown-flags: "
                                              "unknown function 'valid_flagz'")


def test_spec_unknown_primitive(spec_copy):
    replace_once(spec_copy / "procedures/apply_vma_lock_flags.yaml", "  - do: lock_range\n", "  - do: lock_rang\n")
    assert_spec_defect(check_spec(spec_copy),
                       "spec/procedures/apply_vma_lock_flags.yaml:15:5: unknown primitive 'lock_rang'")


def test_spec_malformed_yaml(spec_copy):
    # munlockall is referred to by no other file, so its loss reports nothing further.
    replace_once(spec_copy / "syscalls/munlockall.yaml", "summary: unlock every", "summary: unlock: every")
    assert_spec_defect(check_spec(spec_copy),
                       "spec/syscalls/munlockall.yaml:8:16: malformed YAML: mapping values are not allowed here")


def test_spec_directory_missing(tmp_path):
    assert_bad_input(mmsem(tmp_path, "check-spec", "nowhere"), "nowhere:1:1: not a spec directory")
