"""``.. mm:lintrules::``: the man-page linter's rules, from its registry.

    .. mm:lintrules::

    .. mm:lintrules:: coverage

Without an argument: a table of every rule (id, name, severity, category, what it
reports), each id linking to the rule's description. With a category: each rule of
that category declared as an ``mm:rule`` object, with its docstring as the text.
The registry (mmsem.manpages.rules) is the one source: ``mmsem lint --list-rules``
prints the same docstrings, and a rule added there appears here at the next build
(``mm_check_coverage`` warns until some page shows its category).

Docstrings are plain text: paragraphs separated by blank lines, ````code```` inline,
and paragraphs starting with ``Bad:`` or ``Good:`` set as they are written.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import ClassVar

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from mmsem.sphinx_ext.blocks import para, table
from mmsem.sphinx_ext.objects import description, xref

logger = logging.getLogger(__name__)

#: ````code```` spans, and command-line options (``--kernel-version``), which are set as code
#: too so that smart quotes do not make their dashes typographic.
_CODE_RE = re.compile(r"``(.+?)``|(?<![\w-])(--?[a-z][a-z0-9-]*)")
_EXAMPLE_PREFIXES = ("Bad:", "Good:")


def registry() -> dict:
    """The registered rules, every rule module loaded (importing the package registers them)."""
    importlib.import_module("mmsem.manpages.checks")
    from mmsem.manpages.rules import RULES

    return RULES


def categories() -> tuple[str, ...]:
    from mmsem.manpages.rules import CATEGORIES

    return CATEGORIES


def inline(text: str) -> list[nodes.Node]:
    """Text with ``code`` spans and option names as literals."""
    out: list[nodes.Node] = []
    pos = 0
    for match in _CODE_RE.finditer(text):
        code = match.group(1) or match.group(2)
        out.append(nodes.Text(text[pos:match.start()]))
        out.append(nodes.literal(code, code))
        pos = match.end()
    out.append(nodes.Text(text[pos:]))
    return [node for node in out if not (isinstance(node, nodes.Text) and not str(node))]


def docstring_nodes(doc: str) -> list[nodes.Node]:
    """A rule's docstring after its first line, as paragraphs and example blocks."""
    out: list[nodes.Node] = []
    for block in re.split(r"\n\s*\n", doc.partition("\n")[2].strip("\n")):
        if not block.strip():
            continue
        if block.lstrip().startswith(_EXAMPLE_PREFIXES):
            out.append(nodes.literal_block(block, block, language="none", classes=["mm-rule-example"]))
        else:
            out.append(para(*inline(" ".join(block.split()))))
    return out


def rule_files(rules) -> list[str]:
    """The modules that define `rules`: a page listing them is rebuilt when one changes."""
    return sorted({inspect.getsourcefile(rule.check) for rule in rules})


class LintRulesDirective(SphinxDirective):
    optional_arguments = 1
    option_spec: ClassVar[dict] = {}

    def run(self) -> list[nodes.Node]:
        rules = sorted(registry().values(), key=lambda r: r.id)
        if not self.arguments:
            return [self.summary(rules)]
        category = self.arguments[0].strip()
        if category not in categories():
            logger.warning("mm:lintrules: no rule category %r (known: %s)", category, ", ".join(categories()),
                           location=self.get_location(), type="mm", subtype="rules")
            return []
        chosen = [rule for rule in rules if rule.category == category]
        for path in rule_files(chosen):
            self.env.note_dependency(path)
        out: list[nodes.Node] = []
        for rule in chosen:
            out += self.describe(rule)
        return out

    def summary(self, rules) -> nodes.table:
        for path in rule_files(rules):
            self.env.note_dependency(path)
        rows = [([xref("rule", rule.id), nodes.literal(rule.name, rule.name), rule.severity, rule.category,
                  [para(*inline(rule.summary))]], {}) for rule in rules]
        return table(["Rule", "Name", "Severity", "Category", "Reports"], rows, [9, 22, 9, 10, 50],
                     classes=["mm-rules"])

    def describe(self, rule) -> list[nodes.Node]:
        _, content, out = description(self, "rule", rule.id, f" {rule.name} ({rule.severity})", rule.summary,
                                      entry=f"{rule.id} {rule.name}")
        content += para(nodes.strong("", "", *inline(rule.summary)))
        content += docstring_nodes(rule.doc)
        return out
