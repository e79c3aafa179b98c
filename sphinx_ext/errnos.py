"""``.. mm:autoerrnos::``: every errno a modelled call can fail with, declared once.

Each errno gets its generic meaning (spec/errnos.yaml) and links to the calls that
return it, those the model leaves it out of (``unmodelled_errors``) apart; which
errors a call has, and when, is on the call's own page.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

from mmsem.spec import default_spec
from mmsem.sphinx_ext import specquery
from mmsem.sphinx_ext.blocks import para, sentence
from mmsem.sphinx_ext.objects import declare, index_entry, xref


class AutoErrnosDirective(SphinxDirective):
    """Declare every errno a modelled call can fail with."""

    def run(self) -> list[nodes.Node]:
        spec = default_spec()
        users: dict[str, list[tuple[str, bool]]] = {}  # errno -> [(call, modelled)]
        for name in sorted(spec.syscalls):
            entry = spec.syscalls[name]
            self.env.note_dependency(entry.origin.path)
            for code, modelled in specquery.reference_errnos(spec, entry):
                users.setdefault(code, []).append((name, modelled))
        self.env.note_dependency(str(Path(spec.directory) / "errnos.yaml"))
        out: list[nodes.Node] = []
        for code in sorted(users):
            desc = addnodes.desc(domain="mm", objtype="errno", desctype="errno", classes=["mm", "errno"])
            sig = addnodes.desc_signature("", "")
            sig += addnodes.desc_name(code, code)
            if code in spec.constants:
                value = f" ({spec.constants[code]})"
                sig += addnodes.desc_annotation(value, value)
            desc += sig
            meaning = spec.errnos.get(code, "")
            node_id = declare(self.env, self.state.document, "errno", code, sig, self.lineno, meaning)
            out.append(index_entry("errno", code, node_id))
            content = addnodes.desc_content()
            if meaning:
                content += para(sentence(meaning))
            modelled = [name for name, m in users[code] if m]
            unmodelled = [name for name, m in users[code] if not m]
            if modelled:
                content += para("Returned by ", *self.calls(modelled), ".")
            if unmodelled:
                content += para("Also returned by " if modelled else "Returned by ", *self.calls(unmodelled),
                                " in cases the model leaves out (no trace produces it there).",
                                classes=["mm-not-modelled"])
            desc += content
            out.append(desc)
        return out

    @staticmethod
    def calls(names: list[str]) -> list:
        refs: list = []
        for i, name in enumerate(names):
            refs += ([", "] if i else []) + [xref("syscall", name)]
        return refs
