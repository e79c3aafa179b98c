"""`mmsem lint-patch` on real patches: git format-patch mails and mbox series made in a
temporary git repository that holds copies of the installed mmap.2 and mlock.2.

Expected positions are read off the patch text the test made (the line of "+fails
with" in the mail), never guessed: a finding must sit exactly there.
"""

from __future__ import annotations

import base64
import email
import email.policy
import gzip
import hashlib
import io
import json
import os
import quopri
import re
import shutil
import subprocess
import sys
from email.message import EmailMessage
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import jsonschema
import pytest

from mmsem.cli import main

MAN2 = "/usr/share/man/man2"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git makes the patches")


def installed(name: str) -> str:
    path = os.path.join(MAN2, f"{name}.2.gz")
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        text = f.read()
    if "Linux man-pages 6.03" not in text[:4096]:
        pytest.skip(f"{path} is not the man-pages 6.03 page these edits were written for")
    return text


# -- edits, in our own words ------------------------------------------------------------------

MAP_LOCKED_START = '.BR MAP_LOCKED " (since Linux 2.5.37)"\n'
MAP_LOCKED_END = '.\\" If set, the mapped pages will not be swapped out.\n'

#: Claims that mmap fails when the range cannot be populated: wrong (map-locked-best-effort).
MAP_LOCKED_WRONG = """\
.BR MAP_LOCKED " (since Linux 2.5.37)"
Lock the pages of the new mapping into memory.
The kernel faults in the whole range before the call returns:
.BR mmap ()
fails with
.B ENOMEM
when the range cannot be populated.
"""

#: The real behaviour: population is best effort.
MAP_LOCKED_RIGHT = """\
.BR MAP_LOCKED " (since Linux 2.5.37)"
Lock the pages of the new mapping into memory.
The kernel tries to fault in the whole range,
but the call does not fail if some pages cannot be populated:
they stay locked without being resident,
so major faults can still happen later.
Use
.BR mlock (2)
after
.BR mmap ()
when such faults are not acceptable.
"""

EPERM_ENTRY = """\
.TP
.B EPERM
The caller is not privileged, but needs privilege
.RB ( CAP_IPC_LOCK )
to perform the requested operation.
"""


def rewrite_map_locked(text: str, new: str) -> str:
    start = text.index(MAP_LOCKED_START)
    end = text.index(MAP_LOCKED_END, start)
    return text[:start] + new + text[end:]


def drop_eperm(text: str) -> str:
    assert text.count(EPERM_ENTRY) == 1
    return text.replace(EPERM_ENTRY, "")


# -- a git repository of pages ----------------------------------------------------------------

class Repo:
    def __init__(self, path: Path, layout: str = "man2"):
        self.path = path
        self.layout = layout
        path.mkdir()
        self.env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_AUTHOR_NAME": "Zoë Writer", "GIT_AUTHOR_EMAIL": "zoe@example.org",
                    "GIT_COMMITTER_NAME": "Zoë Writer", "GIT_COMMITTER_EMAIL": "zoe@example.org",
                    "GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z"}
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, stdin: bytes | None = None) -> bytes:
        done = subprocess.run(["git", *args], cwd=self.path, env=self.env, input=stdin,
                              capture_output=True, check=True)
        return done.stdout

    def page(self, name: str) -> Path:
        return self.path / self.layout / f"{name}.2"

    def write(self, name: str, text: str) -> None:
        self.page(name).parent.mkdir(parents=True, exist_ok=True)
        self.page(name).write_text(text, encoding="utf-8")

    def read(self, name: str) -> str:
        return self.page(name).read_text(encoding="utf-8")

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def change(self, name: str, edit, message: str) -> None:
        self.write(name, edit(self.read(name)))
        self.commit(message)

    def format_patch(self, *revisions: str) -> bytes:
        return self.git("format-patch", "--stdout", *revisions)


@pytest.fixture(autouse=True)
def no_config(tmp_path, monkeypatch):
    """Run from an empty directory, away from any pyproject.toml with [tool.mmsem]."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def repo(tmp_path) -> Repo:
    repo = Repo(tmp_path / "repo")
    repo.write("mmap", installed("mmap"))
    repo.write("mlock", installed("mlock"))
    repo.commit("man2: the pages as installed")
    return repo


@pytest.fixture
def base(tmp_path, repo) -> Path:
    """A man-pages tree holding the pages the patches apply to."""
    tree = tmp_path / "base"
    (tree / "man2").mkdir(parents=True)
    for name in ("mmap", "mlock"):
        shutil.copy(repo.page(name), tree / "man2" / f"{name}.2")
    return tree


def save(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["lint-patch", "--kernel-version", "6.18", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str) -> tuple[int, list]:
    code, out, _ = run(capsys, "--format", "json", *argv)
    return code, json.loads(out)["findings"]


def line_of(data: bytes | str, text: str, start: int = 0) -> int:
    """1-based line of the first line equal to `text` (after line `start`)."""
    lines = (data.decode() if isinstance(data, bytes) else data).splitlines()
    return lines.index(text, start) + 1


def page_line(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


# -- the acceptance cases ---------------------------------------------------------------------

def test_a_wrong_map_locked_claim_is_flagged_on_the_added_line_with_its_witness(capsys, tmp_path, repo, base):
    repo.change("mmap", lambda t: rewrite_map_locked(t, MAP_LOCKED_WRONG), "mmap.2: reword MAP_LOCKED")
    mail = repo.format_patch("-1")
    patch = save(tmp_path, "0001-mmap.2-reword-MAP_LOCKED.patch", mail)
    code, findings = run_json(capsys, "--base", str(base), patch)
    assert code == 1
    # ".BR mmap ()" stays as context; the claim is made by the added "fails with".
    line = page_line(repo.read("mmap"), "fails with")
    where = line_of(mail, "+fails with")
    assert {(f["rule"], f["line"], f["patch_line"], f["column"]) for f in findings} == {("MM401", line, where, 1)}
    ours = [f for f in findings if "(map-locked-best-effort)" in f["message"]]
    assert len(ours) == 1
    finding = ours[0]
    assert finding["path"] == "man2/mmap.2" and finding["subject"] == "MAP_LOCKED"
    assert finding["message"].startswith("claim contradicts the kernel (map-locked-best-effort): mmap with "
                                         "MAP_LOCKED faults the range in on a best-effort basis")
    assert "name: map-locked-best-effort" in finding["evidence"]["trace"]
    assert finding["evidence"]["engine"].endswith("every expectation met")
    # The same claim also denies map-populate-best-effort, whose topics include mmap; every
    # finding of this patch is that one sentence.
    assert all("best-effort)" in f["message"] for f in findings)

    code, out, err = run(capsys, "--base", str(base), "--select", "MM401", patch)
    first = out.splitlines()[0]
    assert first.startswith(f"{patch}:{where}:2: error: claim contradicts the kernel (")
    assert first.endswith(f"[MM401] (man2/mmap.2:{line}:1)")
    assert out.splitlines()[1].startswith(f"{patch}:{where}:2: note: engine (profile 6.18): mmap(")


def test_the_real_behaviour_is_silent(capsys, tmp_path, repo, base):
    repo.change("mmap", lambda t: rewrite_map_locked(t, MAP_LOCKED_RIGHT), "mmap.2: reword MAP_LOCKED")
    patch = save(tmp_path, "right.patch", repo.format_patch("-1"))
    assert run(capsys, "--base", str(base), patch) == (
        0, "", "mmsem lint-patch: no findings in 1 patch (1 page reviewed; judged against Linux 6.18)\n")


def eperm_findings(mail: bytes, page: str, patch: str) -> list:
    """What deleting the EPERM entry of mlock.2 (in the file `patch`) brings, with every position."""
    removed = line_of(mail, "-The caller is not privileged, but needs privilege")
    at = page_line(page, ".RB ( munlockall ())")  # the line after the removal, in the patched page
    out = []
    for call, cause in (("mlock", "do_mlock: check no-lock-permission"), ("mlock2", "do_mlock: check no-lock-permission"),
                        ("mlockall", "check no-lock-permission")):
        out.append({"path": "man2/mlock.2", "line": at, "column": 1, "patch": patch, "patch_line": removed,
                    "patch_column": 2, "change": "removed", "rule": "MM201",
                    "name": "undocumented-errno", "severity": "warning",
                    "message": f"removes required documentation: {call}() can fail with EPERM ({cause} in the "
                               f"spec), but ERRORS does not document it", "subject": f"{call}/EPERM"})
    return out


def test_deleting_the_eperm_entry_is_flagged_as_removing_required_documentation(capsys, tmp_path, repo, base):
    repo.change("mlock", drop_eperm, "mlock.2: drop the EPERM entry")
    mail = repo.format_patch("-1")
    patch = save(tmp_path, "eperm.patch", mail)
    code, findings = run_json(capsys, "--base", str(base), patch)
    assert code == 1
    assert findings == eperm_findings(mail, repo.read("mlock"), patch)
    code, out, err = run(capsys, "--base", str(base), patch)
    removed = line_of(mail, "-The caller is not privileged, but needs privilege")
    at = page_line(repo.read("mlock"), ".RB ( munlockall ())")
    assert out.splitlines()[0] == (
        f"{patch}:{removed}:2: warning: removes required documentation: mlock() can fail with EPERM "
        f"(do_mlock: check no-lock-permission in the spec), but ERRORS does not document it [MM201] "
        f"(man2/mlock.2:{at}:1)")
    assert err == "mmsem lint-patch: 3 findings in 1 patch (1 page reviewed; judged against Linux 6.18)\n"


def test_deleting_a_flag_description_is_flagged_at_its_tag(capsys, tmp_path, repo, base):
    def drop_map_locked(text):
        start = text.index('.TP\n.BR MAP_LOCKED " (since Linux 2.5.37)"\n')
        return text[:start] + text[text.index(".TP\n.BR MAP_NONBLOCK", start):]

    repo.change("mmap", drop_map_locked, "mmap.2: drop MAP_LOCKED")
    mail = repo.format_patch("-1")
    code, findings = run_json(capsys, "--base", str(base), save(tmp_path, "flag.patch", mail))
    assert code == 1
    at = page_line(repo.read("mmap"), '.BR MAP_NONBLOCK " (since Linux 2.5.46)"')
    assert [(f["rule"], f["line"], f["patch_line"], f["message"]) for f in findings] == [
        ("MM203", at, line_of(mail, '-.BR MAP_LOCKED " (since Linux 2.5.37)"'),
         "removes required documentation: MAP_LOCKED (since Linux 2.5.37) is a flag of mmap() that the page "
         "does not describe")]


def test_deleting_a_must_know_statement_is_flagged_where_it_was(capsys, tmp_path, repo, base):
    statement = ("The\n.BR mmap ()\ncall doesn't fail if the mapping cannot be populated (for example, due\n"
                 "to limitations on the number of mapped huge pages when using\n.BR MAP_HUGETLB ).\n")

    def shorten(text):
        assert text.count(statement) == 1
        return text.replace(statement, "")

    repo.change("mmap", shorten, "mmap.2: shorten MAP_POPULATE")
    mail = repo.format_patch("-1")
    code, findings = run_json(capsys, "--base", str(base), save(tmp_path, "must.patch", mail))
    assert code == 1
    assert [(f["rule"], f["subject"], f["patch_line"]) for f in findings] == [
        ("MM402", "MAP_POPULATE", line_of(mail, "-call doesn't fail if the mapping cannot be populated (for "
                                                "example, due"))]
    assert findings[0]["message"].startswith("removes required documentation: undocumented behaviour of "
                                             "MAP_POPULATE (map-populate-best-effort): ")
    assert "name: map-populate-best-effort" in findings[0]["evidence"]["trace"]


def test_the_installed_pages_are_the_default_base(capsys, tmp_path, repo):
    if shutil.which("man") is None:
        pytest.skip("man -w finds the installed pages")
    repo.change("mlock", drop_eperm, "mlock.2: drop the EPERM entry")
    mail = repo.format_patch("-1")
    patch = save(tmp_path, "eperm.patch", mail)
    code, findings = run_json(capsys, patch)
    assert code == 1
    assert findings == eperm_findings(mail, repo.read("mlock"), patch)


# -- series -----------------------------------------------------------------------------------

def series(repo: Repo) -> None:
    repo.change("mmap", lambda t: rewrite_map_locked(t, MAP_LOCKED_RIGHT), "mmap.2: reword MAP_LOCKED\n\nBy Zoë.")
    repo.change("mlock", drop_eperm, "mlock.2: drop the EPERM entry")
    # on top of the first patch: this hunk's context exists only after it
    repo.change("mmap", lambda t: t.replace("so major faults can still happen later.\n",
                                            "so major faults can still happen later. Check the bitmask.\n"),
                "mmap.2: a style slip")


def test_a_series_in_an_mbox_applies_patch_after_patch(capsys, tmp_path, repo, base):
    series(repo)
    mbox = repo.format_patch("HEAD~3..HEAD")
    assert mbox.count(b"\nFrom ") == 2 and mbox.startswith(b"From ")
    path = save(tmp_path, "series.mbox", mbox)
    code, findings = run_json(capsys, "--base", str(base), path)
    assert code == 1
    third = mbox.decode().index("Subject: [PATCH 3/3]")
    slip = line_of(mbox, "+so major faults can still happen later. Check the bitmask.",
                   mbox.decode()[:third].count("\n"))
    line = page_line(repo.read("mmap"), "so major faults can still happen later. Check the bitmask.")
    mlock = repo.read("mlock")
    assert findings == eperm_findings(mbox, mlock, path) + [
        {"path": "man2/mmap.2", "line": line, "column": 41, "patch": path, "patch_line": slip, "patch_column": 42,
         "change": "added", "rule": "MM501",
         "name": "semantic-newlines", "severity": "warning", "subject": "",
         "message": "a sentence starts mid-line (\"Check the bitmask. ...\"): start each sentence on a new source "
                    "line (semantic newlines)"},
        {"path": "man2/mmap.2", "line": line, "column": 51, "patch": path, "patch_line": slip, "patch_column": 52,
         "change": "added", "rule": "MM505",
         "name": "preferred-term", "severity": "info", "subject": "bitmask",
         "message": "man-pages(7) prefers \"bit mask\" to \"bitmask\""},
    ]
    # The same series as three files, in order.
    mails = repo.git("format-patch", "-o", str(tmp_path / "out"), "HEAD~3..HEAD").decode().split()
    code, per_file = run_json(capsys, "--base", str(base), *mails)
    assert [(f["rule"], f["line"]) for f in per_file] == [(f["rule"], f["line"]) for f in findings]
    code, out, err = run(capsys, "--base", str(base), *mails)
    assert out.splitlines()[-1].startswith(f"{mails[2]}:{line_of(Path(mails[2]).read_bytes(), '+so major faults can still happen later. Check the bitmask.')}:52: info: ")
    assert err == "mmsem lint-patch: 5 findings in 3 patches (3 pages reviewed; judged against Linux 6.18)\n"


def test_a_patch_that_needs_an_earlier_one_does_not_apply_alone(capsys, tmp_path, repo, base):
    series(repo)
    mail = repo.format_patch("-1")
    patch = save(tmp_path, "0003.patch", mail)
    header = next(line for line in mail.decode().splitlines() if line.startswith("@@"))
    start = int(re.match(r"@@ -(\d+),(\d+)", header).group(1))
    assert run(capsys, "--base", str(base), patch) == (
        2, "", f"{patch}:{line_of(mail, header)}: hunk 1 of man2/mmap.2 does not apply at page line {start}\n")


def test_a_hunk_that_moved_still_applies(capsys, tmp_path, repo, base):
    """Like git apply: the page gained lines above the hunk since the patch was made."""
    repo.change("mlock", drop_eperm, "mlock.2: drop the EPERM entry")
    mail = repo.format_patch("-1")
    page = base / "man2" / "mlock.2"
    text = page.read_text()
    page.write_text(text.replace(".SH DESCRIPTION\n", ".SH DESCRIPTION\n.\\\" one\n.\\\" two\n", 1))
    code, findings = run_json(capsys, "--base", str(base), save(tmp_path, "eperm.patch", mail))
    assert code == 1
    shifted = page_line(repo.read("mlock"), ".RB ( munlockall ())") + 2
    assert [(f["rule"], f["line"]) for f in findings] == [("MM201", shifted)] * 3


# -- what a mail client makes of it -----------------------------------------------------------

def reencode(mail: bytes, encoding: str) -> bytes:
    """The mail with its body in another Content-Transfer-Encoding, lines as an encoder cuts them."""
    message = email.message_from_bytes(mail, policy=email.policy.default)
    body = message.get_content().encode("utf-8")
    if encoding == "quoted-printable":
        encoded = quopri.encodestring(body)  # soft line breaks at 76 columns
    else:
        encoded = base64.encodebytes(body)  # 76 columns: 57 bytes a line
    headers = "".join(f"{name}: {message[name]}\n" for name in ("From", "Date", "Subject"))
    return (mail.split(b"\n", 1)[0] + b"\n" + headers.encode() + b"MIME-Version: 1.0\n"
            b"Content-Type: text/plain; charset=UTF-8\n" + f"Content-Transfer-Encoding: {encoding}\n\n".encode()
            + encoded)


@pytest.fixture
def wrong_mail(repo) -> bytes:
    repo.change("mmap", lambda t: rewrite_map_locked(t, MAP_LOCKED_WRONG),
                "mmap.2: reword MAP_LOCKED\n\nA long line, so that quoted-printable has to fold it: Zoë wrote this.")
    return repo.format_patch("-1")


def test_quoted_printable_mails_point_at_the_encoded_line(capsys, tmp_path, repo, base, wrong_mail):
    mail = reencode(wrong_mail, "quoted-printable")
    assert b"=\n" in mail and b"=C3=AB" in mail  # soft line breaks and an encoded byte
    code, findings = run_json(capsys, "--base", str(base), "--select", "MM401", save(tmp_path, "qp.eml", mail))
    assert code == 1
    assert {f["patch_line"] for f in findings} == {line_of(mail, "+fails with")}
    assert {f["line"] for f in findings} == {page_line(repo.read("mmap"), "fails with")}


def test_base64_mails_point_at_the_encoded_line_holding_the_first_byte(capsys, tmp_path, repo, base, wrong_mail):
    mail = reencode(wrong_mail, "base64")
    head, _, body = mail.partition(b"\n\n")
    decoded = base64.b64decode(body)
    offset = decoded.index(b"\n+fails with\n") + 1
    expected = head.count(b"\n") + 3 + offset // 57  # header lines, the blank line, then the body
    code, findings = run_json(capsys, "--base", str(base), "--select", "MM401", save(tmp_path, "b64.eml", mail))
    assert code == 1
    assert {f["patch_line"] for f in findings} == {expected}


def test_a_patch_attached_to_a_mail_is_found(capsys, tmp_path, repo, base, wrong_mail):
    diff = wrong_mail.decode()[wrong_mail.decode().index("diff --git"):]
    message = EmailMessage()
    message["From"] = "Zoë Writer <zoe@example.org>"
    message["Subject"] = "[PATCH] mmap.2: reword MAP_LOCKED"
    message.set_content("Please review the attached patch.\n")
    message.add_attachment(diff, subtype="x-patch", filename="0001-mmap.2.patch")
    mail = message.as_bytes()
    code, findings = run_json(capsys, "--base", str(base), "--select", "MM401", save(tmp_path, "att.eml", mail))
    assert code == 1
    assert {f["patch_line"] for f in findings} == {line_of(mail, "+fails with")}


def test_standard_input_and_a_plain_diff(capsys, tmp_path, repo, base, monkeypatch):
    repo.write("mlock", drop_eperm(repo.read("mlock")))
    diff = repo.git("diff")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(diff)))
    code, out, err = run(capsys, "--base", str(base), "-")
    assert code == 1
    removed = line_of(diff, "-The caller is not privileged, but needs privilege")
    assert out.splitlines()[0].startswith(f"<stdin>:{removed}:2: warning: removes required documentation: ")


def test_man_slash_man2_paths_find_man2_pages_and_back(capsys, tmp_path, base):
    new_layout = Repo(tmp_path / "new", layout="man/man2")
    new_layout.write("mlock", installed("mlock"))
    new_layout.commit("base")
    new_layout.change("mlock", drop_eperm, "man/man2/mlock.2: drop EPERM")
    mail = new_layout.format_patch("-1")
    assert b"diff --git a/man/man2/mlock.2 b/man/man2/mlock.2" in mail
    code, findings = run_json(capsys, "--base", str(base), save(tmp_path, "new.patch", mail))
    assert code == 1 and {f["path"] for f in findings} == {"man/man2/mlock.2"} and len(findings) == 3


# -- bad input: one line, exit 2 --------------------------------------------------------------

def test_not_a_patch(capsys, tmp_path, base):
    notes = save(tmp_path, "notes.txt", b"Remember to fix MAP_LOCKED.\n")
    assert run(capsys, "--base", str(base), notes) == (2, "", f"{notes}:1: not a patch: no unified diff in it\n")
    empty = save(tmp_path, "empty.patch", b"")
    assert run(capsys, empty) == (2, "", f"{empty}:1: not a patch: the input is empty\n")
    mail = save(tmp_path, "question.eml", b"From: a@example.org\nSubject: a question\n\nIs MAP_LOCKED safe?\n")
    assert run(capsys, mail) == (2, "", f"{mail}:1: not a patch: no unified diff in it\n")


def test_a_patch_for_a_missing_page(capsys, tmp_path, repo):
    repo.change("mlock", drop_eperm, "mlock.2: drop the EPERM entry")
    mail = repo.format_patch("-1")
    patch = save(tmp_path, "eperm.patch", mail)
    empty = tmp_path / "empty-tree"
    empty.mkdir()
    header = line_of(mail, "diff --git a/man2/mlock.2 b/man2/mlock.2")
    assert run(capsys, "--base", str(empty), patch) == (
        2, "", f"{patch}:{header}: man2/mlock.2: no such page in {empty} to apply the patch to "
               f"(nor man/man2/mlock.2)\n")


def test_a_patch_for_a_page_that_is_not_installed(capsys, tmp_path):
    if shutil.which("man") is None:
        pytest.skip("man -w looks for installed pages")
    repo = Repo(tmp_path / "other")
    repo.write("mmsemnosuchcall", ".TH X 2\n.SH NAME\nx\n")
    repo.commit("base")
    repo.change("mmsemnosuchcall", lambda t: t + ".SH DESCRIPTION\n", "more")
    mail = repo.format_patch("-1")
    patch = save(tmp_path, "nosuch.patch", mail)
    header = line_of(mail, "diff --git a/man2/mmsemnosuchcall.2 b/man2/mmsemnosuchcall.2")
    assert run(capsys, patch) == (
        2, "", f"{patch}:{header}: man2/mmsemnosuchcall.2: no installed page mmsemnosuchcall(2) to apply the "
               f"patch to (man -w 2 mmsemnosuchcall finds none); name a man-pages tree with --base\n")


def test_a_truncated_mail(capsys, tmp_path, base, wrong_mail):
    lines = wrong_mail.decode().splitlines(keepends=True)
    cut = lines.index("+when the range cannot be populated.\n") + 1
    patch = save(tmp_path, "cut.patch", "".join(lines[:cut]).encode())
    header = next(n for n, line in enumerate(lines, 1) if line.startswith("@@"))
    assert run(capsys, "--base", str(base), patch) == (
        2, "", f"{patch}:{header}: truncated patch: the input ends inside hunk 1 of man2/mmap.2\n")


def test_a_truncated_base64_mail(capsys, tmp_path, base, wrong_mail):
    mail = reencode(wrong_mail, "base64")
    cut = mail[:-40]  # the last line and a half
    patch = save(tmp_path, "cut.eml", cut)
    last = len(cut.splitlines())
    assert run(capsys, "--base", str(base), patch) == (
        2, "", f"{patch}:{last}: truncated mail: the base64 body is cut short\n")


def test_a_mail_cut_in_its_headers(capsys, tmp_path):
    patch = save(tmp_path, "headers.eml", b"From 1234 Mon Sep 17 00:00:00 2001\nFrom: a@example.org\nSubject: [PATCH]")
    assert run(capsys, patch) == (2, "", f"{patch}:2: truncated mail: the headers end without a body\n")


def test_a_damaged_hunk(capsys, tmp_path, base, wrong_mail):
    text = wrong_mail.decode().replace("\n+fails with\n", "\nfails with\n")
    patch = save(tmp_path, "damaged.patch", text.encode())
    where = line_of(text, "fails with")
    assert run(capsys, "--base", str(base), patch) == (
        2, "", f"{patch}:{where}: hunk 1 of man2/mmap.2 is damaged: a line that does not start with ' ', '+' or "
               f"'-' before the hunk's line counts are reached\n")


def test_nothing_is_written_and_inputs_stay_as_they_were(capsys, tmp_path, repo, base):
    repo.change("mlock", drop_eperm, "mlock.2: drop the EPERM entry")
    patch = save(tmp_path, "eperm.patch", repo.format_patch("-1"))

    def snapshot():
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.rglob("*")
                if p.is_file() and ".git" not in p.parts}

    before = snapshot()
    assert run(capsys, "--base", str(base), patch)[0] == 1
    assert run(capsys, "--base", str(base), str(tmp_path / "notes-missing.txt"))[0] == 2
    assert snapshot() == before


# -- output formats ---------------------------------------------------------------------------

def test_json_matches_the_findings_schema_and_sarif_is_valid(capsys, tmp_path, repo, base):
    repo.change("mlock", drop_eperm, "mlock.2: drop the EPERM entry")
    patch = save(tmp_path, "eperm.patch", repo.format_patch("-1"))
    code, out, _ = run(capsys, "--base", str(base), "--format", "json", patch)
    schema = json.loads(resources.files("mmsem.manpages").joinpath("schema/findings.schema.json").read_text())
    jsonschema.validate(json.loads(out), schema, cls=jsonschema.Draft202012Validator)
    code, out, _ = run(capsys, "--base", str(base), "--format", "sarif", patch)
    log = json.loads(out)
    sarif = json.loads((FIXTURES / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(log, sarif, cls=jsonschema.Draft4Validator)
    result = log["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "man2/mlock.2"
    related = result["relatedLocations"][0]["physicalLocation"]
    assert related["artifactLocation"]["uri"] == quote(patch)
    assert result["properties"]["patch_line"] == related["region"]["startLine"]
    code, out, _ = run(capsys, "--base", str(base), "--format", "github", patch)
    line = page_line(repo.read("mlock"), ".RB ( munlockall ())")
    assert out.splitlines()[0].startswith(f"::warning file=man2/mlock.2,line={line},col=1,title=MM201::removes ")


def test_select_and_ignore_apply(capsys, tmp_path, repo, base):
    repo.change("mlock", drop_eperm, "mlock.2: drop the EPERM entry")
    patch = save(tmp_path, "eperm.patch", repo.format_patch("-1"))
    assert run(capsys, "--base", str(base), "--ignore", "MM201", patch)[0] == 0
    assert run(capsys, "--base", str(base), "--select", "style", patch)[0] == 0
    assert run(capsys, "--base", str(base), "--select", "MM999", patch)[0] == 2
    assert run(capsys, "--base", str(tmp_path / "nowhere"), patch) == (
        2, "", f"--base:1:1: not a directory: {tmp_path / 'nowhere'}\n")


# -- hooks ------------------------------------------------------------------------------------

def hook_repo(tmp_path: Path) -> Repo:
    if shutil.which("mmsem") is None:
        pytest.skip("the hooks run the installed mmsem command")
    repo = Repo(tmp_path / "hooked")
    repo.write("mlock", installed("mlock"))
    (repo.path / "README").write_text("pages\n")
    repo.commit("base")
    return repo


def test_the_pre_commit_hook_reviews_staged_pages(tmp_path):
    import shlex

    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "mmsem-lint-patch")
    assert re.search(hook["files"], "man2/mlock.2") and re.search(hook["files"], "man/man2/mlock.2")
    assert not re.search(hook["files"], "README")
    repo = hook_repo(tmp_path)
    repo.write("mlock", drop_eperm(repo.read("mlock")))
    repo.git("add", "-A")
    # what pre-commit runs: the entry, then the staged files that match
    done = subprocess.run([*shlex.split(hook["entry"]), "man2/mlock.2"], cwd=repo.path, env=repo.env,
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert "removes required documentation: mlock() can fail with EPERM" in done.stdout
    repo.git("reset", "-q", "--hard")
    repo.write("mlock", repo.read("mlock").replace("to perform the requested operation.\n",
                                                   "to perform the requested operation.\n.\\\" reviewed\n"))
    repo.git("add", "-A")
    done = subprocess.run([*shlex.split(hook["entry"]), "man2/mlock.2"], cwd=repo.path, env=repo.env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_documented_git_hook_stops_the_commit(tmp_path):
    doc = (ROOT / "docs" / "lint-patch.md").read_text()
    script = re.search(r"<!-- pre-commit hook -->\s*```sh\n(.*?)```", doc, re.S).group(1)
    repo = hook_repo(tmp_path)
    hook = repo.path / ".git" / "hooks" / "pre-commit"
    hook.write_text(script)
    hook.chmod(0o755)
    repo.write("mlock", drop_eperm(repo.read("mlock")))
    repo.git("add", "-A")
    refused = subprocess.run(["git", "commit", "-q", "-m", "drop EPERM"], cwd=repo.path, env=repo.env,
                             capture_output=True, text=True)
    assert refused.returncode != 0
    assert "[MM201]" in refused.stdout + refused.stderr
    repo.git("reset", "-q", "--hard")
    (repo.path / "README").write_text("pages, reviewed\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "README only")  # no page staged: the hook lets it through
