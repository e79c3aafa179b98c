"""``mm_check_coverage``: every call, flag and errno of the spec (and every lint rule, on a
site that documents the linter) is described somewhere.

Generated links fall back to plain text when their target is missing (objects.xref),
so a site could silently lose a page; this check, run once all documents are read,
names each missing description instead.
"""

from __future__ import annotations

from sphinx.util import logging

from mmsem.spec import default_spec
from mmsem.sphinx_ext import lintrules, specquery

logger = logging.getLogger(__name__)


def missing(spec, objects) -> list[str]:
    """Messages for every call, flag and errno of the spec that `objects` lacks."""
    out = []
    for name in sorted(spec.syscalls):
        entry = spec.syscalls[name]
        if ("syscall", name) not in objects:
            out.append(f"the spec's {entry.kind} {name} is not described (add .. mm:autosyscall:: {name})")
        for _arg, flagset in specquery.flagsets_of(spec, entry):
            for flag in spec.flagsets[flagset].flags:
                if ("flag", flag.name) not in objects:
                    home = specquery.flagset_home(spec, flagset)
                    out.append(f"flag {flag.name} is not described (its home is the page of {home})")
        for code, _modelled in specquery.reference_errnos(spec, entry):
            if ("errno", code) not in objects:
                out.append(f"errno {code} of {name} is not described (add .. mm:autoerrnos::)")
    return list(dict.fromkeys(out))


def missing_rules(rules, objects) -> list[str]:
    """Messages for the lint rules `objects` lacks, once a site describes any rule (a site
    about the calls alone need not document the linter)."""
    if not any(objtype == "rule" for objtype, _ in objects):
        return []
    return [f"lint rule {rule.id} ({rule.name}) is not described (add .. mm:lintrules:: {rule.category})"
            for rule in sorted(rules, key=lambda r: r.id) if ("rule", rule.id) not in objects]


def check_coverage(app, env) -> None:
    """``env-check-consistency``."""
    if not app.config.mm_check_coverage:
        return
    objects = env.get_domain("mm").objects
    for message in missing(default_spec(), objects) + missing_rules(lintrules.registry().values(), objects):
        logger.warning("mm: %s", message, type="mm", subtype="coverage")
