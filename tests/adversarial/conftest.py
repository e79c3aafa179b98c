"""Helpers for the adversarial tests: run the real command line, check its one-line errors."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def mmsem(*argv, input: bytes | None = None, timeout: float = 120, memory: int | None = None,
          cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`mmsem ARGV` as a user runs it; `memory` bounds its address space (bytes)."""
    def bound():
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return subprocess.run([sys.executable, "-m", "mmsem", *map(str, argv)], input=input, capture_output=True,
                          timeout=timeout, preexec_fn=bound if memory else None, cwd=cwd,
                          env=_environment())


def _environment() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}  # holds huge test ids
    env["LC_ALL"] = "C.UTF-8"
    return env


def assert_input_error(result: subprocess.CompletedProcess, line: str) -> None:
    """Exit 2 and exactly `line` on stderr (one line), nothing on stdout, no traceback."""
    out, err = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
    assert "Traceback" not in out + err
    assert (result.returncode, out, err) == (2, "", line + "\n")


def digest(path: Path) -> str:
    """A fingerprint of a file or a whole tree: names, modes, times and contents."""
    path = Path(path)
    h = hashlib.sha256()
    for p in sorted([path, *path.rglob("*")] if path.is_dir() else [path]):
        st = p.lstat()
        h.update(f"{p.relative_to(path.parent)} {st.st_mode} {st.st_mtime_ns} {st.st_size}\n".encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def man_tree(tmp_path) -> Path:
    """A scratch manual tree (tmp_path/man) with man2/, and a file outside it."""
    root = tmp_path / "man"
    (root / "man2").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.2").write_text(".SH SECRET\nsecret text\n")
    return root
