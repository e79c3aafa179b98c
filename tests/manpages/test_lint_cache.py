"""The cache of findings per page (mmsem.manpages.lint._Results): a repeated run gives
exactly the findings of a fresh one, and a page whose bytes (or whose ``.so`` target's)
changed is linted again."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from mmsem.manpages import lint
from mmsem.manpages.lint import Linter

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PAGE = """\
.TH MMAP 2
.SH NAME
mmap \\- map
.SH DESCRIPTION
.TP
.B MAP_LOCKED
Lock the pages just like
.BR mlock (2).
"""


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv("MMSEM_NO_CACHE", raising=False)
    return home / "mmsem"


def keyed(findings) -> list:
    return [(f.rule, str(f.origin), f.message, f.subject, f.evidence) for f in findings]


def run(paths, **kw) -> tuple[list, int]:
    linter = Linter("6.18", **kw)
    findings = linter.lint_paths([str(p) for p in paths])
    return keyed(findings), linter.pages


def test_a_repeated_run_reports_what_a_fresh_one_does(cache_home, monkeypatch):
    pages = sorted((FIXTURES / "findings").glob("*.2")) + sorted((FIXTURES / "silent").glob("*.2"))
    first = run(pages)
    assert len(list(cache_home.glob("lint-*.pickle"))) == 1
    again = run(pages)
    monkeypatch.setenv("MMSEM_NO_CACHE", "1")
    assert again == first == run(pages)


def test_the_cache_answers_from_its_entries(cache_home, tmp_path):
    page = tmp_path / "mmap.2"
    page.write_text(PAGE)
    found, _ = run([page])
    assert "MM401" in [f[0] for f in found]
    (cache_file,) = cache_home.glob("lint-*.pickle")
    entries = pickle.loads(cache_file.read_bytes())
    (key,) = entries
    real, resolved, files, findings = entries[key]
    assert real == resolved == os.path.realpath(page) and [f for f, _ in files] == [str(page)]
    entries[key] = (real, resolved, files, [])  # a run that believes the page is clean
    cache_file.write_bytes(pickle.dumps(entries))
    assert run([page]) == ([], 1)


def test_a_changed_page_is_linted_again(cache_home, tmp_path):
    page = tmp_path / "mmap.2"
    page.write_text(PAGE)
    before, _ = run([page])
    stat = page.stat()
    page.write_text(PAGE.replace("just like", "exactly as"))  # same size
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and same time
    after, _ = run([page])
    assert any(f[0] == "MM401" for f in before) and not any(f[0] == "MM401" for f in after)


def test_a_changed_so_target_is_linted_again(cache_home, tmp_path):
    man2 = tmp_path / "man" / "man2"
    man2.mkdir(parents=True)
    (man2 / "mmap.2").write_text(PAGE)
    (man2 / "munmap.2").write_text(".so man2/mmap.2\n")
    before, pages = run([man2 / "munmap.2"])
    assert pages == 1 and any(f[0] == "MM401" for f in before)
    (man2 / "mmap.2").write_text(PAGE.replace("just like", "unlike"))
    after, _ = run([man2 / "munmap.2"])
    assert not any(f[0] == "MM401" for f in after)


def test_options_and_the_kernel_version_key_the_cache(cache_home, tmp_path):
    page = tmp_path / "mmap.2"
    page.write_text(PAGE)
    run([page])
    run([page], select=["MM401"])
    assert len(list(cache_home.glob("lint-*.pickle"))) == 1  # one key's entries at a time
    assert {f[0] for f in run([page], select=["MM401"])[0]} == {"MM401"}
    assert {f[0] for f in run([page])[0]} != {"MM401"}


def test_no_cache_without_the_packaged_spec_or_with_a_kernel(cache_home, tmp_path):
    from mmsem.spec import default_spec

    page = tmp_path / "mmap.2"
    page.write_text(PAGE)
    Linter("6.18", spec=default_spec()).lint_paths([str(page)])
    Linter("6.18", kernel=object(), select=["structure"]).lint_paths([str(page)])
    assert list(cache_home.glob("lint-*.pickle")) == []
    assert lint._Results.name("rel/page.2") == (os.getcwd(), "rel/page.2")


def test_entries_of_pages_that_are_gone_are_dropped(cache_home, tmp_path):
    gone, kept = tmp_path / "gone.2", tmp_path / "kept.2"
    for page in (gone, kept):
        page.write_text(PAGE)
    run([gone, kept])
    gone.unlink()
    (tmp_path / "new.2").write_text(PAGE)
    run([tmp_path / "new.2"])
    (cache_file,) = cache_home.glob("lint-*.pickle")
    assert sorted(Path(name[-1]).name for name in pickle.loads(cache_file.read_bytes())) == ["kept.2", "new.2"]
