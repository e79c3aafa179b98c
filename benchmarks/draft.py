"""mmsem draft --all, timed next to groff and mandoc formatting the same drafts in the same run.

    python3 benchmarks/draft.py [--runs R] [--out DIR]

A run executes ``mmsem draft --all -o DIR --force`` as a command (interpreter start-up,
spec loading, the engine's runs of the example traces and writing the files all
count), then formats every draft it wrote with ``groff -man -t -z`` and with
``mandoc -Tman``, each page in its own process from one shell loop (so Python's
process spawning is not charged to them). Figures are medians of R runs, wall clock
and CPU time (user + system of the child processes); the ratios compare the draft
command with each formatter. The issue's budget is 2 s for the whole command; on a
shared machine the wall clock depends on the load, which the CPU figure does not.

Finally the drafting itself is split up, in this process: loading the spec, and
drafting each page (building the engine on first use included).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET = 2.0  # seconds for mmsem draft --all


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of a command run to completion; it must succeed."""
    cpu, wall = children_cpu(), time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - wall, children_cpu() - cpu


def loop(tool: str, pages: list[str]) -> list[str]:
    return ["sh", "-c", f'for f; do {tool} "$f" >/dev/null 2>&1; done', "sh", *pages]


def in_process() -> list[tuple[str, float]]:
    start = time.process_time()
    from mmsem.spec import default_spec

    spec = default_spec()
    rows = [("load the spec", time.process_time() - start)]
    from mmsem.manpages.draft import Drafter

    drafter = Drafter(spec)
    for page in drafter.pages:
        before = time.process_time()
        drafter.page(page)
        rows.append((f"draft {page}", time.process_time() - before))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=None, help="directory for the drafts (default: a temporary one)")
    args = parser.parse_args()
    for tool in ("groff", "mandoc"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 2
    directory = Path(args.out or tempfile.mkdtemp(prefix="mmsem-draft-"))
    draft = [sys.executable, "-m", "mmsem", "draft", "--all", "-o", str(directory), "--force"]
    figures: dict[str, list[tuple[float, float]]] = {"mmsem draft --all": [], "groff -man -t -z": [],
                                                       "mandoc -Tman": []}
    for _ in range(args.runs):
        figures["mmsem draft --all"].append(timed(draft))
        pages = sorted(str(path) for path in directory.iterdir())
        figures["groff -man -t -z"].append(timed(loop("groff -man -t -z", pages)))
        figures["mandoc -Tman"].append(timed(loop("mandoc -Tman", pages)))
    print(f"{len(pages)} pages, {args.runs} runs, medians; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    ours_wall = statistics.median(w for w, _ in figures["mmsem draft --all"])
    ours_cpu = statistics.median(c for _, c in figures["mmsem draft --all"])
    for name, runs in figures.items():
        wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
        ratio = "" if name.startswith("mmsem") else f"   draft/this: {ours_wall / wall:.1f}x wall, " \
                                                   f"{ours_cpu / cpu:.1f}x CPU"
        print(f"  {name:<20} {wall:6.3f} s wall  {cpu:6.3f} s CPU{ratio}")
    verdict = "within" if ours_cpu <= BUDGET else "OVER"
    print(f"budget {BUDGET:.1f} s: {verdict} (CPU {ours_cpu:.3f} s; wall {ours_wall:.3f} s)")
    print("in this process (CPU):")
    for label, seconds in in_process():
        print(f"  {label:<28} {seconds:6.3f} s")
    return 0 if ours_cpu <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
