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
numbers: run it on an idle machine.

    python3 benchmarks/qemu.py [--version 6.1] [--traces N] [--jobs J] [--seed S] [--rounds R]
"""

import argparse
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

    boots, one, cold, warm, alone = [], [], [], [], []
    steps = 0
    for _ in range(args.rounds):
        kernel = QemuKernel(args.version)
        started = time.perf_counter()
        kernel.run([parse_trace(ONE, "one.yaml")])
        one.append(time.perf_counter() - started)
        kernel.close()

        kernel = QemuKernel(args.version)
        started = time.perf_counter()
        report = Campaign(kernel, jobs=args.jobs, out_dir=None, shrink_limit=0).run(args.traces, args.seed, 12)
        cold.append(time.perf_counter() - started)
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
    print(f"kernel: {probe.name}; traces: {n}; steps: {steps}; VMs: {args.jobs}; rounds: {args.rounds}")
    print(f"boot to /init: median {statistics.median(boots):.2f} s (of {len(boots)} boots, "
          f"{args.jobs} booting at once)")
    print(f"one trace on a fresh backend (boot + replay + power-off request): median {statistics.median(one):.2f} s")
    for label, times in (("campaign, cold (boots included)", cold), ("campaign, warm (VMs up)", warm),
                         ("replay alone (VMs up)", alone)):
        median = statistics.median(times)
        print(f"{label}: median {median:.2f} s = {n / median:.0f} traces/s, {steps / median:.0f} steps/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
