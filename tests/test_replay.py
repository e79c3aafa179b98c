"""Faults in the kernel replay: crashes, hangs, interruptions, and the knobs it sets."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mmsem.semantics.replay import live
from mmsem.semantics.trace import parse_trace

MAX_MAP_COUNT = Path("/proc/sys/vm/max_map_count")


def agent_children(agent_path):
    """PIDs of running replay agents (any process whose executable is the agent)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.readlink(proc / "exe") == str(agent_path):
                    pids.append(int(proc.name))
            except OSError:
                pass
    return pids


def test_a_crashing_trace_is_an_outcome(live_kernel):
    # munmap of the whole address space takes the agent's own code with it.
    trace = parse_trace(textwrap.dedent("""
        steps:
          - mmap: {len: 2p, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
            as: A
          - munmap: {addr: 0, len: TASK_SIZE}
          - touch: {addr: A}
        """), "crash.yaml")
    result = live_kernel.run([trace])[0]
    assert [str(r.outcome) for r in result.steps] == ["0x100000000000"]
    assert result.failure == "killed by signal b"  # SIGSEGV, returning from munmap into nothing
    assert agent_children(live_kernel.agent) == []


def test_a_hanging_child_is_killed_and_reported(live_kernel):
    # The agent protocol runs any syscall number; pause(2) (34) never returns.
    text = "T 0 1 800000 0 0 0 2 1\nS 22 0 0 - 0 0 0 0 0 0\nS 22 0 0 - 0 0 0 0 0 0\nQ\n"
    started = time.monotonic()
    lines, problem = live_kernel._talk(text, 20)
    assert problem is None
    assert lines == ["X 0 timeout", "D 0"]
    assert time.monotonic() - started < 5


def test_agent_batch_timeout_kills_the_agent(live_kernel):
    text = "T 0 1 800000 0 0 0 1 3c\nS 22 0 0 - 0 0 0 0 0 0\nQ\n"
    lines, problem = live_kernel._talk(text, 1)
    assert problem == "agent timed out"
    assert agent_children(live_kernel.agent) == []


def test_knob_restored_on_error(live_kernel):
    before = MAX_MAP_COUNT.read_text()
    with pytest.raises(RuntimeError):
        with live.sysctl(MAX_MAP_COUNT, 4000):
            assert MAX_MAP_COUNT.read_text() == "4000\n"
            raise RuntimeError("boom")
    assert MAX_MAP_COUNT.read_text() == before


def test_knobs_restored_when_conform_is_interrupted(live_kernel, tmp_path):
    before = MAX_MAP_COUNT.read_text()
    proc = subprocess.Popen([sys.executable, "-m", "mmsem", "conform", "--traces", "100000", "--seed", "3",
                             "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    changed = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if MAX_MAP_COUNT.read_text() != before:
            changed = True
            break
        time.sleep(0.01)
    assert changed, "the campaign never lowered vm.max_map_count"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "mmsem: interrupted"
    assert "Traceback" not in err
    assert MAX_MAP_COUNT.read_text() == before
    assert agent_children(live_kernel.agent) == []


def test_unprivileged_trace_runs_without_cap_ipc_lock(live_kernel):
    trace = parse_trace(textwrap.dedent("""
        config: {privileged: false, rlimit_memlock: 0}
        steps:
          - mmap: {len: 1p, prot: [PROT_READ], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
            as: A
          - mlock: {addr: A, len: 1p}
          - munlock: {addr: A, len: 1p}
        """), "nobody.yaml")
    result = live_kernel.run([trace])[0]
    assert [str(r.outcome) for r in result.steps] == ["0x100000000000", "-1 EPERM", "0"]
