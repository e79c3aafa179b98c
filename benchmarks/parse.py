"""Man-page parser throughput, next to mandoc -Tlint on the same pages in the same run.

    python3 benchmarks/parse.py [--dir DIR ...] [--runs R] [--profile]

Every entry of each directory (default /usr/share/man/man2) is one page, links
included (Debian installs munmap.2.gz -> mmap.2.gz; mmsem lint reads each page it is
given, and so does mandoc). A run parses every page with read_page (reading, gzip,
.so and links included) in this process, then runs ``mandoc -Tlint`` once per page
from one shell loop (so Python's process spawning is not charged to mandoc); the
figures are medians of R runs, wall clock and CPU. The linter built on this parser
must finish within 2x mandoc's time, so the parser should take well under that.

Interpreter start-up and imports are not in the parser's figure; they are measured
once and printed on their own line.

--profile runs the parser once more under cProfile and prints the functions with
the most time of their own.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import time

from mmsem.manpages.roff import read_page
from mmsem.spec.source import InputError

MANDOC = "mandoc"
BUDGET = 2.0  # the whole linter may take at most this multiple of mandoc's time


def pages_in(directories: list[str]) -> list[str]:
    pages = []
    for directory in directories:
        pages.extend(os.path.join(directory, name) for name in sorted(os.listdir(directory)))
    return [page for page in pages if os.path.isfile(page)]


def parse_all(pages: list[str]) -> tuple[int, int]:
    """Parse every page; returns (pages parsed, pages refused as bad input)."""
    refused = 0
    for page in pages:
        try:
            read_page(page)
        except InputError:
            refused += 1
    return len(pages) - refused, refused


def time_parser(pages: list[str]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    parse_all(pages)
    return time.perf_counter() - wall, time.process_time() - cpu


def time_mandoc(pages: list[str]) -> tuple[float, float]:
    loop = f'for f; do {MANDOC} -Tlint "$f" >/dev/null 2>&1; done'
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run(["sh", "-c", loop, "sh", *pages], check=False)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def startup_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import mmsem.manpages.roff"], check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", action="append", help="directory of pages (repeatable; default /usr/share/man/man2)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs; medians are reported (default 3)")
    parser.add_argument("--profile", action="store_true", help="also profile one parser run and print the hotspots")
    args = parser.parse_args(argv)

    pages = pages_in(args.dir or ["/usr/share/man/man2"])
    if not pages:
        print("no pages found", file=sys.stderr)
        return 2
    have_mandoc = shutil.which(MANDOC) is not None
    parsed, refused = parse_all(pages)  # warm-up: imports, regex compilation, file cache
    ours, peer = [], []
    for _ in range(args.runs):
        ours.append(time_parser(pages))
        if have_mandoc:
            peer.append(time_mandoc(pages))

    wall = statistics.median(t[0] for t in ours)
    cpu = statistics.median(t[1] for t in ours)
    print(f"parser benchmark: {len(pages)} pages from {', '.join(args.dir or ['/usr/share/man/man2'])}")
    print(f"  parsed           {parsed} (refused as bad input: {refused})")
    print(f"  runs             {args.runs} (parser wall seconds: {', '.join(f'{t[0]:.3f}' for t in ours)})")
    print(f"  parser           {wall:.3f} s wall, {cpu:.3f} s CPU, {len(pages) / wall:,.0f} pages/s")
    print(f"  python start-up  {startup_seconds():.3f} s (interpreter and imports, once per lint run)")
    if not have_mandoc:
        print("  mandoc           not installed: no ratio")
        return 0
    peer_wall = statistics.median(t[0] for t in peer)
    peer_cpu = statistics.median(t[1] for t in peer)
    print(f"  mandoc -Tlint    {peer_wall:.3f} s wall, {peer_cpu:.3f} s CPU, {len(pages) / peer_wall:,.0f} pages/s"
          " (one process per page)")
    print(f"  ratio parser/mandoc  {wall / peer_wall:.2f} wall, {cpu / peer_cpu:.2f} CPU"
          f" (the whole linter's budget: {BUDGET:.1f})")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(parse_all, pages)
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
