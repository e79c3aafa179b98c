"""Engine throughput: steps per second on random traces, one core.

    python3 benchmarks/engine.py [--traces N] [--seed S] [--steps K] [--runs R] [--kernel X.Y] [--profile]

Traces come from the project's generator (Options(steps=K): up to K steps each),
are dumped to YAML and loaded before any timing starts, so parsing, schema
validation and argument resolution are excluded, and so is compiling the spec
(the Engine is built once). A run executes every trace from a fresh system
(new_system plus each step's engine.call, through runner.steps_on); the figure is the median of R runs.
The kernel profile is pinned (6.18 by default) so that the figure does not depend
on the kernel of the machine that measures it.

--profile runs the same work once more under cProfile and prints the functions
with the most time of their own.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time

from mmsem.semantics import generate
from mmsem.semantics.runner import steps_on
from mmsem.semantics.engine import Engine
from mmsem.semantics.generate import Options
from mmsem.semantics.trace import parse_trace

TARGET = 20_000  # steps/s on one core, the goal


def load_traces(count: int, seed: int, steps: int, kernel: str) -> list:
    traces = []
    for data in generate.generate(count, seed, Options(steps=steps)):
        data.setdefault("config", {})["kernel"] = kernel
        traces.append(parse_trace(generate.dump(data), f"{data['name']}.yaml"))
    return traces


def run_all(engine: Engine, traces: list) -> int:
    steps = 0
    for trace in traces:
        system = engine.new_system(trace.config, trace.files)
        for _ in steps_on(engine, system, trace):
            steps += 1
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=int, default=1000, help="random traces per run (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--steps", type=int, default=16, help="at most this many steps per trace (default 16)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs; the median is reported (default 5)")
    parser.add_argument("--kernel", default="6.18", help="kernel profile of every trace (default 6.18)")
    parser.add_argument("--profile", action="store_true", help="also profile one run and print the hotspots")
    args = parser.parse_args(argv)

    traces = load_traces(args.traces, args.seed, args.steps, args.kernel)
    engine = Engine()
    run_all(engine, traces[: min(50, len(traces))])  # warm-up: flag masks, caches
    times, steps = [], 0
    for _ in range(args.runs):
        start = time.perf_counter()
        steps = run_all(engine, traces)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    rate = steps / median if median > 0 else float("inf")

    print(f"engine benchmark: profile {args.kernel}, seed {args.seed}, up to {args.steps} steps per trace")
    print("  loading excluded: traces are generated, dumped and parsed before timing")
    print(f"  traces         {len(traces)}")
    print(f"  steps          {steps}")
    print(f"  runs           {args.runs} (seconds: {', '.join(f'{t:.3f}' for t in times)})")
    print(f"  median seconds {median:.3f}")
    print(f"  steps/s        {rate:,.0f} (target {TARGET:,}: {'met' if rate >= TARGET else 'not met'})")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run_all(engine, traces)
        profiler.disable()
        print("\nhotspots (one run under cProfile, by own time):")
        pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
