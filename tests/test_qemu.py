"""Linux 6.1 under qemu as a second real kernel (target qemu:6.1).

These tests boot Debian's 6.1 kernel. They need qemu-system-x86_64, a static busybox
(busybox-static), a static libc for the agent, and the kernel image, which the fixture
fetches itself with apt-get download (once; it is cached). Where something is missing
they are skipped, except in CI (MMSEM_REQUIRE_KERNEL=1), where they must run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mmsem.semantics import kerneldiff
from mmsem.semantics.compare import compare
from mmsem.semantics.conform import Campaign
from mmsem.semantics.engine import MAIN
from mmsem.semantics.observe import PAGE_SIZE
from mmsem.semantics.replay import ReplayUnavailable, backend
from mmsem.semantics.replay import qemu
from mmsem.semantics.runner import mismatches, run_engine
from mmsem.semantics.trace import parse_trace, read_trace

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
#: The examples' own profile (see test_examples.py): those without config.kernel, or
#: with this one, describe the live kernel and are replayed on 6.1 too.
EXAMPLES_KERNEL = "6.18"


@pytest.fixture(scope="module")
def vm_kernel():
    try:
        kernel = qemu.QemuKernel("6.1")
    except ReplayUnavailable as exc:
        if os.environ.get("MMSEM_REQUIRE_KERNEL") == "1":
            pytest.fail(f"the 6.1 VM is required but unavailable: {exc}")
        pytest.skip(str(exc))
    yield kernel
    kernel.close()


def trace_of(text: str, name: str = "t.yaml"):
    return parse_trace(textwrap.dedent(text), name)


def outcomes(result) -> list[str]:
    return [str(record.outcome) for record in result.steps]


def pages(result, name: str, count: int) -> list:
    base = result.values[name]
    return [result.final[MAIN].page(base + i * PAGE_SIZE) for i in range(count)]


# -- the image ---------------------------------------------------------------------------------

def test_the_image_is_a_cached_debian_6_1(vm_kernel):
    image = vm_kernel.image
    assert image.version == "6.1"
    assert image.release.startswith("6.1.0-") and image.release.endswith("-cloud-amd64")
    assert image.package == f"linux-image-{image.release}-unsigned"
    assert image.package_version.startswith("6.1.")
    assert f"Debian {image.package_version}" in image.banner
    assert image.vmlinux is not None and image.vmlinux.read_bytes()[:4] == b"\x7fELF"
    assert qemu.cached_kernel("6.1") == image
    assert vm_kernel.name == f"kernel {image.release} (Debian {image.package_version}, qemu)"
    assert vm_kernel.profile_name == "6.1"


def test_kernels_command_reports_the_image(vm_kernel):
    done = subprocess.run([sys.executable, "-m", "mmsem", "kernels", "fetch", "6.1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"qemu:6.1: Linux {vm_kernel.image.release} (Debian {vm_kernel.image.package_version}" in done.stdout
    listed = subprocess.run([sys.executable, "-m", "mmsem", "kernels", "list"], capture_output=True, text=True)
    assert "qemu:6.1:" in listed.stdout


def test_bad_targets_are_one_line_errors():
    with pytest.raises(ReplayUnavailable, match="not of the form X.Y"):
        backend("qemu:six")
    done = subprocess.run([sys.executable, "-m", "mmsem", "kernels", "fetch", "6"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not of the form X.Y" in done.stderr


def test_missing_qemu_is_a_clear_error(monkeypatch):
    real = qemu.shutil.which
    monkeypatch.setattr(qemu.shutil, "which", lambda name: None if name.startswith("qemu") else real(name))
    with pytest.raises(ReplayUnavailable, match=r"needs qemu-system-x86_64.*apt-get install qemu-system-x86"):
        qemu.QemuKernel("6.1")


def test_initramfs_archive_format():
    archive = qemu.cpio_newc([("a", qemu.DATA, b"xyz", 0, 0), ("dev/console", qemu.CHAR, b"", 5, 1)])
    assert archive.startswith(b"070701")
    assert len(archive) % 4 == 0
    assert b"TRAILER!!!\0" in archive
    # the console node: rdevmajor 5, rdevminor 1 (fields 10 and 11 of the second header)
    second = archive.index(b"070701", 6)
    fields = [int(archive[second + 6 + 8 * k: second + 14 + 8 * k], 16) for k in range(13)]
    assert (fields[1], fields[9], fields[10]) == (qemu.CHAR, 5, 1)


# -- exact outcomes on 6.1 ----------------------------------------------------------------------

def test_small_trace_exact_outcomes(vm_kernel):
    trace = trace_of("""
        steps:
          - mmap: {len: 4p, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
            as: A
          - mlock: {addr: A+1p, len: 2p}
          - munlock: {addr: A+2p, len: 1p}
          - touch: {addr: A+3p, write: true}
          - munmap: {addr: A+3p, len: 1p}
          - touch: {addr: A+3p}
        """)
    result = vm_kernel.run([trace])[0]
    assert result.failure is None
    assert outcomes(result) == ["0x100000000000", "0", "0", "0", "0", "SIGSEGV"]
    got = [(p.mapped, p.locked, p.resident) for p in pages(result, "A", 4)]
    assert got == [(True, False, False), (True, True, True), (True, False, True), (False, False, False)]
    assert result.final[MAIN].vmlck == 1
    assert trace.config.kernel == "6.1"  # a trace without a profile is judged as this kernel


def test_lock_on_fault_shows_as_question_marks_and_is_parsed(vm_kernel):
    # 6.1 has no "lf" mnemonic: smaps prints VM_LOCKONFAULT as "??" (and "sd" on every VMA).
    trace = trace_of("""
        steps:
          - mmap: {len: 3p, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
            as: A
          - mlock2: {addr: A, len: 2p, flags: [MLOCK_ONFAULT]}
          - touch: {addr: A, write: true}
          - mmap: {len: 2p, prot: [PROT_READ], flags: [MAP_PRIVATE, MAP_ANONYMOUS, MAP_LOCKED]}
            as: B
        """)
    result = vm_kernel.run([trace], snap_all=True)[0]
    assert result.failure is None
    assert outcomes(result)[1:3] == ["0", "0"]
    a = [(p.locked, p.onfault, p.resident) for p in pages(result, "A", 3)]
    assert a == [(True, True, True), (True, True, False), (False, False, False)]
    assert [(p.locked, p.onfault, p.resident) for p in pages(result, "B", 2)] == [(True, False, True)] * 2
    engine = run_engine(trace, outside=vm_kernel.outside_for(trace))
    assert compare(engine, result).divergences == []


def test_mlockall_onfault_alone_is_rejected(vm_kernel):
    trace = trace_of("""
        steps:
          - mlockall: {flags: [MCL_ONFAULT]}
          - mlockall: {flags: [MCL_FUTURE, MCL_ONFAULT]}
          - mmap: {len: 2p, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
            as: A
          - munlockall: {}
        """)
    result = vm_kernel.run([trace])[0]
    assert outcomes(result)[:2] == ["-1 EINVAL", "0"]


def test_map_droppable_does_not_exist_yet(vm_kernel):
    # MAP_DROPPABLE (0x08 in the mapping type) came with 6.11: 6.1 rejects the type.
    trace = trace_of("""
        steps:
          - mmap: {len: 2p, prot: [PROT_READ, PROT_WRITE], flags: [MAP_DROPPABLE, MAP_ANONYMOUS]}
          - mmap: {len: 2p, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
        """)
    result = vm_kernel.run([trace])[0]
    assert outcomes(result)[0] == "-1 EINVAL" and result.steps[1].outcome.ok
    assert run_engine(trace).steps[0].outcome.errno == "EINVAL"  # the trace now names profile 6.1


def test_knobs_are_set_inside_the_guest(vm_kernel):
    pool = trace_of("""
        config: {hugetlb_pages: 2}
        steps:
          - mmap: {len: 2h, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS, MAP_HUGETLB]}
            as: A
          - mmap: {len: 1h, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS, MAP_HUGETLB]}
        """, "pool.yaml")
    plain = trace_of("""
        steps:
          - mmap: {len: 1h, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS, MAP_HUGETLB]}
        """, "nopool.yaml")
    results = vm_kernel.run([pool, plain])
    assert results[0].steps[0].outcome.ok
    assert [outcomes(results[0])[1], outcomes(results[1])] == ["-1 ENOMEM", ["-1 ENOMEM"]]
    for trace, result in zip([pool, plain], results):
        engine = run_engine(trace, outside=vm_kernel.outside_for(trace))
        assert compare(engine, result).divergences == []


def test_a_small_map_limit_uses_fillers_and_spares_init(vm_kernel):
    own = len(vm_kernel.calibration().outside.mappings)
    tight = trace_of(f"""
        config: {{max_map_count: {own + 1}}}
        steps:
          - mmap: {{len: 4p, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}}
            as: A
          - mlock: {{addr: A+1p, len: 1p}}
          - mlock: {{addr: A, len: 4p}}
        """, "tight.yaml")
    tiny = trace_of("""
        config: {max_map_count: 3}
        steps:
          - mmap: {len: 1p, prot: [PROT_READ], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
        """, "tiny.yaml")
    after = trace_of("""
        steps:
          - mmap: {len: 1p, prot: [PROT_READ], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
        """, "after.yaml")
    assert vm_kernel.system_limit(tight) == qemu.MAP_COUNT_FLOOR
    assert vm_kernel.filler_count(tight) == qemu.MAP_COUNT_FLOOR - own - 1
    vm_kernel.run([after])
    boots = len(vm_kernel.boots)
    results = vm_kernel.run([tight, tiny, after])
    assert outcomes(results[0])[1:] == ["-1 ENOMEM", "0"]  # the split needs a mapping more than the limit
    engine = run_engine(tight, outside=vm_kernel.outside_for(tight))
    assert compare(engine, results[0]).divergences == []
    assert results[1].failure == "cannot create filler mappings"  # as on the live kernel
    assert results[2].failure is None and outcomes(results[2]) == ["0x100000000000"]
    assert len(vm_kernel.boots) == boots  # the VM lived on


def test_a_crashing_trace_is_an_outcome(vm_kernel):
    crash = trace_of("""
        steps:
          - mmap: {len: 2p, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
            as: A
          - munmap: {addr: 0, len: TASK_SIZE}
          - touch: {addr: A}
        """, "crash.yaml")
    after = trace_of("""
        steps:
          - mmap: {len: 1p, prot: [PROT_READ], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
        """, "after.yaml")
    first, second = vm_kernel.run([crash, after])
    assert outcomes(first) == ["0x100000000000"]
    assert first.failure == "killed by signal b"
    assert second.failure is None and outcomes(second) == ["0x100000000000"]


def test_a_vm_that_stops_mid_group_costs_one_trace(vm_kernel, monkeypatch):
    """The group runs again, streamed; the trace that was running fails, the others run."""
    traces = [trace_of(f"""
        steps:
          - mmap: {{len: {n}p, prot: [PROT_READ], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}}
        """, f"t{n}.yaml") for n in (1, 2, 3, 4)]
    real = qemu.VM.run_group
    calls = []

    def stopping(self, pool, limit, text, count, stream=False, quiet=0.0):
        calls.append(stream)
        if len(calls) == 1:  # the buffered run: the VM dies, nothing comes back
            self.kill("simulated stop")
            return qemu.GroupOutput([], None, self.dead)
        out = real(self, pool, limit, text, count, stream, quiet)
        if len(calls) == 2:  # the streamed run: the VM dies after the first trace
            cut = out.lines.index("D 0") + 1
            self.kill("simulated stop")
            return qemu.GroupOutput(out.lines[:cut], out.knobs, self.dead)
        return out

    monkeypatch.setattr(qemu.VM, "run_group", stopping)
    results = vm_kernel.run(traces)
    assert calls == [False, True, True]
    assert [outcomes(r) for r in results] == [["0x100000000000"], [], ["0x100000000000"], ["0x100000000000"]]
    assert results[1].failure.startswith("simulated stop")
    assert [r.failure for r in (results[0], results[2], results[3])] == [None, None, None]


def test_deadline_kills_the_vm(vm_kernel, monkeypatch):
    vm = vm_kernel._take_vm()
    # pause(2) (syscall 34) never returns; the agent's own alarm is 60 s, the deadline shorter.
    monkeypatch.setattr(qemu, "GROUP_SECONDS", 3)
    out = vm.run_group(0, 65530, "T 0 1 800000 0 0 0 1 3c\nS 22 0 0 0 0 0 0 0 0\nQ\n", 0)
    assert out.problem == "the VM did not answer within 3 s"
    vm.proc.wait(timeout=10)
    assert vm.dead


# -- agreement with the engine's 6.1 profile -------------------------------------------------------

def test_bounded_campaign_agrees_with_the_6_1_profile(vm_kernel, tmp_path):
    report = Campaign(vm_kernel, jobs=2, out_dir=tmp_path, shrink_limit=0).run(300, seed=7, steps=12)
    assert report.profile == "6.1"
    assert report.traces == 300
    assert [f.as_dict() for f in report.undeclared] == []


def live_examples() -> list[Path]:
    return [path for path in sorted(EXAMPLES.glob("*.yaml"))
            if read_trace(path).config.kernel in (None, EXAMPLES_KERNEL)]


def replayed_as(kernel, paths: list[Path], profile: str) -> dict:
    """The traces, replayed on the kernel in one batch and pinned to the profile they are
    judged by: {file stem: (trace, kernel result)}."""
    traces = []
    for path in paths:
        trace = read_trace(path)
        trace.config = dataclasses.replace(trace.config, kernel=profile)
        traces.append(trace)
    results = kernel.run(traces, snap_all=True)
    return {Path(trace.path).stem: (trace, result) for trace, result in zip(traces, results)}


@pytest.fixture(scope="module")
def example_results(vm_kernel):
    """Every example of the live kernel, replayed on 6.1 in one batch, judged as 6.1."""
    return replayed_as(vm_kernel, live_examples(), "6.1")


@pytest.mark.parametrize("path", live_examples(), ids=[p.stem for p in live_examples()])
def test_example_on_6_1_matches_the_6_1_profile(vm_kernel, example_results, path):
    trace, result = example_results[path.stem]
    assert result.failure is None
    engine = run_engine(trace, outside=vm_kernel.outside_for(trace))
    comparison = compare(engine, result)
    assert [d.as_dict() for d in comparison.divergences] == []
    # The example's expectations (written for 6.18) hold on 6.1 exactly where the 6.1
    # profile says they do.
    assert [str(m) for m in mismatches(result)] == [str(m) for m in mismatches(engine)]


# -- the examples written for 6.1 ---------------------------------------------------------------------

def examples_of_6_1() -> list[Path]:
    return [path for path in sorted(EXAMPLES.glob("*.yaml")) if read_trace(path).config.kernel == "6.1"]


@pytest.fixture(scope="module")
def results_of_6_1_examples(vm_kernel):
    return replayed_as(vm_kernel, examples_of_6_1(), "6.1")


def test_there_are_6_1_examples():
    assert len(examples_of_6_1()) == 9


@pytest.mark.parametrize("path", examples_of_6_1(), ids=[p.stem for p in examples_of_6_1()])
def test_6_1_example_holds_on_6_1(vm_kernel, results_of_6_1_examples, path):
    trace, result = results_of_6_1_examples[path.stem]
    assert result.failure is None
    assert [str(m) for m in mismatches(result)] == []
    engine = run_engine(trace, outside=vm_kernel.outside_for(trace))
    assert [d.as_dict() for d in compare(engine, result).divergences] == []


@pytest.fixture(scope="module")
def live_results_of_6_1_examples(live_kernel):
    """The 6.1 examples on the running kernel, judged as 6.18."""
    return replayed_as(live_kernel, examples_of_6_1(), EXAMPLES_KERNEL)


@pytest.mark.parametrize("path", examples_of_6_1(), ids=[p.stem for p in examples_of_6_1()])
def test_6_1_example_differs_on_6_18_as_its_profile_says(live_kernel, live_results_of_6_1_examples, path):
    trace, result = live_results_of_6_1_examples[path.stem]
    assert result.failure is None
    engine = run_engine(trace, outside=live_kernel.outside_for(trace))
    assert [d.as_dict() for d in compare(engine, result).divergences] == []
    # the expectations are 6.1's: on 6.18 some of them fail, exactly those the 6.18 profile predicts
    kernel_mismatches = [str(m) for m in mismatches(result)]
    assert kernel_mismatches != []
    assert kernel_mismatches == [str(m) for m in mismatches(engine)]


# -- what differs between the two kernels ---------------------------------------------------------------

def test_every_difference_between_6_1_and_6_18_has_a_since_version(vm_kernel, live_kernel):
    report = kerneldiff.compare_kernels(vm_kernel, live_kernel, 150, seed=5, jobs=2)
    assert (report.old_profile, report.new_profile, report.traces) == ("6.1", "6.18", 150)
    assert [d.as_dict() for d in report.unexplained] == []
    # seed 5 meets the two youngest calls and flags of the model at least
    items = report.by_item()
    assert "6.10: call mseal" in items
    assert "6.11: flag MAP_DROPPABLE" in items
    for difference in report.differences:
        assert all(change.items for change in difference.changes)


def test_kernels_compare_command(vm_kernel, live_kernel):
    proc = subprocess.run([sys.executable, "-m", "mmsem", "kernels", "compare", "qemu:6.1", "live",
                           "--traces", "20", "--seed", "5", "--format", "json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["traces"], data["unexplained"]) == (20, 0)
    assert data["old"]["profile"] == "6.1" and data["new"]["profile"] == "6.18"
    assert data["differing"] == len(data["differences"])
