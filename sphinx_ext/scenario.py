"""``.. mm:scenario::``: a trace that runs when the documentation is built.

    .. mm:scenario:: MAP_LOCKED does not report a failed fault-in
       :verify: live

       files:
         F: {size: 2p}
       steps:
         - mmap: {len: 8p, prot: [PROT_READ], flags: [MAP_SHARED, MAP_LOCKED], fd: F}
           as: A
           expect: {ret: A}

The content is a trace (DESIGN.md "Traces"); ``:file:`` reads it from a file instead
(relative to the document). The directive only records the trace on a placeholder
node; the ``doctree-read`` handler runs it (execute.py), through the cache
(cache.py), reports every expectation the engine does not meet as a warning at the
line of the document (or trace file) that states it, and replaces the placeholder
with the rendering (view.py). With ``:verify: live`` the trace also runs on the live
kernel when the build runs as root on the kernel the trace describes; the page then
says "verified on Linux X.Y", and a disagreement is a warning as well.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from mmsem.spec import PACKAGE_DIR, InputError
from mmsem.sphinx_ext import cache, execute, view

logger = logging.getLogger(__name__)

VERIFY_TARGETS = ("live",)
CACHE_SUBDIR = "mmsem-scenarios"


class scenario(nodes.General, nodes.Element):  # noqa: N801 (docutils names nodes in lower case)
    """Placeholder for a trace to run; replaced when the doctree is read."""


def spec_data_files() -> list[str]:
    """Every file of the packaged spec: a scenario's result depends on all of them."""
    root = Path(PACKAGE_DIR)
    return sorted(str(p) for pattern in ("*.yaml", "*.json") for p in root.rglob(pattern))


def scenario_placeholder(directive: SphinxDirective, text: str, source: str, first_line: int,
                         title: str, verify: str, show_trace: bool = True) -> scenario:
    """Record a trace whose line 1 is line `first_line` of file `source`."""
    node = scenario()
    node["text"] = text
    node["trace_source"] = os.path.abspath(source)
    node["first_line"] = first_line
    node["title"] = title
    node["verify"] = verify
    node["show_trace"] = show_trace
    node["serial"] = directive.env.new_serialno("mm-scenario")
    directive.set_source_info(node)
    for path in spec_data_files():
        directive.env.note_dependency(path)
    return node


def verify_option(argument: str) -> str:
    return directives.choice(argument, VERIFY_TARGETS)


class ScenarioDirective(SphinxDirective):
    optional_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec: ClassVar[dict] = {
        "file": directives.path,
        "verify": verify_option,
        "hide-trace": directives.flag,
    }

    def run(self) -> list[nodes.Node]:
        title = self.arguments[0] if self.arguments else ""
        if "file" in self.options:
            relative, path = self.env.relfn2path(self.options["file"], self.env.docname)
            self.env.note_dependency(relative)
            try:
                text = Path(path).read_text()
            except OSError as exc:
                logger.warning("mm:scenario: cannot read %s: %s", path, exc.strerror,
                               location=self.get_location(), type="mm", subtype="scenario")
                return []
            source, first_line = path, 1
        elif self.content:
            text = "\n".join(self.content)
            source, line = self.state_machine.get_source_and_line(self.content_offset + 1)
            first_line = line
        else:
            logger.warning("mm:scenario: needs a trace as its content or :file:",
                           location=self.get_location(), type="mm", subtype="scenario")
            return []
        return [scenario_placeholder(self, text, source, first_line, title, self.options.get("verify", ""),
                                     "hide-trace" not in self.options)]


# -- running, at doctree-read -------------------------------------------------------------------

class Runner:
    """Runs the scenarios of one document through the cache and reports their problems."""

    def __init__(self, app):
        self.app = app
        self.config = app.config
        directory = Path(app.doctreedir) / CACHE_SUBDIR if app.config.mm_scenario_cache else None
        self.cache = cache.ResultCache(directory)

    def location(self, node: scenario, trace_line: int) -> str:
        return f"{node['trace_source']}:{node['first_line'] + trace_line - 1}"

    def short_location(self, node: scenario, trace_line: int) -> str:
        """file:line of a trace line, for the page (the log has the full path)."""
        return f"{os.path.basename(node['trace_source'])}:{node['first_line'] + trace_line - 1}"

    def warn(self, node: scenario, trace_line: int, message: str, *args) -> None:
        logger.warning(message, *args, location=self.location(node, trace_line), type="mm", subtype="scenario")

    def engine(self, node: scenario, default_kernel: str | None) -> tuple[dict | None, str, str]:
        """(result or None on bad input, engine cache key, "run" | "cache")."""
        key = cache.key("engine", node["text"], execute.profile_hint(default_kernel))
        stored = self.cache.get(key)
        if stored is not None:
            return stored, key, "cache"
        try:
            trace = execute.load(node["text"], node["trace_source"], default_kernel)
        except InputError as exc:
            self.warn(node, exc.line, "mm:scenario: %s", exc.message)
            return None, key, "run"
        result = execute.on_engine(trace)
        self.cache.put(key, result)
        return result, key, "run"

    def live(self, found: list[scenario], engine: list[tuple], default_kernel: str | None) -> list[tuple]:
        """(verdict or None, "run" | "cache" | None) per scenario; those not cached run in one batch."""
        out: list[tuple] = [(None, None)] * len(found)
        release = os.uname().release
        pending = []  # (index, trace, cache key)
        for i, (node, (result, key, _)) in enumerate(zip(found, engine)):
            if result is None or not node["verify"]:
                continue
            live_key = cache.key("live", key, release)
            stored = self.cache.get(live_key)
            if stored is not None:
                out[i] = (stored, "cache")
            else:
                pending.append((i, execute.load(node["text"], node["trace_source"], default_kernel), live_key))
        verdicts = execute.on_live_kernel([trace for _, trace, _ in pending]) if pending else []
        for (i, _, live_key), verdict in zip(pending, verdicts):
            if verdict["status"] in ("verified", "disagrees"):  # what this kernel says stays true
                self.cache.put(live_key, verdict)
            out[i] = (verdict, "run")
        return out

    def run(self, found: list[scenario]) -> list[dict]:
        """Run and render the scenarios of a document; one record per scenario for the build log."""
        default_kernel = self.config.mm_default_kernel or None
        engine = [self.engine(node, default_kernel) for node in found]
        live = self.live(found, engine, default_kernel)
        for node, (result, key, _), (verdict, _) in zip(found, engine, live):
            self.finish(node, result, key, verdict)
        return [{"engine": e[2], "live": v[1]} for e, v in zip(engine, live)]

    def finish(self, node: scenario, result: dict | None, key: str, live: dict | None) -> None:
        """Report what did not hold, and put the rendering in the placeholder's place."""
        if result is None:
            node.replace_self(nodes.paragraph("", "This scenario has an error in its trace; see the build log.",
                                              classes=["mm-scenario-error"]))
            return
        name = node["title"] or result["name"]
        for line, message in result["mismatches"]:
            self.warn(node, line, "scenario %s: expectation not met: %s", name, message)
        if live is not None:
            self.report_live(node, name, live)
        uid = f"mm-{key[:8]}-{node['serial']}"
        trace_text = node["text"] if node["show_trace"] else None
        where = partial(self.short_location, node)
        node.replace_self(view.render(result, live, uid, node["title"], trace_text, where))

    def report_live(self, node: scenario, name: str, live: dict) -> None:
        status = live["status"]
        if status == "disagrees":
            for line, divergence in live["divergences"]:
                self.warn(node, line, "scenario %s: Linux %s disagrees with the model: %s",
                          name, live["release"], divergence)
            for line, message in live["problems"]:
                self.warn(node, line, "scenario %s: on Linux %s, expectation not met: %s",
                          name, live["release"], message)
        elif status == "unreplayable":
            self.warn(node, 1, "scenario %s: cannot run on the live kernel: %s", name, live["reason"])
        elif status in ("unavailable", "other-kernel"):
            # A machine that cannot replay (not root, no compiler) fails a build that requires
            # replay; a machine running another kernel version has nothing to compare with.
            if status == "unavailable" and self.config.mm_verify_required:
                self.warn(node, 1, "scenario %s: not verified on the live kernel: %s", name, live["reason"])
            else:
                logger.info("scenario %s: not verified on the live kernel: %s", name, live["reason"],
                            location=self.location(node, 1))


def process_scenarios(app, doctree: nodes.document) -> None:
    """``doctree-read``: run every scenario of the document."""
    found = list(doctree.findall(scenario))
    if not found:
        return
    records = Runner(app).run(found)
    runs = getattr(app.env, "mm_scenario_runs", {})
    runs[app.env.docname] = records
    app.env.mm_scenario_runs = runs


# -- build statistics: which results came from the cache ------------------------------------

def reset_runs(app, env, docnames) -> None:
    """``env-before-read-docs``: count only this build's reads."""
    env.mm_scenario_runs = {}


def purge_runs(app, env, docname: str) -> None:
    getattr(env, "mm_scenario_runs", {}).pop(docname, None)


def merge_runs(app, env, docnames, other) -> None:
    """``env-merge-info``: take a parallel reader's records."""
    mine = getattr(env, "mm_scenario_runs", {})
    for docname, records in getattr(other, "mm_scenario_runs", {}).items():
        if docname in docnames:
            mine[docname] = records
    env.mm_scenario_runs = mine


def report_runs(app, env) -> list:
    """``env-updated``: one line saying how many results were computed and how many reused."""
    records = [r for records in getattr(env, "mm_scenario_runs", {}).values() for r in records]
    if records:
        run = sum(r["engine"] == "run" for r in records)
        live_run = sum(r["live"] == "run" for r in records)
        live_cached = sum(r["live"] == "cache" for r in records)
        logger.info("mm: %d scenario(s) read: engine %d run, %d from the cache; live kernel %d run, "
                    "%d from the cache", len(records), run, len(records) - run, live_run, live_cached)
    return []
