"""Output safety: an interrupted `draft -o` leaves the previous file intact (the page is
written to a temporary file and renamed into place); no command modifies its inputs."""

from __future__ import annotations

import gzip
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, _environment, digest, mmsem

OLD = ".\\\" the previous version of the page\n"


def interrupted_while_python_starts(err: str) -> bool:
    """SIGINT before mmsem's command line runs (the interpreter still importing `mmsem.cli`,
    before it can install its handlers): Python's own traceback, which no program can
    prevent. Once main() runs, an interruption is one line."""
    return err.rstrip().endswith("KeyboardInterrupt") and ", in main\n" not in err


def draft_text() -> str:
    result = mmsem("draft", "mlock.2")
    assert result.returncode == 0
    return result.stdout.decode()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_interrupted_draft_leaves_the_previous_file(tmp_path, sig):
    new = draft_text()
    target = tmp_path / "mlock.2"
    outcomes = set()
    for delay in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0):
        target.write_text(OLD)
        proc = subprocess.Popen([sys.executable, "-m", "mmsem", "draft", "mlock.2", "-o", str(target), "--force"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_environment())
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert b"Traceback" not in err or interrupted_while_python_starts(err.decode())
        text = target.read_text()
        assert text in (OLD, new), "a half-written page"
        outcomes.add("old" if text == OLD else "new")
        if sig != signal.SIGKILL:  # only SIGKILL leaves no chance to remove the temporary file
            assert sorted(p.name for p in tmp_path.iterdir()) == ["mlock.2"]
    assert "old" in outcomes  # the early signals did interrupt it


def test_draft_never_replaces_without_force(tmp_path):
    target = tmp_path / "mlock.2"
    target.write_text(OLD)
    result = mmsem("draft", "mlock.2", "-o", target)
    assert (result.returncode, result.stdout, result.stderr.decode()) == \
        (2, b"", f"{target}:1:1: exists; use --force to replace it\n")
    assert target.read_text() == OLD


def test_draft_into_a_missing_directory_writes_nothing(tmp_path):
    target = tmp_path / "missing" / "mlock.2"
    result = mmsem("draft", "mlock.2", "-o", target)
    assert (result.returncode, result.stdout, result.stderr.decode()) == \
        (2, b"", f"{target}:1:1: cannot write it: No such file or directory\n")
    assert not target.parent.exists()


@pytest.fixture
def inputs(tmp_path, spec_copy) -> dict:
    """One input of every kind, each in a read-write place of its own."""
    man = tmp_path / "man"
    (man / "man2").mkdir(parents=True)
    page = Path("/usr/share/man/man2/mlock.2.gz")
    text = gzip.decompress(page.read_bytes()).decode() if page.exists() else ".TH MLOCK 2\n.SH NAME\nmlock \\- x\n"
    (man / "man2" / "mlock.2").write_text(text)
    (man / "man2" / "mlock2.2").write_text(".so man2/mlock.2\n")
    (man / "man2" / "mlock.2.gz").write_bytes(gzip.compress(text.encode()))
    lines = text.splitlines()
    patch = tmp_path / "fix.patch"
    patch.write_text(f"--- a/man2/mlock.2\n+++ b/man2/mlock.2\n@@ -1,1 +1,1 @@\n-{lines[0]}\n+{lines[0]} \n")
    trace = tmp_path / "trace.yaml"
    shutil.copy(ROOT / "examples" / "brk-mcl-future.yaml", trace)
    bad_trace = tmp_path / "bad.yaml"
    bad_trace.write_text("steps:\n  - mlock: {addr: 0, len: nonsense}\n")
    return {"man": man, "patch": patch, "trace": trace, "bad_trace": bad_trace, "spec": spec_copy}


@pytest.mark.parametrize("argv", [
    ["run", "{trace}"],
    ["run", "{bad_trace}"],
    ["run", "--format", "json", "{trace}"],
    ["lint", "{man}/man2/mlock.2", "{man}/man2/mlock2.2", "{man}/man2/mlock.2.gz"],
    ["lint", "--format", "sarif", "{man}/man2/mlock.2"],
    ["lint-patch", "--base", "{man}", "{patch}"],
    ["check-spec", "{spec}"],
    ["draft", "mlock.2"],
], ids=["run", "run-bad", "run-json", "lint", "lint-sarif", "lint-patch", "check-spec", "draft"])
def test_no_command_modifies_its_inputs(inputs, argv):
    argv = [a.format(**inputs) for a in argv]
    before = {name: digest(path) for name, path in inputs.items()}
    result = mmsem(*argv)
    assert result.returncode in (0, 1, 2) and b"Traceback" not in result.stderr
    assert {name: digest(path) for name, path in inputs.items()} == before
