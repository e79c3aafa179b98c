"""Throughput of the replay on Linux X.Y under qemu (default 6.1), boots included.

Each round starts from no running VM and measures:

- boot: seconds from starting qemu to the guest's /init being ready (one per VM);
- one trace: a single short trace on a fresh backend (what `mmsem run --kernel qemu:6.1`
  waits for, less Python's start-up);
- campaign, cold: `Campaign.run` on N seeded traces with J VMs, boots included
  (generate, replay, engine, compare; no shrinking) — the figure `mmsem conform` gives;
- campaign, warm: the same again on the VMs the cold run left up;
- replay alone: the same traces on the kernel only, VMs up (the upper bound).

Medians over the rounds are printed. The calibration is cached on disk after the first
round ever, so it is not part of these figures. The machine's other load shows in the
wall-clock numbers: run it on an idle machine. On a busy one, the CPU time the cold
campaign used is the steadier figure: the VMs' (boots included, read from /proc) and
this process's, and from it the rate the campaign would reach with every CPU of the
machine to itself (at most `jobs` VMs and one Python thread busy at once).

    python3 benchmarks/qemu.py [--version 6.1] [--traces N] [--jobs J] [--seed S] [--rounds R]
"""

import argparse
import os
import statistics
import sys
import textwrap
import time

from mmsem.semantics import generate
from mmsem.semantics.conform import Campaign
from mmsem.semantics.replay.qemu import QemuKernel
from mmsem.semantics.trace import load_trace, parse_trace
from mmsem.spec.source import Located

ONE = textwrap.dedent("""
    steps:
      - mmap: {len: 4p, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
        as: A
      - mlock2: {addr: A, len: 4p, flags: [MLOCK_ONFAULT]}
      - touch: {addr: A, write: true}
    """)


def vm_cpu_seconds(kernel: QemuKernel) -> float:
    """User and system time of the kernel's VMs (qemu processes) so far."""
    total = 0
    for vm in list(kernel._all):  # pylint: disable=protected-access
        try:
            fields = open(f"/proc/{vm.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="6.1")
    parser.add_argument("--traces", type=int, default=1200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    probe = QemuKernel(args.version)
    probe.calibration()  # cached for the rounds below
    probe.close()
    outside = probe.calibration().outside
    options = generate.Options(steps=12, base_vmas=len(outside.mappings) + outside.vmas)
    docs = generate.Generator(args.seed, options=options).trace
    traces = [load_trace(Located(docs(f"bench-{i}"), f"bench-{i}", {})) for i in range(args.traces)]

    boots, one, cold, warm, alone, cpu = [], [], [], [], [], []
    steps = 0
    for _ in range(args.rounds):
        kernel = QemuKernel(args.version)
        started = time.perf_counter()
        kernel.run([parse_trace(ONE, "one.yaml")])
        one.append(time.perf_counter() - started)
        kernel.close()

        kernel = QemuKernel(args.version)
        started, own = time.perf_counter(), time.process_time()
        report = Campaign(kernel, jobs=args.jobs, out_dir=None, shrink_limit=0).run(args.traces, args.seed, 12)
        cold.append(time.perf_counter() - started)
        cpu.append((vm_cpu_seconds(kernel), time.process_time() - own))
        steps = report.steps
        if report.undeclared:
            print(f"warning: {len(report.undeclared)} undeclared divergences", file=sys.stderr)
        started = time.perf_counter()
        Campaign(kernel, jobs=args.jobs, out_dir=None, shrink_limit=0).run(args.traces, args.seed, 12)
        warm.append(time.perf_counter() - started)
        started = time.perf_counter()
        kernel.run(traces, snap_all=True, jobs=args.jobs)
        alone.append(time.perf_counter() - started)
        boots.extend(kernel.boots)
        kernel.close()

    n = args.traces
    print(f"kernel: {probe.name}; traces: {n}; steps: {steps}; VMs: {args.jobs}; rounds: {args.rounds}; "
          f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"boot to /init: median {statistics.median(boots):.2f} s (of {len(boots)} boots, "
          f"{args.jobs} booting at once)")
    print(f"one trace on a fresh backend (boot + replay + power-off request): median {statistics.median(one):.2f} s")
    for label, times in (("campaign, cold (boots included)", cold), ("campaign, warm (VMs up)", warm),
                         ("replay alone (VMs up)", alone)):
        median = statistics.median(times)
        print(f"{label}: median {median:.2f} s = {n / median:.0f} traces/s, {steps / median:.0f} steps/s")
    vms = statistics.median(c[0] for c in cpu)
    python = statistics.median(c[1] for c in cpu)
    busy = min(os.cpu_count() or 1, args.jobs + 1)
    print(f"campaign, cold, CPU time: VMs {vms:.1f} s (boots included), Python {python:.1f} s = "
          f"{1000 * (vms + python) / n:.1f} ms per trace; with {busy} CPUs free: "
          f"{n * busy / (vms + python):.0f} traces/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
