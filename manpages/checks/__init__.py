"""The lint rules, one module per family (structure, coverage, synopsis, claims, ...).

Importing this package imports every module in it, so a rule module dropped here
registers its rules (manpages.rules.rule) without being listed anywhere. Modules whose
name starts with an underscore are helpers and hold no rules.
"""

from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
