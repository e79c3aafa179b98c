"""`mmsem lint --jobs`: worker processes change how fast, never what is reported: the
same findings, in the same order, the same page count and the same first error as a
run in one process; pages reached through links and ``.so`` are still linted once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmsem.cli import main
from mmsem.manpages import lint
from mmsem.manpages.claims import evidence
from mmsem.manpages.lint import PAGES_PER_WORKER, Linter

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MAN2 = Path("/usr/share/man/man2")


@pytest.fixture(autouse=True)
def no_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MMSEM_NO_CACHE", raising=False)


def lint_run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["lint", "--kernel-version", "6.18", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tree(tmp_path) -> list[str]:
    """A man tree of enough pages for several workers: every fixture page several times,
    with a symbolic link, a .so page and a .so page leading to a .so page among them."""
    man2 = tmp_path / "man" / "man2"
    man2.mkdir(parents=True)
    pages = sorted((FIXTURES / "findings").glob("*.2")) + sorted((FIXTURES / "silent").glob("*.2"))
    paths = []
    for copy in range(4):
        for page in pages:
            target = man2 / f"{page.stem}{copy}.2"
            shutil.copyfile(page, target)
            paths.append(str(target))
    (man2 / "link.2").symlink_to("since0.2")
    (man2 / "so.2").write_text(".so man2/structure1.2\n")
    (man2 / "chained.2").write_text(".so man2/so.2\n")
    # the link and .so pages before and after their targets, so both orders are seen
    paths[3:3] = [str(man2 / "link.2"), str(man2 / "so.2"), str(man2 / "chained.2")]
    paths += [str(man2 / "link.2"), str(man2 / "chained.2")]
    assert len(paths) >= 3 * PAGES_PER_WORKER
    return paths


@pytest.mark.parametrize("jobs", ["2", "3", "7"])
def test_workers_report_what_one_process_does(capsys, monkeypatch, tree, jobs):
    monkeypatch.setenv("MMSEM_NO_CACHE", "1")
    alone = lint_run(capsys, "--jobs", "1", *tree)
    assert alone[0] == 1 and alone[2] == "mmsem lint: 160 findings in 48 pages (judged against Linux 6.18)\n"
    assert lint_run(capsys, "--jobs", jobs, *tree) == alone


def test_the_installed_man2_pages_in_workers_and_in_one_process(capsys, monkeypatch):
    if not MAN2.is_dir():
        pytest.skip("man-pages are not installed")
    monkeypatch.setenv("MMSEM_NO_CACHE", "1")
    pages = sorted(str(p) for p in MAN2.iterdir())  # links included: each file is linted once
    alone = lint_run(capsys, "--jobs", "1", *pages)
    assert alone[0] == 1 and alone[1].count("\n") > 15
    assert lint_run(capsys, "--jobs", "2", *pages) == alone


def test_the_first_bad_page_in_order_is_the_error(capsys, tree):
    bad = [p + ".missing" for p in tree[10:12]]
    pages = tree[:10] + bad + tree[10:]
    for jobs in ("1", "2", "3"):
        assert lint_run(capsys, "--jobs", jobs, *pages) == (
            2, "", f"{bad[0]}:1:1: cannot read: No such file or directory\n")


def test_jobs_must_be_at_least_one(capsys, tree):
    assert lint_run(capsys, "--jobs", "0", tree[0]) == (2, "", "--jobs:1:1: --jobs must be at least 1, not 0\n")


def test_a_run_in_workers_fills_the_caches_for_the_next(capsys, tree, tmp_path):
    first = lint_run(capsys, "--jobs", "3", *tree)
    cached = lint._read_cache("lint", lint._Results(Linter("6.18")).key)
    assert len(cached) == len({os.path.realpath(p) for p in tree})  # one entry per file, links too
    assert lint_run(capsys, "--jobs", "1", *tree) == first  # from the cache
    assert lint_run(capsys, "--jobs", "3", *tree) == first


def test_witness_outcomes_found_by_workers_reach_the_witness_cache(tmp_path, monkeypatch):
    """A claim that only a worker meets: its witness outcome is kept for the next run."""
    monkeypatch.setenv("MMSEM_NO_CACHE", "1")
    monkeypatch.setattr(evidence, "_ENGINE_RUNS", {})  # as a fresh process
    claim = tmp_path / "claim.2"
    claim.write_text(".TH MMAP 2\n.SH NAME\nmmap \\- map\n.SH DESCRIPTION\n.TP\n.B MAP_LOCKED\n"
                     "Lock the pages just like\n.BR mlock (2).\n")
    pages = []
    for n in range(2 * PAGES_PER_WORKER):
        pages.append(str(tmp_path / f"frob{n}.2"))
        shutil.copyfile(FIXTURES / "silent" / "frob.2", pages[-1])
    pages.insert(1, str(claim))  # index 1: the first page of worker 1 of 2
    found = Linter("6.18", select=["claims"], jobs=2).lint_paths(pages)
    assert [(f.rule, str(f.origin)) for f in found] == [("MM401", f"{claim}:7:16")]
    cached = lint._read_cache("witnesses", lint._witness_key()) or {}
    assert any(key[0] == "map-locked-best-effort" for key in cached), sorted(cached)


@pytest.mark.parametrize("sig, code, message", [(signal.SIGTERM, 143, "mmsem: terminated\n"),
                                                (signal.SIGINT, 130, "mmsem: interrupted\n")])
def test_a_signal_stops_the_workers_with_the_run(tmp_path, sig, code, message):
    pages = sorted(str(p) for d in (MAN2, MAN2.parent / "man3") if d.is_dir() for p in d.iterdir())
    if len(pages) < 1000:
        pytest.skip("man-pages are not installed")
    proc = subprocess.Popen([sys.executable, "-m", "mmsem", "lint", "--jobs", "2", *pages],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "MMSEM_NO_CACHE": "1"})
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    workers: list = []
    deadline = time.monotonic() + 30
    while not workers and time.monotonic() < deadline and proc.poll() is None:
        workers = children.read_text().split() if children.exists() else []
        time.sleep(0.01)
    assert workers, "no worker was started"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode()) == (code, message)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
