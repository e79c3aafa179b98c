"""The `mmsem` command (DESIGN.md "Command line")."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys


def _quit_while_starting(signum, frame):
    """SIGINT or SIGTERM while the command is still importing its modules: stop as main()
    would, with one line and no traceback."""
    sys.stderr.write("mmsem: interrupted\n" if signum == signal.SIGINT else "mmsem: terminated\n")
    raise SystemExit(128 + signum)


if os.path.basename(sys.argv[0] if sys.argv else "") == "mmsem" or \
        (sys.argv and sys.argv[0].endswith(os.path.join("mmsem", "__main__.py"))):  # the command, not a library
    signal.signal(signal.SIGINT, _quit_while_starting)
    signal.signal(signal.SIGTERM, _quit_while_starting)

from mmsem.spec.source import InputError  # noqa: E402

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def kernel_backend(target: str):
    """The kernel backend for a --kernel TARGET, or a one-line input error."""
    from mmsem.semantics.replay import ReplayUnavailable, backend

    try:
        return backend(target)
    except ReplayUnavailable as exc:
        raise InputError("--kernel", 1, 1, str(exc)) from None


def cmd_run(args) -> int:
    from mmsem.semantics import report
    from mmsem.semantics.compare import compare
    from mmsem.semantics.replay import ReplayUnavailable
    from mmsem.semantics.runner import mismatches, run_engine
    from mmsem.semantics.trace import read_trace

    trace = read_trace(args.trace)
    kernel = kernel_backend(args.kernel_target or "live") if (args.kernel_target or args.compare) else None
    try:
        if kernel is not None and not args.compare:
            result = kernel.run([trace])[0]
            problems = mismatches(result)
            emit(args.format, report.as_json(result, problems), report.text(result, problems))
            return EXIT_FINDINGS if problems else EXIT_OK
        if kernel is None:
            result = run_engine(trace)
            problems = mismatches(result)
            emit(args.format, report.as_json(result, problems), report.text(result, problems))
            return EXIT_FINDINGS if problems else EXIT_OK
        engine_result = run_engine(trace, outside=kernel.outside_for(trace))
        kernel_result = kernel.run([trace], snap_all=True)[0]
    except ReplayUnavailable as exc:
        raise InputError(args.trace, 1, 1, str(exc)) from None
    comparison = compare(engine_result, kernel_result)
    problems = mismatches(engine_result)
    emit(args.format, report.comparison_json(engine_result, kernel_result, comparison, problems),
         report.comparison_text(engine_result, kernel_result, comparison, problems))
    return EXIT_FINDINGS if comparison.divergences or problems else EXIT_OK


def emit(fmt: str, as_json: dict, as_text: str) -> None:
    print(json.dumps(as_json, indent=2) if fmt == "json" else as_text)


def cmd_check_spec(args) -> int:
    from mmsem.semantics.specchecks import check_spec

    errors = check_spec(args.dir)
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        return EXIT_USAGE
    print(f"{args.dir or 'the packaged spec'}: no problems found")
    return EXIT_OK


def cmd_conform(args) -> int:
    from mmsem.semantics.conform import Campaign, Progress, render_text
    from mmsem.semantics.engine import Engine
    from mmsem.semantics.replay import ReplayUnavailable
    from mmsem.spec import load_spec

    if args.traces < 1 or args.steps < 1 or args.jobs < 1:
        raise InputError("conform", 1, 1, "--traces, --steps and --jobs must be at least 1")
    kernel = kernel_backend(args.kernel_target)
    engine = Engine(load_spec(args.spec)) if args.spec else Engine()
    campaign = Campaign(kernel, engine, jobs=args.jobs, out_dir=args.out)
    progress = Progress(args.traces)
    try:
        report = campaign.run(args.traces, args.seed, args.steps, progress)
    except ReplayUnavailable as exc:
        raise InputError("conform", 1, 1, str(exc)) from None
    finally:
        progress.finish()
    emit(args.format, report.as_dict(), render_text(report))
    return EXIT_FINDINGS if report.undeclared else EXIT_OK


def cmd_kernels(args) -> int:
    from mmsem.semantics.replay import ReplayUnavailable
    from mmsem.semantics.replay import qemu

    if args.action == "compare":
        return compare_kernels(args)
    if args.action == "fetch":
        try:
            image = qemu.fetch_kernel(args.version, refresh=args.refresh)
        except ReplayUnavailable as exc:
            raise InputError("kernels", 1, 1, str(exc)) from None
        images = [image]
    else:
        images = qemu.cached_kernels()
        if not images:
            print(f"no kernel images cached in {qemu.kernels_dir()} (mmsem kernels fetch 6.1)")
    for image in images:
        boots = "the uncompressed vmlinux" if image.vmlinux else "the compressed vmlinuz"
        print(f"qemu:{image.version}: {image.describe()}")
        print(f"  cached at {image.boot_file.parent} (boots {boots}); version string: {image.banner}")
    return EXIT_OK


def compare_kernels(args) -> int:
    from mmsem.semantics import kerneldiff
    from mmsem.semantics.replay import ReplayUnavailable

    if args.traces < 1 or args.steps < 1 or args.jobs < 1:
        raise InputError("kernels", 1, 1, "--traces, --steps and --jobs must be at least 1")
    old, new = kernel_backend(args.old), kernel_backend(args.new)
    try:
        report = kerneldiff.compare_kernels(old, new, args.traces, args.seed, args.steps, args.jobs)
    except ReplayUnavailable as exc:
        raise InputError("kernels", 1, 1, str(exc)) from None
    finally:
        for kernel in (old, new):
            getattr(kernel, "close", lambda: None)()
    emit(args.format, report.as_dict(), kerneldiff.render_text(report))
    return EXIT_FINDINGS if report.unexplained else EXIT_OK


def cmd_lint(args) -> int:
    from mmsem.manpages import lint, output

    if args.list_rules:
        print(output.rule_table(lint.select_rules(None, [])))
        return EXIT_OK
    linter = configured_linter(args)
    if args.pages:
        paths = [lint.resolve_page(page) for page in args.pages]
    else:
        paths, wanted = lint.installed_pages(linter.spec)
        if not paths:
            raise InputError("mmsem lint", 1, 1, "none of the pages of the modelled calls is installed "
                             f"(looked for {', '.join(wanted)} with man -w); install them or name pages to lint")
    findings = linter.lint_paths(paths)
    return reported(args.format, findings, output.render(args.format, findings, linter.rules),
                    f"mmsem lint: {counted(findings)} in {linter.pages} page{'s' * (linter.pages != 1)} "
                    f"(judged against Linux {linter.profile.name})")


def reported(fmt: str, findings: list, rendered: str, summary: str) -> int:
    """Print the rendered findings, and with text output the summary line on stderr: the
    exit code of lint and lint-patch."""
    if rendered:
        print(rendered)
    if fmt == "text":
        print(summary, file=sys.stderr)
    return EXIT_FINDINGS if findings else EXIT_OK


def lint_names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def configured_linter(args):
    """The linter that lint and lint-patch run: options on the command line replace the
    [tool.mmsem] settings of pyproject.toml."""
    from mmsem.manpages import lint

    config = lint.load_config()
    select = lint_names(args.select) if args.select is not None else config.select
    ignore = lint_names(args.ignore) if args.ignore is not None else config.ignore
    kernel = kernel_backend("live") if args.kernel else None
    return lint.Linter(args.kernel_version or config.kernel_version, select, ignore, kernel=kernel,
                       jobs=lint_jobs(getattr(args, "jobs", 1)))


def lint_jobs(jobs: int | None) -> int:
    """--jobs as a number of processes (None: one per usable CPU)."""
    from mmsem.manpages.forked import usable_cpus

    if jobs is None:
        return usable_cpus()
    if jobs < 1:
        raise InputError("--jobs", 1, 1, f"--jobs must be at least 1, not {jobs}")
    return jobs


def counted(findings: list) -> str:
    return f"{len(findings)} finding{'s' * (len(findings) != 1)}" if findings else "no findings"


def cmd_lint_patch(args) -> int:
    from mmsem.manpages import patch

    # Read and apply every patch before printing anything: bad input is one line, exit 2.
    patches = [p for source in args.patches for p in patch.read_patches(source)]
    linter = configured_linter(args)
    reviewer = patch.Reviewer(linter, args.base)
    findings = reviewer.review(patches)
    return reported(args.format, findings, patch.render(args.format, findings, linter.rules),
                    f"mmsem lint-patch: {counted(findings)} in {len(patches)} patch{'es' * (len(patches) != 1)} "
                    f"({reviewer.reviewed} page{'s' * (reviewer.reviewed != 1)} reviewed; judged against Linux "
                    f"{linter.profile.name})")


def cmd_draft(args) -> int:
    from pathlib import Path

    from mmsem.manpages.draft import Drafter, draft_to

    if args.all == bool(args.name):
        raise InputError("draft", 1, 1, "give a page or system call NAME, or --all (with -o DIR)")
    if args.all and not args.output:
        raise InputError("draft", 1, 1, "--all writes one file per page: give -o DIR")
    drafter = Drafter()
    if drafter.examples is None:
        print("mmsem draft: no examples/ directory next to the spec; the pages have no EXAMPLES", file=sys.stderr)
    names = list(drafter.pages) if args.all else [args.name]
    texts = draft_to(drafter, names, Path(args.output) if args.output else None, args.force, into_dir=args.all)
    if not args.output:
        sys.stdout.write(next(iter(texts.values())))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mmsem", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a trace on the engine (or the live kernel) and check its expectations")
    run.add_argument("trace", help="trace file (YAML)")
    run.add_argument("--kernel", dest="kernel_target", nargs="?", const="live", default=None, metavar="TARGET",
                     help="run on a real kernel instead: live (default) or qemu:VERSION")
    run.add_argument("--compare", action="store_true", help="run on the engine and the kernel, side by side")
    run.add_argument("--format", choices=("text", "json"), default="text")
    run.set_defaults(func=cmd_run)

    conform = sub.add_parser("conform", help="compare the engine with a real kernel on seeded random traces")
    conform.add_argument("--kernel", dest="kernel_target", default="live", metavar="TARGET",
                         help="the kernel to compare with: live (default)")
    conform.add_argument("--traces", type=int, default=1000, help="number of traces (default 1000)")
    conform.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    conform.add_argument("--steps", type=int, default=12, help="at most this many steps per trace (default 12)")
    conform.add_argument("--jobs", type=int, default=2, help="parallel replay agents (default 2)")
    conform.add_argument("--format", choices=("text", "json"), default="text")
    conform.add_argument("--out", default="conform-divergences",
                         help="directory for shrunk diverging traces (default conform-divergences)")
    conform.add_argument("--spec", default=None, help=argparse.SUPPRESS)  # a spec copy, for mutation tests
    conform.set_defaults(func=cmd_conform)

    kernels = sub.add_parser("kernels", help="fetch or list the kernel images for qemu:X.Y targets")
    kernels_sub = kernels.add_subparsers(dest="action", required=True, parser_class=_Parser)
    fetch = kernels_sub.add_parser("fetch", help="download Debian's kernel image for Linux X.Y into the cache")
    fetch.add_argument("version", help="kernel version X.Y (e.g. 6.1)")
    fetch.add_argument("--refresh", action="store_true", help="fetch the registry's newest build even if one is cached")
    kernels_sub.add_parser("list", help="list the cached kernel images")
    between = kernels_sub.add_parser("compare", help="the seeded traces whose outcome differs between two kernels, "
                                                     "each explained by the spec's since-versions")
    between.add_argument("old", help="the older kernel target (e.g. qemu:6.1)")
    between.add_argument("new", nargs="?", default="live", help="the newer kernel target (default live)")
    between.add_argument("--traces", type=int, default=1000, help="number of traces (default 1000)")
    between.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    between.add_argument("--steps", type=int, default=12, help="at most this many steps per trace (default 12)")
    between.add_argument("--jobs", type=int, default=2, help="parallel replay agents (default 2)")
    between.add_argument("--format", choices=("text", "json"), default="text")
    kernels.set_defaults(func=cmd_kernels)

    lint = sub.add_parser("lint", help="check man pages against the spec (structure, errors, flags, synopsis)")
    lint.add_argument("pages", nargs="*", metavar="PAGE",
                      help="page files or names (mlock.2); default: the installed pages of the modelled calls")
    lint.add_argument("--kernel-version", default=None, metavar="X.Y",
                      help="the kernel version the pages are judged against (default: the running kernel's)")
    lint.add_argument("--kernel", action="store_true", help="let claim rules check their evidence on the live kernel")
    lint.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text")
    lint.add_argument("--select", default=None, metavar="R,..",
                      help="run only these rules (ids, names, id prefixes such as MM2, or categories)")
    lint.add_argument("--ignore", default=None, metavar="R,..", help="do not run these rules")
    lint.add_argument("--jobs", type=int, default=None, metavar="J",
                      help="lint in up to J processes (default: one per usable CPU; "
                           "runs of a few pages, and runs with --kernel, use one)")
    lint.add_argument("--list-rules", action="store_true", help="list the rules and exit")
    lint.set_defaults(func=cmd_lint)

    lint_patch = sub.add_parser("lint-patch", help="review a man-pages patch (mails, an mbox series or a diff)")
    lint_patch.add_argument("patches", nargs="+", metavar="PATCH",
                            help="git format-patch mails, an mbox, a unified diff, or - for standard input; "
                                 "several form one series, applied in order")
    lint_patch.add_argument("--base", default=None, metavar="DIR",
                            help="the man-pages tree the series applies to (default: the installed pages)")
    lint_patch.add_argument("--kernel-version", default=None, metavar="X.Y",
                            help="the kernel version the pages are judged against (default: the running kernel's)")
    lint_patch.add_argument("--kernel", action="store_true",
                            help="let claim rules check their evidence on the live kernel")
    lint_patch.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text")
    lint_patch.add_argument("--select", default=None, metavar="R,..",
                            help="run only these rules (ids, names, id prefixes such as MM5, or categories)")
    lint_patch.add_argument("--ignore", default=None, metavar="R,..", help="do not run these rules")
    lint_patch.set_defaults(func=cmd_lint_patch)

    draft = sub.add_parser("draft", help="write a man page (man-pages style) for a modelled call from the spec")
    draft.add_argument("name", nargs="?", metavar="NAME", help="a system call (munlock) or page (mlock.2)")
    draft.add_argument("--all", action="store_true", help="draft every modelled page into -o DIR")
    draft.add_argument("-o", dest="output", metavar="FILE", default=None,
                       help="write to FILE (with --all: the directory DIR) instead of standard output")
    draft.add_argument("--force", action="store_true", help="replace files that exist")
    draft.set_defaults(func=cmd_draft)

    check = sub.add_parser("check-spec", help="validate a spec directory (schema and semantic checks)")
    check.add_argument("dir", nargs="?", default=None, help="spec directory (default: the packaged spec)")
    check.set_defaults(func=cmd_check_spec)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it unwinds as on SIGINT: every
    `finally` runs (kernel knobs restored, replay agents killed, temporary files removed)."""


def _terminate(signum, frame):
    raise Terminated()


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = None
    if _main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
        previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return args.func(args)
    except InputError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print("mmsem: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("mmsem: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int if previous_int is not _quit_while_starting
                          else signal.default_int_handler)
