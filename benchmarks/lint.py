"""`mmsem lint` wall time next to `mandoc -Tlint` on the same pages, in the same run.

    python3 benchmarks/lint.py [--dir DIR ...] [--runs R] [--select R,..]

By default it measures two corpora: the installed man2 pages, then man2 and man3
together. For each it times, as medians of R runs:

- the API: ``Linter(..., jobs=J).lint_paths(pages)`` in this process (spec loading
  and rule registration included, interpreter start-up and imports not);
- the CLI: one ``mmsem lint --kernel-version 6.18 PAGE...`` process over all pages
  (start-up, imports and output included, output sent to /dev/null), with its
  default ``--jobs`` (one worker process per usable CPU) unless --jobs is given;
- mandoc: ``mandoc -Tlint`` once per page, from one shell loop.

and prints each as a ratio to mandoc's time (the target is at most 2x), by the
wall clock and by CPU time (user + system, which a busy machine disturbs less).
``mmsem lint`` keeps each page's findings in a cache while the page, the spec and
the code are unchanged (mmsem.manpages.lint._Results), so the API and the CLI are
timed twice: with the cache as a repeated run finds it ("warm": the first run of
the benchmark fills it), and without it (MMSEM_NO_CACHE=1, "no cache": every page
read, parsed and linted; the spec, catalogue and witness caches still apply).
Absolute times depend on the machine; the ratios are what to quote. --select
times a subset of the rules (say structure,coverage,synopsis), for both the API and
the CLI. Both tools are given
the same files: mmsem lints a page reached through a link once, as its target,
so links are left out of the list for both; a ``.so`` page is given to both and
each resolves it. Before timing, the mmsem modules are byte-compiled (as ``pip
install`` does, and as Python does on a first run unless PYTHONDONTWRITEBYTECODE
is set), so that start-up is timed as users meet it, not the compiler. The CPU
ratio counts the work of every worker process: with J workers the wall ratio can
be up to J times lower.
"""

from __future__ import annotations

import argparse
import compileall
import importlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

from mmsem.manpages.forked import usable_cpus
from mmsem.manpages.lint import Linter

BUDGET = 2.0
CORPORA = {"man2": ["/usr/share/man/man2"], "man2+man3": ["/usr/share/man/man2", "/usr/share/man/man3"]}


def pages_in(directories: list[str]) -> list[str]:
    """Each page file once: links (munmap.2.gz -> mmap.2.gz) are left out, as mmsem
    would lint them as their targets anyway and mandoc should not read them twice."""
    pages = []
    for directory in directories:
        pages.extend(os.path.join(directory, name) for name in sorted(os.listdir(directory)))
    return [page for page in pages if os.path.isfile(page) and not os.path.islink(page)]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


SELECT: list | None = None  # --select, split
JOBS: int | None = None  # --jobs; None: the CLI's default


def byte_compile() -> None:
    """Byte-compile the modules a lint run imports, where they are installed."""
    for package in ("mmsem", "mmsem.spec", "mmsem.semantics", "mmsem.manpages"):
        for directory in importlib.import_module(package).__path__:
            compileall.compile_dir(directory, quiet=2)


def time_api(pages: list[str], cache: bool = True) -> tuple[float, float, int, int]:
    saved = os.environ.get("MMSEM_NO_CACHE")
    if not cache:
        os.environ["MMSEM_NO_CACHE"] = "1"
    try:
        wall, cpu = time.perf_counter(), time.process_time() + _children_cpu()  # workers are children
        linter = Linter("6.18", select=SELECT, jobs=JOBS or usable_cpus())
        findings = linter.lint_paths(pages)
        cpu = time.process_time() + _children_cpu() - cpu
        return time.perf_counter() - wall, cpu, linter.pages, len(findings)
    finally:
        if saved is None:
            os.environ.pop("MMSEM_NO_CACHE", None)
        else:
            os.environ["MMSEM_NO_CACHE"] = saved


def time_children(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of a child process."""
    wall, cpu = time.perf_counter(), _children_cpu()
    with open(os.devnull, "w") as sink:
        done = subprocess.run(argv, stdout=sink, stderr=sink, check=False,
                              env=None if env is None else {**os.environ, **env})
    if argv[0] == sys.executable and done.returncode not in (0, 1):
        raise SystemExit(f"mmsem lint failed with exit code {done.returncode}")
    return time.perf_counter() - wall, _children_cpu() - cpu


def time_cli(pages: list[str], cache: bool = True) -> tuple[float, float]:
    options = (["--select", ",".join(SELECT)] if SELECT else []) + (["--jobs", str(JOBS)] if JOBS else [])
    return time_children([sys.executable, "-m", "mmsem", "lint", "--kernel-version", "6.18", *options, *pages],
                         None if cache else {"MMSEM_NO_CACHE": "1"})


def time_mandoc(pages: list[str]) -> tuple[float, float]:
    return time_children(["sh", "-c", 'for f; do mandoc -Tlint "$f" >/dev/null 2>&1; done', "sh", *pages])


def measure(name: str, pages: list[str], runs: int) -> None:
    timings: dict = {"api": [], "cli": [], "api-cold": [], "cli-cold": [], "mandoc": []}
    linted = found = 0
    time_api(pages)  # fills the results cache: "warm" is a repeated run
    for _ in range(runs):
        wall, cpu, linted, found = time_api(pages)
        timings["api"].append((wall, cpu))
        timings["api-cold"].append(time_api(pages, cache=False)[:2])
        timings["cli"].append(time_cli(pages))
        timings["cli-cold"].append(time_cli(pages, cache=False))
        timings["mandoc"].append(time_mandoc(pages))
    print(f"{name}: {len(pages)} page files, {linted} pages linted, {found} findings; medians of {runs} runs; "
          f"lint processes: {JOBS or usable_cpus()}")
    for n, clock in enumerate(("wall", "CPU")):
        base = statistics.median(m[n] for m in timings["mandoc"])
        for label, suffix in (("warm", ""), ("no cache", "-cold")):
            api_ratio = statistics.median(a[n] for a in timings["api" + suffix]) / base
            cli_ratio = statistics.median(c[n] for c in timings["cli" + suffix]) / base
            verdict = "within" if max(api_ratio, cli_ratio) <= BUDGET else "OVER"
            print(f"  {clock:>4} {label:>8}: API / mandoc = {api_ratio:.2f}x   CLI / mandoc = {cli_ratio:.2f}x   "
                  f"({verdict} the {BUDGET:.0f}x budget; mandoc {base:.2f} s here)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", action="append", help="a directory of pages (repeatable); default: man2, man2+man3")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--select", default=None, help="time only these rules (as mmsem lint --select)")
    parser.add_argument("--jobs", type=int, default=None, help="lint processes (as mmsem lint --jobs)")
    args = parser.parse_args(argv)
    global SELECT, JOBS
    SELECT = [part for part in args.select.split(",") if part] if args.select else None
    JOBS = args.jobs
    byte_compile()
    if shutil.which("mandoc") is None:
        print("mandoc is not installed (apt-get install mandoc)", file=sys.stderr)
        return 2
    corpora = {"pages": args.dir} if args.dir else CORPORA
    for name, directories in corpora.items():
        directories = [d for d in directories if os.path.isdir(d)]
        if directories:
            measure(name, pages_in(directories), args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
