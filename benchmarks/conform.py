"""Throughput of the conformance campaign on the live kernel.

Runs `Campaign.run` on the same seeded traces five times and reports the median
traces/s and steps/s, next to a peer measured in the same run: replaying the same
traces on the kernel alone (no engine, no comparison), which bounds what the
campaign can reach. Needs root (the replay sets limits and drops privileges).

    python3 benchmarks/conform.py [--traces N] [--jobs J] [--seed S]
"""

import argparse
import statistics
import sys
import time

from mmsem.semantics import generate
from mmsem.semantics.conform import Campaign
from mmsem.semantics.replay.live import LiveKernel
from mmsem.spec.source import Located
from mmsem.semantics.trace import load_trace


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    kernel = LiveKernel()
    kernel.calibration()
    campaign_times, replay_times, steps = [], [], 0
    options = generate.Options(steps=12, base_vmas=kernel.calibration().outside.vmas)
    docs = generate.Generator(args.seed, options=options).trace
    traces = [load_trace(Located(docs(f"bench-{i}"), f"bench-{i}", {})) for i in range(args.traces)]
    for _ in range(5):
        started = time.perf_counter()
        report = Campaign(kernel, jobs=args.jobs, out_dir=None, shrink_limit=0).run(args.traces, args.seed, 12)
        campaign_times.append(time.perf_counter() - started)
        steps = report.steps
        if report.undeclared:
            print(f"warning: {len(report.undeclared)} divergences", file=sys.stderr)
        started = time.perf_counter()
        kernel.run(traces, snap_all=True, jobs=args.jobs)
        replay_times.append(time.perf_counter() - started)
    campaign, replay = statistics.median(campaign_times), statistics.median(replay_times)
    print(f"kernel: {kernel.name}; traces: {args.traces}; steps: {steps}; jobs: {args.jobs}")
    print(f"campaign (generate, replay, engine, compare): median {campaign:.2f} s = "
          f"{args.traces / campaign:.0f} traces/s, {steps / campaign:.0f} steps/s")
    print(f"peer, replay alone on the same kind of traces: median {replay:.2f} s = {args.traces / replay:.0f} traces/s")
    print(f"campaign / replay-alone time ratio: {campaign / replay:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
