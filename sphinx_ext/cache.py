"""Scenario results on disk, under the build directory, keyed by what determines them.

A key is the SHA-256 of everything a result depends on: the cache format, the spec's
files, the engine's source, the trace text and the kernel profile; a live
verification adds the kernel release. Editing any of them misses the cache, so
nothing stale is ever shown; everything else is reused, also by a build with a fresh
environment (``-E``) and by every process of a parallel build, since each entry is
its own file, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

from mmsem.spec import PACKAGE_DIR

#: Bump when the stored shape changes.
FORMAT = 1


def _tree_digest(root: Path, patterns: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for pattern in patterns for p in root.rglob(pattern)):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=None)
def spec_digest() -> str:
    """Digest of the packaged spec's data files."""
    return _tree_digest(Path(PACKAGE_DIR), ("*.yaml", "*.json"))


@lru_cache(maxsize=None)
def engine_digest() -> str:
    """Digest of the engine and the kernel replay (semantics/, Python and C): the engine's
    code decides results as much as the spec, so an edited primitive must miss the cache."""
    import mmsem.semantics

    return _tree_digest(Path(mmsem.semantics.__file__).resolve().parent, ("*.py", "*.c"))


@lru_cache(maxsize=None)
def producer_digest() -> str:
    """Digest of execute.py, which shapes the stored results."""
    return hashlib.sha256((Path(__file__).resolve().parent / "execute.py").read_bytes()).hexdigest()


def key(*parts: str) -> str:
    """The cache key of a result that depends on `parts` (plus format, spec, engine, producer)."""
    material = json.dumps([FORMAT, spec_digest(), engine_digest(), producer_digest(), *parts])
    return hashlib.sha256(material.encode()).hexdigest()


class ResultCache:
    """JSON results, one file per key; a None directory caches nothing."""

    def __init__(self, directory: Path | None):
        self.directory = directory

    def get(self, name: str) -> dict | None:
        if self.directory is None:
            return None
        try:
            return json.loads((self.directory / f"{name}.json").read_text())
        except (OSError, ValueError):
            return None

    def put(self, name: str, value: dict) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(value, out)
        os.replace(tmp, self.directory / f"{name}.json")
