"""Faults in the live-kernel replay, through the command line: the trace's child killed
mid-trace, a hang, mmsem itself interrupted (SIGINT, SIGTERM). Each is reported; every
sysctl the replay changed is restored; no process it started is left behind.

These run as root on the live kernel; with MMSEM_REQUIRE_KERNEL=1 (CI) they must not skip."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import _environment

KNOBS = [Path("/proc/sys/vm/max_map_count"), Path("/proc/sys/vm/nr_hugepages")]

#: Long enough (about a second of mlock work on 512 MiB) for the test to catch the child at it.
SLOW_STEPS = """\
  - mmap: {len: 256h, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
    as: A
""" + """\
  - mlock: {addr: A, len: 256h}
  - munlock: {addr: A, len: 256h}
  - madvise: {addr: A, len: 256h, advice: MADV_DONTNEED}
""" * 12


def knobs() -> dict:
    """The knobs at rest: read under the lock that every mmsem process holds while it has
    one changed (other runs of mmsem on this machine may be replaying meanwhile)."""
    from mmsem.semantics.replay.live import knob_lock

    with knob_lock():
        return {str(k): k.read_text() for k in KNOBS}


def children(pid: int) -> dict[int, int]:
    """Every process as pid -> parent pid."""
    out = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            out[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def descendants(pid: int) -> set[int]:
    parents = children(pid)
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids) -> set[int]:
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


class Run:
    """`mmsem run --kernel live TRACE` in the background, watched: every process it starts is noted."""

    def __init__(self, tmp_path: Path, config: str = ""):
        from mmsem.semantics.replay.live import build_agent

        self.agent = str(build_agent())
        trace = tmp_path / "slow.yaml"
        trace.write_text((f"config: {config}\n" if config else "") + "steps:\n" + SLOW_STEPS)
        self.trace = trace
        self.proc = subprocess.Popen([sys.executable, "-m", "mmsem", "run", "--kernel", "live", str(trace)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_environment())
        self.seen: set[int] = set()

    def watch(self) -> None:
        self.seen |= descendants(self.proc.pid)

    def trace_child(self, timeout: float = 60) -> int:
        """The pid of the process running the trace (the agent's child), once it runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            self.watch()
            parents = children(self.proc.pid)
            for pid in self.seen:
                try:
                    # the agent's child that leads a process group of its own: a trace (the
                    # calibration child, which the agent forks first, stays in the agent's group)
                    group = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
                    if os.readlink(f"/proc/{pid}/exe") == self.agent and group == pid and \
                            os.readlink(f"/proc/{parents.get(pid, 0)}/exe") == self.agent:
                        return pid
                except OSError:
                    pass
            time.sleep(0.005)
        pytest.fail(f"the trace never started: {self.proc.communicate()}")

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        time.sleep(0.2)  # SIGKILLed processes are reaped by init
        assert alive(self.seen) == set(), "processes left behind"
        return self.proc.returncode, out, err


@pytest.fixture
def kernel(live_kernel):
    before = knobs()
    yield live_kernel
    assert knobs() == before, "a sysctl was not restored"


def test_trace_child_killed_mid_trace(kernel, tmp_path):
    run = Run(tmp_path)
    os.kill(run.trace_child(), signal.SIGKILL)
    code, out, err = run.finish()
    assert code == 1 and "Traceback" not in err
    assert "run stopped: killed by signal 9" in out.splitlines()
    assert f"{run.trace}:1:1: the run did not finish: killed by signal 9" in out.splitlines() and err == ""


def test_hanging_trace_is_killed_and_reported(kernel, tmp_path):
    # A stopped child heeds neither its alarm nor its CPU limit: the agent's watchdog ends it
    # (10 s limit + 5 s), and the run says so.
    run = Run(tmp_path)
    os.kill(run.trace_child(), signal.SIGSTOP)
    started = time.monotonic()
    code, out, err = run.finish()
    assert time.monotonic() - started < 30
    assert code == 1 and "Traceback" not in err
    assert "run stopped: timeout" in out.splitlines()
    assert f"{run.trace}:1:1: the run did not finish: timeout" in out.splitlines() and err == ""


@pytest.mark.parametrize("sig, code, message", [
    (signal.SIGINT, 130, "mmsem: interrupted"),
    (signal.SIGTERM, 143, "mmsem: terminated"),
], ids=["SIGINT", "SIGTERM"])
def test_interrupted_replay_restores_every_knob(kernel, tmp_path, sig, code, message):
    before = knobs()
    # a small map limit lowers vm.max_map_count; a huge page pool sets vm.nr_hugepages
    run = Run(tmp_path, "{max_map_count: 1000, hugetlb_pages: 2}")
    run.trace_child()  # the trace runs only once both knobs are set
    assert {str(k): k.read_text() for k in KNOBS} != before
    run.proc.send_signal(sig)
    got, out, err = run.finish()
    assert (got, err.splitlines()[-1:]) == (code, [message])
    assert "Traceback" not in err
    assert knobs() == before


def test_interrupted_during_setup(kernel, tmp_path):
    """Interrupted at once, before or while the knobs are set: all the same."""
    before = knobs()
    for delay in (0.0, 0.3, 0.6, 0.9):
        run = Run(tmp_path, "{max_map_count: 1000, hugetlb_pages: 2}")
        time.sleep(delay)
        run.watch()
        run.proc.send_signal(signal.SIGTERM)
        got, out, err = run.finish()
        assert got in (143, -signal.SIGTERM) and "Traceback" not in err
        assert knobs() == before
