"""Replay traces on the live kernel through the C agent (agent.c).

The agent is compiled on first use into a per-user cache. Each batch of traces
goes to one agent process; the agent forks a child per trace, so a crash, a hang
or a stray signal in a trace is an outcome reported for that trace, never a crash
of mmsem. Global knobs the replay needs (the huge page pool) are set only here, as
root, and always restored, also on SIGINT and SIGTERM.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from mmsem.semantics.config import running_profile_name
from mmsem.semantics import vma_ops
from mmsem.semantics.engine import MAIN, add_own_mappings
from mmsem.semantics.expr import MASK64, Namespace, compile_expr
from mmsem.semantics.namespace import FUNCTIONS
from mmsem.semantics.observe import Observation, PageObs
from mmsem.semantics.program import Outcome, errno_name
from mmsem.semantics.replay import ReplayUnavailable
from mmsem.semantics.runner import StepRecord, TraceResult
from mmsem.semantics.layout import TASK_UNMAPPED_BASE
from mmsem.semantics.state import Mm, OwnMapping, Outside
from mmsem.semantics.trace import PURE_FUNCTIONS, Ref, Trace
from mmsem.spec import default_spec
from mmsem.spec.model import Spec

AGENT_SOURCE = Path(__file__).resolve().parent / "agent.c"
TOUCH = MASK64
FORK = MASK64 - 1
PAGE = 4096
MAX_MAP_COUNT = Path("/proc/sys/vm/max_map_count")
#: While traces with a small max_map_count run, the system-wide limit is lowered to
#: this value, so that each child needs only ~2000 filler mappings to reach the
#: trace's limit instead of ~65000 (5.5 us each to fork, exit and list). Ordinary
#: processes have far fewer mappings; the old value is restored afterwards.
MAP_COUNT_WINDOW = 2048
NR_HUGEPAGES = Path("/proc/sys/vm/nr_hugepages")


# -- building the agent ------------------------------------------------------------------

def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mmsem"


def build_agent() -> Path:
    """Compile agent.c (once per source version) and return the binary's path."""
    source = AGENT_SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    target = cache_dir() / f"replay-agent-{digest}"
    if target.exists():
        return target
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise ReplayUnavailable("the kernel replay needs a C compiler (gcc) to build its agent")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        out = Path(tmp) / "agent"
        base = [compiler, "-O2", "-Wall", "-Werror", "-o", str(out), str(AGENT_SOURCE)]
        done = subprocess.run(base[:1] + ["-static"] + base[1:], capture_output=True, text=True)
        if done.returncode != 0:  # no static libc: a dynamic agent works the same on this machine
            done = subprocess.run(base, capture_output=True, text=True)
        if done.returncode != 0:
            raise ReplayUnavailable(f"building the replay agent failed: {done.stderr.strip().splitlines()[-1:]}")
        os.replace(out, target)
    return target


# -- knobs -----------------------------------------------------------------------------------

def read_int(path: Path) -> int:
    return int(path.read_text().split()[0])


KNOB_LOCK = Path("/run/lock/mmsem-sysctl.lock")


_knob_mutex = threading.RLock()
_knob_holder: dict = {"depth": 0, "file": None}


@contextmanager
def knob_lock():
    """Serialise knob changes across mmsem processes, so that no run restores another's value.

    Re-entrant within a process (knobs nest); the file lock is taken once.
    """
    with _knob_mutex:
        if _knob_holder["depth"] == 0:
            KNOB_LOCK.parent.mkdir(parents=True, exist_ok=True)
            fh = open(KNOB_LOCK, "a")
            fcntl.flock(fh, fcntl.LOCK_EX)
            _knob_holder["file"] = fh
        _knob_holder["depth"] += 1
        try:
            yield
        finally:
            _knob_holder["depth"] -= 1
            if _knob_holder["depth"] == 0:
                fh = _knob_holder.pop("file")
                _knob_holder["file"] = None
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()


@contextmanager
def sysctl(path: Path, value: int):
    """Set a /proc/sys knob for the duration, restoring it on exit, error or signal."""
    with knob_lock():
        if read_int(path) == value:
            yield
            return
        with _set_knob(path, value):
            yield


@contextmanager
def _set_knob(path: Path, value: int):
    old = read_int(path)
    restored = threading.Event()

    def restore(*_):
        if not restored.is_set():
            path.write_text(f"{old}\n")
            restored.set()

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)

            def handler(signum, frame, previous=previous):
                restore()
                if callable(previous):
                    previous(signum, frame)
                else:
                    raise KeyboardInterrupt
            handlers[sig] = previous
            signal.signal(sig, handler)
    try:
        path.write_text(f"{value}\n")
        if read_int(path) != value:
            raise ReplayUnavailable(f"could not set {path} to {value}")
        yield
    finally:
        restore()
        for sig, previous in handlers.items():
            signal.signal(sig, previous)


# -- encoding traces ---------------------------------------------------------------------------

def step_arguments(spec: Spec, trace_step, entry) -> list[int]:
    """The step's arguments in prototype order, with arena placement forced."""
    args = dict(trace_step.args)
    if entry.placement and not trace_step.fixed and trace_step.slot is not None:
        env = dict(args, slot=trace_step.slot)
        ns = Namespace(frozenset(env), spec.constants, frozenset(), {},
                       {name: FUNCTIONS[name] for name in PURE_FUNCTIONS})
        for name, source in entry.placement["force"].items():
            args[name] = compile_expr(source, ns)(env, None) & MASK64
    return [args[arg.name] if isinstance(args[arg.name], Ref) else args[arg.name] & MASK64 for arg in entry.args]


def placement_word(entry, step) -> str:
    """"K,L" when the agent must move argument K (the slot) up to a free range of argument L's
    length, as the engine's unmapped_area does; "-" otherwise."""
    if not entry.placement or step.fixed or step.slot is None:
        return "-"
    names = [arg.name for arg in entry.args]
    slot_arg = next(name for name, source in entry.placement["force"].items() if source == "slot")
    return f"{names.index(slot_arg)},{names.index(entry.placement['size'])}"


def encode(spec: Spec, trace: Trace, ident: int, fill: int, timeout: int, snap_all: bool) -> str:
    config = trace.config
    memlock = MASK64 if config.rlimit_memlock is None else config.rlimit_memlock
    lines = [f"T {ident:x} {int(config.privileged):x} {memlock:x} {config.hugetlb_pages:x} {fill:x} "
             f"{len(trace.files):x} {len(trace.steps):x} {timeout:x}"]
    for file in trace.files.values():
        lines.append(f"F {file.size:x} {int(file.hugetlb):x} {int(file.writable):x} {int(file.readable):x}")
    procs = process_names(trace)
    for step in trace.steps:
        entry = spec.syscalls[step.call]
        args = step_arguments(spec, step, entry)
        if step.new_process:
            nr, args = FORK, [procs.index(step.new_process)]
        elif entry.kind == "pseudo":
            if step.call != "touch":
                raise ReplayUnavailable(f"{trace.path}: pseudo-step {step.call} cannot be replayed")
            nr = TOUCH
        else:
            nr = spec.constants[entry.number]
        args = (args + [0] * 6)[:6]
        # Listing ~2000 filler mappings costs milliseconds: traces with a small map limit
        # are observed at their expectations and at the end only.
        snap = int((snap_all and fill == 0) or step.expect_state is not None)
        words = " ".join(f"r{a.step:x}+{a.offset:x}" if isinstance(a, Ref) else f"{a:x}" for a in args)
        lines.append(f"S {nr:x} {procs.index(step.proc):x} {snap:x} {placement_word(entry, step)} {words}")
    return "\n".join(lines) + "\n"


def process_names(trace: Trace) -> list[str]:
    """The trace's processes in the order the agent numbers them: the first, then each fork's."""
    return [MAIN] + [step.new_process for step in trace.steps if step.new_process]


# -- decoding results ---------------------------------------------------------------------------

def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def parse_snapshot(lines, start: int) -> tuple[Observation, int]:
    """Parse from an 'O' line to its 'Z' line; returns the observation and the next index."""
    header = lines[start].split()  # O id tag proc vmlck_kb own_locked_kb
    vmlck_kb, outside_kb = int(header[4], 16), int(header[5], 16)
    pages = {}
    i = start + 1
    while i < len(lines) and not lines[i].startswith("Z "):
        parts = lines[i].split()
        begin, perms = int(parts[1], 16), parts[3]
        lo, lf = parts[4] == "1", parts[5] == "1"
        bits = parts[6] if len(parts) > 6 else ""
        prot, shared = perms[:3], perms[3] == "s"
        for k, bit in enumerate(bits):
            pages[begin + k * PAGE] = PageObs(True, prot, shared, lo, lf, bit == "1")
        i += 1
    return Observation(pages, (vmlck_kb - outside_kb) // 4), i + 1


#: smaps VmFlags mnemonics (fs/proc/task_mmu.c) of the flags the model tracks.
MNEMONICS = {"rd": "VM_READ", "wr": "VM_WRITE", "ex": "VM_EXEC", "sh": "VM_SHARED", "mr": "VM_MAYREAD",
             "mw": "VM_MAYWRITE", "me": "VM_MAYEXEC", "ms": "VM_MAYSHARE", "gd": "VM_GROWSDOWN",
             "pf": "VM_PFNMAP", "lo": "VM_LOCKED", "io": "VM_IO", "sr": "VM_SEQ_READ", "rr": "VM_RAND_READ",
             "dc": "VM_DONTCOPY", "de": "VM_DONTEXPAND", "ac": "VM_ACCOUNT", "nr": "VM_NORESERVE",
             "ht": "VM_HUGETLB", "wf": "VM_WIPEONFORK", "dd": "VM_DONTDUMP", "mm": "VM_MIXEDMAP",
             "hg": "VM_HUGEPAGE", "nh": "VM_NOHUGEPAGE", "mg": "VM_MERGEABLE", "lf": "VM_LOCKONFAULT",
             "dp": "VM_DROPPABLE"}


def parse_calibration(lines: list[str], spec: Spec) -> Outside:
    """The agent's answer to C: its mappings (M lines), program break (B) and totals (K)."""
    mappings, brk, start_brk, commit, totals, probe = [], 0, 0, 0, None, None
    for line in lines:
        parts = line.split()
        if parts[:1] == ["M"]:
            start, end, perms, offset, inode = parts[1:6]
            flags = 0
            for mnemonic in parts[6:]:
                if mnemonic in MNEMONICS:
                    flags |= spec.constants[MNEMONICS[mnemonic]]
            mappings.append(OwnMapping(int(start, 16), int(end, 16), flags, inode != "0",
                                       int(offset, 16) // PAGE if inode != "0" else int(start, 16) // PAGE))
        elif parts[:1] == ["B"]:
            brk = int(parts[1], 16)
            start_brk = int(parts[2], 16) if len(parts) > 2 else brk
        elif parts[:1] == ["L"]:
            commit = int(parts[1], 16)
        elif parts[:1] == ["P"]:
            probe = int(parts[1], 16)
        elif parts[:1] == ["K"]:
            totals = [int(x, 16) for x in parts[1:4]]
    if totals is None:
        raise ReplayUnavailable("the replay agent did not report its mappings")
    if mappings and len(mappings) != totals[0]:
        raise ReplayUnavailable("the replay agent's mapping list is incomplete")
    if mappings:
        outside = Outside(mappings=tuple(mappings), brk=brk, start_brk=start_brk, commit_pages=commit,
                          mmap_base=TASK_UNMAPPED_BASE)
        if probe is not None and first_fit_probe(outside) != probe:
            raise ReplayUnavailable(f"the kernel placed a mapping at {probe:#x}, where the model "
                                    f"expects {first_fit_probe(outside):#x}: is the legacy layout in effect?")
        return outside
    return Outside(vmas=totals[0], pages=totals[1], lockable_pages=totals[2], brk=brk, start_brk=start_brk,
                   commit_pages=commit)


def first_fit_probe(outside: Outside) -> int:
    """Where the engine places a one-page mapping the kernel chooses the address of."""
    mm = Mm(outside=outside)
    add_own_mappings(mm, outside.mappings)
    return vma_ops.unmapped_area(mm, PAGE, 0, 0, None)


@dataclass
class Calibration:
    outside: Outside
    max_map_count: int


class LiveKernel:
    """The running kernel as a backend for traces."""

    def __init__(self, spec: Spec | None = None, timeout: int = 10):
        if os.geteuid() != 0:
            raise ReplayUnavailable("the kernel replay runs as root (it sets limits and drops privileges per trace)")
        self.spec = spec or default_spec()
        self.timeout = timeout
        self.agent = build_agent()
        self.release = os.uname().release
        self._calibration: Calibration | None = None
        self._agents: set = set()
        self._agents_lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"kernel {self.release}"

    @property
    def profile_name(self) -> str:
        """The engine profile this kernel is compared with."""
        return running_profile_name()

    def _talk(self, text: str, timeout: float) -> tuple[list[str], str | None]:
        proc = subprocess.Popen([str(self.agent)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env={}, start_new_session=True)
        with self._agents_lock:
            self._agents.add(proc)
        try:
            return self._exchange(proc, text, timeout)
        finally:
            with self._agents_lock:
                self._agents.discard(proc)

    def kill_agents(self) -> None:
        """Stop every agent still running (on interruption: worker threads cannot be interrupted)."""
        with self._agents_lock:
            for proc in list(self._agents):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    @staticmethod
    def _exchange(proc, text: str, timeout: float) -> tuple[list[str], str | None]:
        try:
            out, _ = proc.communicate(text.encode(), timeout=timeout)
            problem = None if proc.returncode == 0 else f"agent exited with status {proc.returncode}"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            problem = "agent timed out"
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        return out.decode(errors="replace").splitlines(), problem

    def calibration(self) -> Calibration:
        """The agent child's own mappings and program break, measured once."""
        if self._calibration is None:
            lines, problem = self._talk("C\nQ\n", 30)
            if problem or not any(line.startswith("K ") for line in lines):
                raise ReplayUnavailable(f"calibrating the replay agent failed: {problem or 'no answer'}")
            with knob_lock():  # another mmsem process may have lowered it for a while
                system_max = read_int(MAX_MAP_COUNT)
            self._calibration = Calibration(parse_calibration(lines, self.spec), system_max)
        return self._calibration

    def outside_for(self, trace: Trace) -> Outside:
        """What the engine must assume about the process outside the arena for this trace."""
        # The filler mappings count in the address space's size and get locked by
        # mlockall; they do not count towards the trace's max_map_count, which the
        # engine applies to the process's other mappings, as their number was chosen for.
        fill = self.filler_count(trace)
        return replace(self.calibration().outside, vmas=0, pages=fill, lockable_pages=fill)

    def system_limit(self, trace: Trace) -> int:
        """vm.max_map_count while this trace runs."""
        system_max = self.calibration().max_map_count
        return min(MAP_COUNT_WINDOW, system_max) if trace.config.max_map_count < system_max else system_max

    def filler_count(self, trace: Trace) -> int:
        """Extra mappings that make the system's limit act as the trace's max_map_count."""
        limit = self.system_limit(trace)
        wanted = trace.config.max_map_count
        if wanted > limit:
            raise ReplayUnavailable(f"{trace.path}: max_map_count {wanted} is above the system's {limit}")
        return limit - wanted

    def run(self, traces: list[Trace], snap_all: bool = False, jobs: int = 1) -> list[TraceResult]:
        """Replay traces; those that need a huge page pool or a small map limit run with the knob set."""
        results: list[TraceResult | None] = [None] * len(traces)
        groups: dict[tuple, list[int]] = {}
        for i, trace in enumerate(traces):
            key = (trace.config.hugetlb_pages, self.system_limit(trace))
            groups.setdefault(key, []).append(i)
        try:
            self._run_groups(traces, groups, results, snap_all, jobs)
        except BaseException:
            self.kill_agents()
            raise
        return results

    def _run_groups(self, traces, groups, results, snap_all: bool, jobs: int) -> None:
        for (pool, limit), indexes in sorted(groups.items()):
            with sysctl(NR_HUGEPAGES, pool), sysctl(MAX_MAP_COUNT, limit):
                ways = jobs if pool == 0 else 1  # a pool is shared: its traces run one at a time
                parts = [indexes[j::ways] for j in range(ways)]
                parts = [p for p in parts if p]
                if len(parts) == 1:
                    batches = [self._run_batch([traces[i] for i in parts[0]], snap_all)]
                else:
                    with ThreadPoolExecutor(len(parts)) as pool_exec:
                        try:
                            batches = list(pool_exec.map(
                                lambda part: self._run_batch([traces[i] for i in part], snap_all), parts))
                        except BaseException:  # before the executor waits for its threads: stop their agents
                            self.kill_agents()
                            raise
            for part, batch in zip(parts, batches):
                for i, result in zip(part, batch):
                    results[i] = result

    def _run_batch(self, traces: list[Trace], snap_all: bool) -> list[TraceResult]:
        # The agent adds filler mappings to itself and never removes them: send in increasing order.
        order = sorted(range(len(traces)), key=lambda i: self.filler_count(traces[i]))
        text = "".join(encode(self.spec, traces[i], i, self.filler_count(traces[i]), self.timeout, snap_all)
                       for i in order) + "Q\n"
        lines, problem = self._talk(text, self.timeout * len(traces) + 30)
        results = [TraceResult(t, self.name) for t in traces]
        done = set()
        states = {}  # (trace, step) -> the snapshot after it, which the agent sends before the R line
        i = 0
        while i < len(lines):
            line = lines[i]
            kind, rest = line[:1], line[2:].split()
            if kind == "R":
                ident, index, ret, err, sig = int(rest[0], 16), int(rest[1], 16), int(rest[2]), int(rest[3], 16), int(rest[4], 16)
                step = traces[ident].steps[index]
                if sig:
                    outcome = Outcome(signal=signal_name(sig))
                elif err:
                    outcome = Outcome(errno=errno_name(err, self.spec))
                else:
                    outcome = Outcome(ret=ret)
                results[ident].steps.append(StepRecord(step, outcome))
                results[ident].returns[index] = ret & MASK64
            elif kind == "O":
                ident, tag, proc = int(rest[0], 16), rest[1], int(rest[2], 16)
                obs, i = parse_snapshot(lines, i)
                if tag == "final":
                    results[ident].final[process_names(traces[ident])[proc]] = obs
                else:
                    states[ident, int(tag, 16)] = obs
                continue
            elif kind == "X":
                results[int(rest[0], 16)].failure = " ".join(rest[1:])
            elif kind == "D":
                done.add(int(rest[0], 16))
            i += 1
        for ident, result in enumerate(results):
            order = process_names(traces[ident])  # children report their final state first
            result.final = {name: result.final[name] for name in order if name in result.final}
        for (ident, index), obs in states.items():
            if index < len(results[ident].steps):
                results[ident].steps[index].state = obs
        for ident, result in enumerate(results):
            if ident not in done and result.failure is None:
                result.failure = problem or "the agent stopped before this trace"
        return results
