"""The wheel holds every module and data file of the source tree.

The README's first command installs mmsem with `pip install .` (not editable), so a
subpackage or data file missing from pyproject.toml would break the installed
command while every test of the editable install passes.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = {".py", ".yaml", ".json", ".c", ".css"}


def source_files() -> set[str]:
    """Files of the source tree as the wheel must name them (mmsem/<package path>/<file>)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    out = set()
    for package, folder in config["package-dir"].items():
        base = ROOT / folder
        for path in base.rglob("*"):
            if path.is_file() and path.suffix in SHIPPED and "__pycache__" not in path.parts:
                out.add("/".join(package.split(".") + list(path.relative_to(base).parts)))
    return out


def test_wheel_holds_the_whole_tree(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("mmsem-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(source_files() - names)
    assert missing == []
