"""The documentation site (docs/) and the Sphinx extension that builds it (mmsem.sphinx_ext).

Sphinx always runs in a subprocess, into temporary directories: the site must build
with warnings as errors and nitpicky references, serially and in parallel, with the
same indices; a scenario whose expectation is wrong must fail the build and say
where; the result cache must be used; generated pages must depend on their spec
files. A headless Chromium renders a reference page and a guide and measures their
pictures, and saves screenshots as build artifacts (``$MMSEM_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest

from mmsem.semantics.config import running_profile_name
from mmsem.spec import default_spec

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
#: The kernel profile the site pins (docs/conf.py mm_default_kernel).
SITE_KERNEL = "6.18"
#: The guides (docs/guides/), in the order of their index.
GUIDES = ("map-locked-vs-mlock", "lock-on-fault", "mlockall-future", "hugetlb-and-fork", "brk-mseal-remap",
          "lint-patch")


# -- running Sphinx ------------------------------------------------------------------------

@dataclass
class Build:
    html: Path
    doctrees: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def sphinx(source: Path, out: Path, *options: str, driver: Path | None = None,
           environ: dict[str, str] | None = None, timeout: float = 600) -> Build:
    """sphinx-build -b html SOURCE OUT/html with OUT/doctrees, in a subprocess; `driver`,
    a script taking sphinx-build's arguments, runs instead of ``python -m sphinx``."""
    html, doctrees = out / "html", out / "doctrees"
    program = [str(driver)] if driver else ["-m", "sphinx"]
    command = [sys.executable, *program, "-b", "html", "-d", str(doctrees), *options, str(source), str(html)]
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, NO_COLOR="1", **(environ or {})))
    return Build(html, doctrees, done.returncode, done.stdout, done.stderr, time.monotonic() - start)


def artifacts_dir() -> Path:
    path = Path(os.environ.get("MMSEM_ARTIFACTS") or Path(tempfile.gettempdir()) / "mmsem-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Build:
    """The site, built once with warnings as errors and every reference checked."""
    build = sphinx(DOCS, tmp_path_factory.mktemp("site"), "-W", "-n")
    (artifacts_dir() / "docs-build-time.txt").write_text(f"clean build (-W -n): {build.seconds:.1f} s\n")
    return build


def write_project(root: Path, pages: dict[str, str], **config) -> Path:
    """A Sphinx project using the extension; `pages` maps document names to text."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ['extensions = ["mmsem.sphinx_ext"]', 'mm_default_kernel = "6.18"']
    lines += [f"{key} = {value!r}" for key, value in config.items()]
    (root / "conf.py").write_text("\n".join(lines) + "\n")
    for name, text in pages.items():
        (root / f"{name}.rst").write_text(text)
    return root


def warnings(build: Build) -> list[str]:
    return [line for line in build.stderr.splitlines() if "WARNING" in line or "ERROR" in line]


# -- the site --------------------------------------------------------------------------------

def test_site_builds_clean_with_warnings_as_errors(site):
    assert site.returncode == 0, site.stderr
    assert site.stderr == ""
    assert "build succeeded." in site.stdout
    pages = {p.relative_to(site.html).as_posix() for p in site.html.rglob("*.html")}
    expected = {f"reference/calls/{name}.html" for name in default_spec().syscalls}
    expected |= {"index.html", "getting-started.html", "cli.html", "architecture.html", "extension.html",
                 "reference/errors.html", "reference/kernels.html", "reference/lint-rules.html",
                 "mm-flagindex.html", "mm-errnoindex.html"}
    expected |= {f"guides/{name}.html" for name in GUIDES}
    assert expected <= pages


def test_site_builds_in_parallel_with_the_same_indices(site, tmp_path):
    build = sphinx(DOCS, tmp_path, "-W", "-n", "-j", "2")
    assert build.returncode == 0, build.stderr
    assert build.stderr == ""
    for index in ("mm-flagindex.html", "mm-errnoindex.html", "genindex.html"):
        assert (build.html / index).read_text() == (site.html / index).read_text(), index


def test_scenarios_of_the_site_all_ran(site):
    count = sum(page.read_text().count('<div class="mm-scenario') for page in site.html.rglob("*.html"))
    match = re.search(r"mm: (\d+) scenario\(s\) read: engine (\d+) run, (\d+) from the cache", site.stdout)
    assert match, site.stdout
    assert int(match.group(1)) == count
    assert count >= 25


def kernel_can_verify() -> bool:
    return os.geteuid() == 0 and bool(shutil.which("gcc")) and running_profile_name() == SITE_KERNEL


@pytest.mark.parametrize("guide", GUIDES)
def test_guides_say_whether_the_kernel_verified_them(site, guide):
    page = (site.html / "guides" / f"{guide}.html").read_text()
    source = (DOCS / "guides" / f"{guide}.rst").read_text()
    asked = source.count(":verify: live")
    scenarios = source.count(".. mm:scenario::")
    assert page.count('<div class="mm-scenario') == scenarios
    if guide == "lock-on-fault":
        assert (asked, scenarios) == (3, 4)  # the fourth scenario runs on the model of 4.3 only
    elif guide == "mlockall-future":
        assert (asked, scenarios) == (5, 6)  # so does one here, on the model of 5.1
    else:
        assert asked == scenarios >= 2
    if kernel_can_verify():
        assert page.count(f"Verified on Linux {SITE_KERNEL}: the running kernel") == asked
        assert "Not verified on a live kernel" not in page
    elif os.environ.get("MMSEM_REQUIRE_KERNEL") == "1" and running_profile_name() == SITE_KERNEL:
        pytest.fail("kernel replay required but the site was not verified")
    else:
        assert page.count("Not verified on a live kernel in this build") == asked


def site_extension(name: str):
    """A module of the site's own extensions (docs/_ext), as conf.py loads it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, DOCS / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def page_text(path: Path) -> str:
    return unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def test_cli_reference_is_read_from_the_parser(site):
    cliref = site_extension("cliref")
    from mmsem.cli import build_parser

    page = page_text(site.html / "cli.html")
    assert "mmsem run [-h] [--kernel [TARGET]] [--compare] [--format {text,json}] trace" in page
    assert "mmsem check-spec [-h] [dir]" in page
    assert "mmsem kernels fetch [-h] [--refresh] version" in page
    assert "mmsem lint-patch [-h] [--base DIR] [--kernel-version X.Y] [--kernel] " \
           "[--format {text,json,sarif,github}] [--select R,..] [--ignore R,..] PATCH [PATCH ...]" in page
    assert "--spec" not in page  # hidden from help, hidden here
    # Every subcommand, nested ones too, with its usage exactly as argparse prints it.
    commands = cliref.command_paths(build_parser())
    assert set(commands) >= {"run", "conform", "kernels", "kernels fetch", "kernels list", "lint", "lint-patch",
                             "draft", "check-spec"}
    for name, (parser, _) in commands.items():
        usage = " ".join(parser.format_usage().split()).removeprefix("usage: ")
        assert usage in page, name
    html = (site.html / "cli.html").read_text()
    assert html.count('<pre><span></span>mmsem ') == len(commands)


def test_cli_reference_options_are_laid_out_from_the_parser():
    import argparse

    cliref = site_extension("cliref")
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("pages", nargs="*", metavar="PAGE", help="pages")
    parser.add_argument("patches", nargs="+", metavar="PATCH")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--jobs", type=int, default=2, help="agents")
    parser.add_argument("--all", action="store_true", help="all of them")
    parser.add_argument("--hidden", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command")
    nested = sub.add_parser("outer", help="an outer command").add_subparsers(dest="inner")
    nested.add_parser("inner", help="an inner one")
    assert cliref.option_rows(parser) == [
        ("[PAGE ...]", "pages"), ("PATCH [PATCH ...]", ""), ("--format {text,json}", "(default text)"),
        ("--jobs JOBS", "agents (default 2)"), ("--all", "all of them")]
    assert {name: summary for name, (_, summary) in cliref.command_paths(parser).items()} == {
        "outer": "an outer command", "outer inner": "an inner one"}


def test_an_undocumented_subcommand_fails_the_build(tmp_path):
    cliref = site_extension("cliref")
    text = "CLI\n===\n\n.. mmsem-command:: run\n\n.. mmsem-command:: kernels  fetch\n"
    source = write_project(tmp_path / "src", {"index": text})
    conf = source / "conf.py"
    conf.write_text(conf.read_text().replace('extensions = ["mmsem.sphinx_ext"]',
                                             f'import sys\nsys.path.insert(0, {str(DOCS / "_ext")!r})\n'
                                             'extensions = ["mmsem.sphinx_ext", "cliref"]'))
    build = sphinx(source, tmp_path / "out")
    from mmsem.cli import build_parser

    missing = [name for name in cliref.command_paths(build_parser()) if name not in ("run", "kernels fetch")]
    assert {"conform", "kernels", "kernels list", "lint", "lint-patch", "draft", "check-spec"} <= set(missing)
    assert warnings(build) == [f"WARNING: mmsem-command: the subcommand {name!r} is not documented "
                               f"(add .. mmsem-command:: {name}) [mmsem.cli]" for name in missing]
    assert "mmsem kernels fetch [-h] [--refresh] version" in page_text(build.html / "index.html")


# -- indices ------------------------------------------------------------------------------------

def index_entries(path: Path) -> dict[str, list[tuple[str, str]]]:
    """entry -> [(sub-entry, link)], plus entry -> link under key ("#", entry)."""
    html = path.read_text()
    out: dict = {}
    current = None
    for attrs, row in re.findall(r"<tr([^>]*)>(.*?)</tr>", html, re.S):
        link = re.search(r'<a href="([^"]+)"><code class="xref">([^<]+)</code></a>', row)
        if not link:
            continue
        href, name = link.groups()
        if 'class="cg-' in attrs:
            out[current].append((name, href))
        else:
            current = name
            out[name] = []
            out["#", name] = href
    return out


def test_flag_index_lists_each_flag_with_the_calls_that_take_it(site):
    entries = index_entries(site.html / "mm-flagindex.html")
    assert entries["MLOCK_ONFAULT"] == [("mlock2", "reference/calls/mlock2.html#mlock2-flags")]
    assert entries["#", "MLOCK_ONFAULT"] == "reference/calls/mlock2.html#flag-mlock-onfault"
    assert entries["MCL_FUTURE"] == [("mlockall", "reference/calls/mlockall.html#mlockall-flags")]
    assert [name for name, _ in entries["PROT_READ"]] == ["mmap", "mprotect"]
    assert entries["#", "PROT_READ"] == "reference/calls/mmap.html#flag-prot-read"
    assert entries["#", "MAP_LOCKED"] == "reference/calls/mmap.html#flag-map-locked"
    spec = default_spec()
    flags = {flag.name for flagset in spec.flagsets.values() for flag in flagset.flags}
    assert {key for key in entries if isinstance(key, str)} == flags


def test_errno_index_lists_each_errno_with_the_calls_that_return_it(site):
    from mmsem.sphinx_ext.specquery import errnos_of

    entries = index_entries(site.html / "mm-errnoindex.html")
    assert ("mlock2", "reference/calls/mlock2.html#mlock2-errors") in entries["ENOSYS"]
    assert {"mlock", "mlock2", "mlockall", "mmap"} <= {name for name, _ in entries["EPERM"]}
    assert entries["#", "ENOMEM"] == "reference/errors.html#errno-enomem"
    # The index is the spec's error lists inverted: exactly the calls that can fail with each
    # errno, in the model or (unmodelled_errors) outside it.
    spec = default_spec()
    expected: dict[str, list[str]] = {}
    for name in sorted(spec.syscalls):
        entry = spec.syscalls[name]
        codes = errnos_of(spec, entry) + (["ENOSYS"] if entry.since else [])
        codes += [e.errno for e in entry.unmodelled_errors if e.errno not in codes]  # real, not modelled
        for code in dict.fromkeys(codes):
            expected.setdefault(code, []).append(name)
    found = {key: [name for name, _ in value] for key, value in entries.items() if isinstance(key, str)}
    assert found == expected


def test_reference_pages_depend_on_their_spec_files(site):
    with open(site.doctrees / "environment.pickle", "rb") as f:
        env = pickle.load(f)
    spec_dir = Path(default_spec().directory)
    deps = {Path(p) for p in env.dependencies["reference/calls/mlock2"]}
    assert {spec_dir / "syscalls" / "mlock2.yaml", spec_dir / "procedures" / "do_mlock.yaml",
            spec_dir / "procedures" / "apply_vma_lock_flags.yaml", spec_dir / "flags" / "mlock2.yaml"} <= deps
    assert spec_dir / "syscalls" / "mmap.yaml" in {Path(p) for p in env.dependencies["reference/calls/mmap"]}


def test_conditions_are_put_into_words(site):
    page = unescape(re.sub(r"<[^>]+>", "", (site.html / "reference" / "calls" / "mlock2.html").read_text()))
    assert "EINVAL: if flags has a bit that is not a valid mlock2 flag." in page
    assert "EPERM: if the caller may not lock memory (it lacks CAP_IPC_LOCK and its RLIMIT_MEMLOCK is 0)." in page
    assert "locked_pages(start, len) if Linux 4.9 or later, else 0" in page
    assert "ENOMEM: while the effect populate runs." in page


def squash(text: str) -> str:
    """Whitespace squashed, and what Sphinx's smartquotes made typographic plain again."""
    for fancy, plain in (("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u2026", "...")):
        text = text.replace(fancy, plain)
    return " ".join(text.split())


def blocks(html: str, pattern: str) -> list[str]:
    """The text of each element the regular expression `pattern` matches, whitespace squashed."""
    return [squash(unescape(re.sub(r"<[^>]+>", "", m.group(0)))) for m in re.finditer(pattern, html, re.S)]


def test_reference_pages_set_the_model_notes_apart(site):
    from mmsem.sphinx_ext import specquery

    spec = default_spec()
    with_notes = {name for name, entry in spec.syscalls.items() if entry.model_notes}
    assert {"brk", "remap_file_pages"} <= with_notes
    for name, entry in spec.syscalls.items():
        html = (site.html / "reference" / "calls" / f"{name}.html").read_text()
        notes = blocks(html, r'<div class="mm-model-note admonition">.*?</div>')
        notes = [note for note in notes if note.startswith("How mmsem models this")]
        # Flags are described on their set's home page, each with its own note.
        flag_notes = [squash(f"How mmsem models this {flag.model_note}") for flagset in spec.flagsets
                      if specquery.flagset_home(spec, flagset) == name
                      for flag in spec.flagsets[flagset].flags if flag.model_note]
        call_notes = [squash("How mmsem models this " + " ".join(entry.model_notes))] if entry.model_notes else []
        assert sorted(notes) == sorted(call_notes + flag_notes), name
    brk = page_text(site.html / "reference" / "calls" / "brk.html")
    assert "How mmsem models this Trace steps run the system call itself, so a step returns the break, " \
           "not 0 or -1." in squash(brk)
    remap = page_text(site.html / "reference" / "calls" / "remap_file_pages.html")
    assert "How mmsem models this The pre-4.0 nonlinear implementation is not modelled" in squash(remap)


def test_reference_pages_list_the_errors_the_model_leaves_out(site):
    spec = default_spec()
    assert {name for name, entry in spec.syscalls.items() if entry.unmodelled_errors} >= {"mmap", "madvise"}
    for name, entry in spec.syscalls.items():
        html = (site.html / "reference" / "calls" / f"{name}.html").read_text()
        items = blocks(html, r'<ul class="mm-unmodelled[^"]*">.*?</ul>')
        if not entry.unmodelled_errors:
            assert items == [] and "mm-unmodelled-intro" not in html, name
            continue
        assert "The call can also fail in ways the model leaves out; traces never produce these:" in page_text(
            site.html / "reference" / "calls" / f"{name}.html")
        expected = " ".join(squash(f"{e.errno} (not modelled): {e.text}" + (f" {e.cite}." if e.cite else ""))
                            for e in entry.unmodelled_errors)
        assert items == [expected], name
    mmap = squash(page_text(site.html / "reference" / "calls" / "mmap.html"))
    assert "ETXTBSY (not modelled): A shared writable mapping of an active swap file. " \
           "mm/mmap.c:do_mmap (IS_SWAPFILE)." in mmap
    errors = squash(page_text(site.html / "reference" / "errors.html"))
    assert "ETXTBSY (26)¶ Text file busy. Returned by mmap in cases the model leaves out (no trace produces it " \
           "there)." in errors


def test_reference_pages_say_which_calls_kernels_without_an_mmu_lack(site):
    spec = default_spec()
    for name in ("mseal", "fork", "remap_file_pages"):
        assert spec.syscalls[name].nommu == "enosys"
    for name, entry in spec.syscalls.items():
        page = squash(page_text(site.html / "reference" / "calls" / f"{name}.html"))
        assert ("Kernels built without an MMU do not have it (ENOSYS)." in page) == (entry.nommu == "enosys"), name


def test_lint_rules_are_described_from_the_registry(site):
    from mmsem.sphinx_ext.lintrules import registry

    rules = registry()
    html = (site.html / "reference" / "lint-rules.html").read_text()
    assert re.findall(r'<dt class="sig sig-object mm" id="rule-(mm\d+)">', html) == [
        rule_id.lower() for rule_id in sorted(rules)]
    # `mmsem lint --list-rules` and the page agree on every rule's name, severity, category and summary.
    listed = subprocess.run([sys.executable, "-m", "mmsem", "lint", "--list-rules"], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    assert len(listed) == len(rules)
    header, *rows = blocks(html, r'<tr class="row-(?:odd|even)">.*?</tr>')
    assert header == "Rule Name Severity Category Reports"
    assert len(rows) == len(rules)
    for line, row in zip(listed, rows):
        rule_id, name, severity, category, summary = line.split(None, 4)
        rule = rules[rule_id]
        assert (name, severity, category, summary) == (rule.name, rule.severity, rule.category, rule.summary)
        assert row == squash(f"{rule_id} {name} {severity} {category} {summary.replace('``', '')}"), rule_id
        description = blocks(html, rf'<dl class="mm rule">\s*<dt class="sig sig-object mm" '
                                   rf'id="rule-{rule_id.lower()}">.*?</dl>')
        assert len(description) == 1, rule_id
        assert description[0].startswith(squash(f"{rule_id} {name} ({severity})¶ "
                                                f"{summary.replace('``', '')}")), rule_id
        for paragraph in re.split(r"\n\s*\n", rule.doc.partition("\n")[2].strip()):
            assert squash(paragraph.replace("``", "")) in description[0], (rule_id, paragraph)
    examples = sum(1 for rule in rules.values() for block in re.split(r"\n\s*\n", rule.doc)
                   if block.lstrip().startswith(("Bad:", "Good:")))
    assert examples >= 3
    assert html.count('<div class="mm-rule-example highlight-none') == examples
    # The guide's :mm:rule: references land on the descriptions.
    guide = (site.html / "guides" / "lint-patch.html").read_text()
    for rule_id in ("MM401", "MM201", "MM501", "MM505"):
        assert f'href="../reference/lint-rules.html#rule-{rule_id.lower()}"' in guide


def test_a_rule_missing_from_the_site_is_reported(tmp_path):
    from mmsem.sphinx_ext.lintrules import registry

    text = ("Rules\n=====\n\n.. mm:lintrules::\n\n.. mm:lintrules:: structure\n\n.. mm:lintrules:: claims\n\n"
            ".. mm:lintrules:: grammar\n")
    source = write_project(tmp_path / "src", {"index": text}, mm_check_coverage=True)
    build = sphinx(source, tmp_path / "out")
    found = [w for w in warnings(build) if "lint rule" in w or "lintrules" in w]
    missing = sorted((r for r in registry().values() if r.category not in ("structure", "claims")),
                     key=lambda r: r.id)
    assert found == [
        f"{source / 'index.rst'}:10: WARNING: mm:lintrules: no rule category 'grammar' (known: structure, "
        "coverage, synopsis, claims, style) [mm.rules]"] + [
        f"WARNING: mm: lint rule {r.id} ({r.name}) is not described (add .. mm:lintrules:: {r.category}) "
        "[mm.coverage]" for r in missing]
    html = (build.html / "index.html").read_text()
    assert 'id="rule-mm101"' in html and 'id="rule-mm401"' in html and 'id="rule-mm201"' not in html
    # The summary table links only the rules described somewhere: the others are plain text.
    assert 'href="#rule-mm101"' in html and 'href="#rule-mm201"' not in html


def test_kernel_traits_are_described_and_conditions_link_to_them(site):
    spec = default_spec()
    html = (site.html / "reference" / "kernels.html").read_text()
    assert sorted(re.findall(r'id="trait-([^"]+)"', html)) == sorted(
        name.replace("_", "-") for name in spec.traits)
    page = squash(page_text(site.html / "reference" / "kernels.html"))
    for profile in spec.profiles.values():
        assert f"{profile.name} Linux {profile.version_text}, with" in page
    mlock2 = (site.html / "reference" / "calls" / "mlock2.html").read_text()
    assert re.search(r'if <a class="reference internal" href="../kernels.html#trait-mlock-limit-credits-locked" '
                     r'title="mlock_limit_credits_locked \(trait\): Linux 4.9 and later"><abbr title="', mlock2)


def test_the_hook_in_the_guide_is_the_documented_one(site):
    doc = (DOCS / "lint-patch.md").read_text()
    script = re.search(r"<!-- pre-commit hook -->\s*```sh\n(.*?)```", doc, re.S).group(1)
    guide = (site.html / "guides" / "lint-patch.html").read_text()
    shown = re.findall(r'<div class="highlight-sh notranslate"><div class="highlight"><pre><span></span>(.*?)</pre>',
                       guide, re.S)
    assert [unescape(re.sub(r"<[^>]+>", "", block)) for block in shown] == [script]


def test_huge_pages_are_drawn_one_to_a_cell(site):
    html = (site.html / "guides" / "hugetlb-and-fork.html").read_text()
    space = re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" class="mm-space".*?</svg>', html, re.S)
    assert len(space) == html.count('class="mm-space"') == 5 + 4 + 9 + 5 + 5
    titles = [re.findall(r"<g><title>([^<:]+):", svg) for svg in space]
    assert titles[0] == ["H+0h", "H+1h", "R+0h"]  # two rows: H has two huge pages, R one
    assert titles[5] == ["H+0h"]
    assert titles[9][:4] == ["A+0p", "A+1p", "A+2p", "S+0p"]  # ordinary pages stay one to a cell
    assert html.count("In the pictures a cell of H, R is a huge page (2 MiB, 512 pages).") == 1
    assert html.count("In the pictures a cell of H is a huge page (2 MiB, 512 pages).") == 3
    # After a step of the child the picture is the child's address space.
    assert "Address space of child after step 9, mmap(" in html
    assert "The address space of child; its VmLck 0 pages." in html




# -- scenarios that fail ---------------------------------------------------------------------------

WRONG_TRACE = """\
steps:
  - mmap: {len: 4p, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}
    as: A
    expect: {ret: A}
  - mlock: {addr: A, len: 2p}
    expect: {errno: ENOMEM}
expect_state:
  pages:
    A+0p..A+1p: {locked: true}
    A+2p: {locked: true}
"""
WRONG = "Wrong\n=====\n\n.. mm:scenario:: wrong on purpose\n\n" + "".join(
    f"   {line}\n" for line in WRONG_TRACE.splitlines())


def test_a_wrong_expectation_fails_the_build_and_names_the_line(tmp_path):
    source = write_project(tmp_path / "src", {"index": WRONG})
    build = sphinx(source, tmp_path / "out", "-W")
    assert build.returncode == 1
    path = source / "index.rst"
    assert warnings(build) == [
        f"{path}:10: WARNING: scenario wrong on purpose: expectation not met: "
        "mlock: expected ENOMEM, got 0 [mm.scenario]",
        f"{path}:15: WARNING: scenario wrong on purpose: expectation not met: "
        "A+2p: locked is false, expected true [mm.scenario]",
    ]


def test_a_wrong_expectation_in_a_trace_file_names_the_file(tmp_path):
    source = tmp_path / "src"
    (source / "traces").mkdir(parents=True)
    (source / "traces" / "wrong.yaml").write_text(WRONG_TRACE)
    write_project(source, {"index": "Wrong\n=====\n\n.. mm:scenario::\n   :file: traces/wrong.yaml\n"})
    build = sphinx(source, tmp_path / "out", "-W")
    assert build.returncode == 1
    path = source / "traces" / "wrong.yaml"
    assert warnings(build) == [
        f"{path}:5: WARNING: scenario wrong: expectation not met: mlock: expected ENOMEM, got 0 [mm.scenario]",
        f"{path}:10: WARNING: scenario wrong: expectation not met: A+2p: locked is false, expected true "
        "[mm.scenario]",
    ]


def test_a_trace_error_names_the_line(tmp_path):
    text = ("Bad\n===\n\n.. mm:scenario::\n\n   steps:\n     - mlock: {addr: A, len: 1p}\n"
            "     - mlokc: {addr: 0, len: 1p}\n")
    source = write_project(tmp_path / "src", {"index": text})
    build = sphinx(source, tmp_path / "out", "-W")
    assert build.returncode == 1
    assert len(warnings(build)) == 1
    assert warnings(build)[0].startswith(f"{source / 'index.rst'}:7: WARNING: mm:scenario: unknown name 'A'")


# -- the domain -------------------------------------------------------------------------------------

def duplicate_pages() -> dict[str, str]:
    """index and p0..p5; MY_FLAG is described in p0 and p5, which a parallel build with
    -j 2 reads in different chunks: [index, p0, p1], [p2, p3, p4], [p5]."""
    pages = {"index": "Index\n=====\n\n.. toctree::\n\n" + "".join(f"   p{i}\n" for i in range(6))}
    for i in range(6):
        pages[f"p{i}"] = f"P{i}\n==\n\ntext\n"
    pages["p0"] = "P0\n==\n\n.. mm:flag:: MY_FLAG\n   :syscalls: mycall\n"
    pages["p5"] = "P5\n==\n\n.. mm:flag:: MY_FLAG\n   :syscalls: mycall\n"
    return pages


def duplicate_warning(source: Path) -> str:
    return (f"{source / 'p5.rst'}:4: WARNING: duplicate description of flag MY_FLAG, "
            f"also described at {source / 'p0.rst'}:4 [mm.duplicate]")


def test_duplicate_descriptions_warn_with_both_places(tmp_path):
    pages = duplicate_pages()
    source = write_project(tmp_path / "src", pages)
    expected = [duplicate_warning(source)]
    serial = sphinx(source, tmp_path / "serial")
    assert warnings(serial) == expected
    # Readers never warn about another document's description: the main process does,
    # once all are merged, so a parallel build cannot lose or repeat the warning.
    parallel = sphinx(source, tmp_path / "parallel", "-j", "2")
    assert parallel.returncode == 0, parallel.stderr  # a failed build has no warnings either
    assert warnings(parallel) == expected
    (source / "p0.rst").write_text(pages["p0"] + "\nEdited.\n")  # reread p0 alone
    incremental = sphinx(source, tmp_path / "serial")
    assert "reading sources... [100%] p0" in incremental.stdout
    assert warnings(incremental) == expected
    (source / "p5.rst").write_text(pages["p5"] + "\nEdited.\n")  # the later one alone
    incremental = sphinx(source, tmp_path / "serial")
    assert "reading sources... [100%] p5" in incremental.stdout
    assert warnings(incremental) == expected
    (source / "p3.rst").write_text(pages["p3"] + "\nEdited.\n")  # neither: reported already
    incremental = sphinx(source, tmp_path / "serial")
    assert "reading sources... [100%] p3" in incremental.stdout
    assert warnings(incremental) == []


def test_removing_one_of_two_descriptions_keeps_the_other(tmp_path):
    pages = duplicate_pages()
    pages["index"] += "\nSee :mm:flag:`MY_FLAG`.\n"
    source = write_project(tmp_path / "src", pages)
    first = sphinx(source, tmp_path / "out", "-n")
    assert warnings(first) == [duplicate_warning(source)]
    assert 'href="p5.html#flag-my-flag"' in (first.html / "index.html").read_text()
    (source / "p5.rst").unlink()
    (source / "index.rst").write_text(pages["index"].replace("   p5\n", ""))
    second = sphinx(source, tmp_path / "out", "-n")
    assert warnings(second) == []
    assert 'href="p0.html#flag-my-flag"' in (second.html / "index.html").read_text()


#: sphinx-build whose parallel readers are merged in the order MM_READ_ORDER gives (task
#: ids, which are the chunks in name order). ParallelTasks merges whichever reader is
#: done and then forks the waiting ones; hiding all running readers but the next due one
#: fixes both the merge order and what each later reader inherits when it is forked.
ORDERED_READERS = """\
import json, os, sys
from sphinx.util import parallel

pending = json.loads(os.environ["MM_READ_ORDER"])
init, join_one = parallel.ParallelTasks.__init__, parallel.ParallelTasks._join_one


def ordered_init(self, nproc):
    global pending
    init(self, nproc)
    self.mm_order, pending = pending, []  # the first tasks are the readers


def ordered_join_one(self):
    if not self.mm_order:
        return join_one(self)
    others = {tid: pipe for tid, pipe in self._precvs.items() if tid != self.mm_order[0]}
    for tid in others:
        del self._precvs[tid]
    try:
        joined = join_one(self)
    finally:
        self._precvs.update(others)
    if joined:
        print(f"mm: merged reader {self.mm_order.pop(0)}", file=sys.stderr)
    return joined


parallel.ParallelTasks.__init__ = ordered_init
parallel.ParallelTasks._join_one = ordered_join_one
from sphinx.cmd.build import main

sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("order", [
    [0, 1, 2],  # p5's reader forked after p0 was merged, so it sees p0's description
    [0, 2, 1],
    [1, 0, 2],  # forked before p0 was merged; p0 merged first
    [1, 2, 0],  # p5 merged before p0
])
def test_parallel_readers_merged_in_any_order_warn_once(tmp_path, order):
    source = write_project(tmp_path / "src", duplicate_pages())
    driver = tmp_path / "ordered_readers.py"
    driver.write_text(ORDERED_READERS)
    build = sphinx(source, tmp_path / "out", "-j", "2", driver=driver,
                   environ={"MM_READ_ORDER": json.dumps(order)}, timeout=120)
    assert build.returncode == 0, build.stderr
    assert re.findall(r"mm: merged reader (\d+)", build.stderr) == [str(tid) for tid in order]
    assert warnings(build) == [duplicate_warning(source)]


class FakeEnv:
    """What the domain uses of a BuildEnvironment."""

    def __init__(self, data=None):
        self.domaindata = {} if data is None else {"mm": data}
        self.docname = ""

    def doc2path(self, docname):
        return f"/src/{docname}.rst"


def test_duplicates_do_not_depend_on_the_order_readers_finish_or_fork(monkeypatch):
    """Sphinx's parallel read on the domain's own methods: the main process clears the
    documents, forks a reader per chunk (a copy of its data as merged so far), merges each
    reader's pickled data, and reports once every chunk is merged. Every interleaving of
    forks and merges must give the serial build's warnings."""
    import copy
    import itertools

    from mmsem.sphinx_ext import domain as mm_domain

    found: list[tuple] = []

    class Logger:
        def warning(self, message, *args, location, type, subtype):
            found.append((f"{location[0]}:{location[1]}", message % args, f"{type}.{subtype}"))

    monkeypatch.setattr(mm_domain, "logger", Logger())
    # X three times (twice in b), Y twice, Z once; chunks as -j 2 makes them of 7 documents.
    texts = {"a": [("X", 3)], "b": [("X", 2), ("Y", 5), ("X", 9)], "e": [("Y", 1)],
             "g": [("X", 4), ("Z", 1)]}
    chunks = [["a", "b", "c"], ["d", "e", "f"], ["g"]]

    def read(domain, docnames):
        for docname in docnames:
            domain.env.docname = docname
            for name, line in texts.get(docname, []):
                domain.note_object("flag", name, f"flag-{name}-{line}", line)

    def clear(domain, docnames):
        for docname in docnames:
            domain.clear_doc(docname)

    serial = mm_domain.MmDomain(FakeEnv())
    clear(serial, sum(chunks, []))
    read(serial, sum(chunks, []))
    serial.report_duplicates()
    expected = [  # (docname:line warned at, message): each description after the first,
        # in (docname, line) order, names the one before it
        ("b:2", "duplicate description of flag X, also described at /src/a.rst:3", "mm.duplicate"),
        ("b:9", "duplicate description of flag X, also described at /src/b.rst:2", "mm.duplicate"),
        ("e:1", "duplicate description of flag Y, also described at /src/b.rst:5", "mm.duplicate"),
        ("g:4", "duplicate description of flag X, also described at /src/b.rst:9", "mm.duplicate"),
    ]
    assert found == expected
    assert serial.objects[("flag", "X")] == ("g", "flag-X-4", 4, "")
    assert serial.objects[("flag", "Y")] == ("e", "flag-Y-1", 1, "")

    events = [("fork", i) for i in range(len(chunks))] + [("merge", i) for i in range(len(chunks))]
    schedules = [s for s in itertools.permutations(events)
                 if all(s.index(("fork", i)) < s.index(("merge", i)) for i in range(len(chunks)))]
    assert len(schedules) == 90
    for schedule in schedules:
        found.clear()
        main = mm_domain.MmDomain(FakeEnv())
        clear(main, sum(chunks, []))
        readers = {}
        for event, i in schedule:
            if event == "fork":
                readers[i] = mm_domain.MmDomain(FakeEnv(copy.deepcopy(main.data)))
            else:
                read(readers[i], chunks[i])  # a reader may do its work any time before its merge
                main.merge_domaindata(set(chunks[i]), pickle.loads(pickle.dumps(readers[i].data)))
        assert found == [], schedule
        main.report_duplicates()
        assert found == expected, schedule
        assert main.data == serial.data, schedule

    # Incremental: the duplicates of a name are reported again when a document with one
    # of its descriptions is reread, and not when an unrelated one is.
    x_only = [expected[0], expected[1], expected[3]]
    for reread, reported in [("g", x_only), ("e", expected[2:3]), ("c", [])]:
        found.clear()
        clear(serial, [reread])
        read(serial, [reread])
        serial.report_duplicates()
        assert found == reported, reread
    found.clear()
    clear(serial, ["g"])  # removed: b's description of X is the one links go to again
    serial.report_duplicates()
    assert found == expected[:2]
    assert serial.objects[("flag", "X")] == ("b", "flag-X-9", 9, "")
    assert ("flag", "Z") not in serial.objects


def test_a_duplicate_in_one_document_warns_and_keeps_both_anchors(tmp_path):
    source = write_project(tmp_path / "src", {"index": "T\n=\n\n.. mm:flag:: X\n\n.. mm:flag:: X\n"})
    build = sphinx(source, tmp_path / "out")
    assert warnings(build) == [f"{source / 'index.rst'}:6: WARNING: duplicate description of flag X, "
                               f"also described at {source / 'index.rst'}:4 [mm.duplicate]"]
    html = (build.html / "index.html").read_text()
    assert 'id="flag-x"' in html and 'id="flag-x-0"' in html


def test_roles_resolve_and_unknown_targets_warn(tmp_path):
    text = ("Roles\n=====\n\n.. mm:syscall:: int mycall(int flags)\n   :flags: MY_FLAG\n   :errors: EINVAL\n\n"
            ".. mm:flag:: MY_FLAG\n   :syscalls: mycall\n\n.. mm:errno:: EINVAL\n\n"
            "See :mm:syscall:`mycall`, :mm:flag:`MY_FLAG`, :mm:errno:`EINVAL` and :mm:flag:`NO_FLAG`.\n")
    source = write_project(tmp_path / "src", {"index": text})
    build = sphinx(source, tmp_path / "out", "-n")
    assert warnings(build) == [f"{source / 'index.rst'}:13: WARNING: mm:flag reference target not found: "
                               "NO_FLAG [ref.flag]"]
    html = (build.html / "index.html").read_text()
    for anchor in ("syscall-mycall", "flag-my-flag", "errno-einval"):
        assert f'href="#{anchor}"' in html
    entries = index_entries(build.html / "mm-flagindex.html")
    assert entries["MY_FLAG"] == [("mycall", "index.html#syscall-mycall")]


def test_coverage_check_names_what_is_missing(tmp_path):
    source = write_project(tmp_path / "src", {"index": "Only\n====\n\n.. mm:autosyscall:: munlockall\n"},
                           mm_check_coverage=True)
    build = sphinx(source, tmp_path / "out")
    found = warnings(build)
    assert "WARNING: mm: the spec's syscall mlock2 is not described (add .. mm:autosyscall:: mlock2) " \
           "[mm.coverage]" in found
    assert "WARNING: mm: flag MLOCK_ONFAULT is not described (its home is the page of mlock2) [mm.coverage]" in found


# -- the cache -----------------------------------------------------------------------------------------

CACHED = """\
Cached
======

.. mm:scenario:: cached

   steps:
     - mmap: {len: 2p, prot: [PROT_READ], flags: [MAP_PRIVATE, MAP_ANONYMOUS, MAP_LOCKED]}
       as: A
       expect: {ret: A}
"""


def test_results_are_cached_by_spec_and_trace(tmp_path):
    source = write_project(tmp_path / "src", {"index": CACHED})
    first = sphinx(source, tmp_path / "out", "-W")
    assert first.returncode == 0, first.stderr
    assert "mm: 1 scenario(s) read: engine 1 run, 0 from the cache" in first.stdout
    cached = sorted((tmp_path / "out" / "doctrees" / "mmsem-scenarios").iterdir())
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    second = sphinx(source, tmp_path / "out", "-W", "-E")  # a fresh environment rereads every document
    assert second.returncode == 0, second.stderr
    assert "mm: 1 scenario(s) read: engine 0 run, 1 from the cache" in second.stdout
    assert cached[0].stat().st_mtime_ns == stamp
    assert (second.html / "index.html").read_text() == (first.html / "index.html").read_text()
    (source / "index.rst").write_text(CACHED.replace("len: 2p", "len: 3p"))
    third = sphinx(source, tmp_path / "out", "-W")
    assert "mm: 1 scenario(s) read: engine 1 run, 0 from the cache" in third.stdout
    assert len(list((tmp_path / "out" / "doctrees" / "mmsem-scenarios").iterdir())) == 2


# -- the browser --------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chromium() -> str:
    if not os.path.exists(CHROMIUM):
        problem = f"{CHROMIUM} not found (Debian package chromium)"
        if os.environ.get("MMSEM_REQUIRE_KERNEL") == "1":
            pytest.fail(f"the browser check is required but cannot run: {problem}")
        pytest.skip(problem)
    return CHROMIUM


def run_chromium(binary: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


MEASURE = """
<script>
window.addEventListener("load", function () {
  var out = [];
  document.querySelectorAll("svg.mm-space, svg.mm-legend").forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    out.push({cls: svg.getAttribute("class"), width: box.width, height: box.height,
              declared: [Number(svg.getAttribute("width")), Number(svg.getAttribute("height"))],
              label: svg.getAttribute("aria-labelledby"), cells: svg.querySelectorAll("rect").length});
  });
  var pre = document.createElement("pre");
  pre.id = "mm-measure";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("page", ["reference/calls/mlock2.html", "guides/map-locked-vs-mlock.html",
                                  "reference/calls/fork.html", "guides/hugetlb-and-fork.html"])
def test_browser_renders_the_pictures(site, chromium, tmp_path, page):
    html = site.html / page
    text = html.read_text()
    expected = text.count('<svg xmlns="http://www.w3.org/2000/svg" class="mm-space"')
    legends = text.count('class="mm-legend"')
    assert expected >= 8 and legends >= 2
    # A copy that measures every picture once laid out, next to the page so its styles load.
    probe = html.with_name(html.stem + ".measure.html")
    probe.write_text(text.replace("</body>", MEASURE + "</body>"))
    done = run_chromium(chromium, tmp_path / "profile", "--window-size=1280,1024", "--dump-dom", probe.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r'<pre id="mm-measure">(.*?)</pre>', done.stdout, re.S)
    assert match, done.stdout[-2000:]
    boxes = json.loads(unescape(match.group(1)))
    assert [b["cls"] for b in boxes].count("mm-space") == expected
    assert [b["cls"] for b in boxes].count("mm-legend") == legends
    for box in boxes:
        # Laid out at the size the picture declares (the page is wide enough for all of them),
        # which is at least one cell and its row label, or the legend's five entries.
        assert abs(box["width"] - box["declared"][0]) < 0.5 and abs(box["height"] - box["declared"][1]) < 0.5, box
        assert box["width"] >= 36 and box["height"] >= 22, box
        assert box["cells"] > 0 and box["label"], box
    legend = next(box for box in boxes if box["cls"] == "mm-legend")
    assert legend["width"] > 400
    shot = artifacts_dir() / (page.replace("/", "-").removesuffix(".html") + ".png")
    done = run_chromium(chromium, tmp_path / "profile", "--window-size=1280,3000",
                        f"--screenshot={shot}", html.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert png_size(shot) == (1280, 3000)
    assert shot.stat().st_size > 50_000  # a blank page compresses to a few kilobytes


# -- pieces of the extension -------------------------------------------------------------------------

@pytest.mark.parametrize("source, words", [
    ("flags & ~valid_flags('mlock2')", "flags has a bit that is not a valid mlock2 flag"),
    ("not can_do_mlock", "the caller may not lock memory (it lacks CAP_IPC_LOCK and its RLIMIT_MEMLOCK is 0)"),
    ("offset & (PAGE_SIZE - 1)", "offset is not a multiple of PAGE_SIZE"),
    ("flags & MAP_LOCKED and not can_do_mlock",
     "all of: flags includes MAP_LOCKED; the caller may not lock memory (it lacks CAP_IPC_LOCK and its "
     "RLIMIT_MEMLOCK is 0)"),
    ("mlockall_onfault_alone_rejected and flags == MCL_ONFAULT", "Linux 5.2 or later and flags = MCL_ONFAULT"),
    ("not (a or b)", "not a and not b"),
    ("pgoff > (MAX_LFS_FILESIZE - len) >> PAGE_SHIFT", "pgoff > (MAX_LFS_FILESIZE - len) >> PAGE_SHIFT"),
    ("not intersects(addr, addr + len)", "no mapping intersects [addr, addr + len)"),
    ("len == 0", "len is 0"),
    ("map_type not in (MAP_SHARED, MAP_PRIVATE)", "map_type is not one of {MAP_SHARED, MAP_PRIVATE}"),
])
def test_conditions_read_as_words(source, words):
    from mmsem.sphinx_ext.conditions import Vocabulary, describe, to_text

    assert to_text(describe(source, Vocabulary.from_spec(default_spec()))) == words


def test_pictures_are_sized_and_labelled():
    import xml.etree.ElementTree as ET

    from mmsem.sphinx_ext import svg

    rows = [["A", ["A+0p", "A+1p", "A+2p"]], ["B", [f"B+{i}p" for i in range(40)]]]
    pages = {"A+0p": ["rw-", False, True, False, True], "A+1p": ["rw-", False, True, True, False]}
    root = ET.fromstring(svg.address_space("x", rows, pages, "After step 1"))
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.get("role") == "img" and root.get("aria-labelledby") == "x-title x-desc"
    assert root.find("s:title", ns).text == "After step 1"
    assert root.find("s:desc", ns).text == ("A+0p locked, resident; A+1p locked on fault, not resident; "
                                            "A+2p not mapped; B+0p..B+39p not mapped")
    assert int(root.get("width")) > 0 and int(root.get("height")) > 0
    titles = [g.find("s:title", ns).text for g in root.iter("{http://www.w3.org/2000/svg}g")]
    assert len(titles) == 43
    assert titles[:2] == ["A+0p: rw- private, locked, resident", "A+1p: rw- private, locked on fault, not resident"]
    # 40 cells wrap after 32: B takes two lines, A one; rows are 4 px apart, 2 px margin on top
    assert int(root.get("height")) == 2 + 3 * (svg.CELL + svg.GAP) + 2 * 4


def test_reference_pages_are_generated_only_when_they_change(tmp_path):
    from mmsem.sphinx_ext import pages

    target = tmp_path / "calls"
    assert pages.generate(target, ["mlock", "mmap"], "live") == ["mlock.rst", "mmap.rst"]
    assert (target / "mlock.rst").read_text() == pages.HEADER + ".. mm:autosyscall:: mlock\n   :verify: live\n"
    stamp = (target / "mmap.rst").stat().st_mtime_ns
    (target / "notes.rst").write_text("Written by hand.\n")
    assert pages.generate(target, ["mmap"], "live") == []  # mlock left the spec
    assert sorted(p.name for p in target.iterdir()) == ["mmap.rst", "notes.rst"]
    assert (target / "mmap.rst").stat().st_mtime_ns == stamp
