"""``.. mmsem-command:: NAME``: a subcommand's usage and options, read from mmsem's parser.

This lives with the site, not in mmsem.sphinx_ext: the extension sits below the
command line in the dependency order (DESIGN.md "Layout") and must not import it.
The parser is the one source of truth; this directive only lays it out.
"""

from __future__ import annotations

import argparse

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """name -> (parser, one-line help) for every subcommand."""
    out = {}
    for action in parser._actions:  # argparse offers no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                out[name] = (sub, helps.get(name) or "")
    return out


def option_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    rows = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            name = ", ".join(action.option_strings)
            if action.nargs != 0:
                metavar = action.metavar or (("{" + ",".join(action.choices) + "}") if action.choices
                                             else action.dest.upper())
                name += f" [{metavar}]" if action.nargs == "?" else f" {metavar}"
        else:
            name = action.metavar or action.dest.upper()
            if action.nargs == "?":
                name = f"[{name}]"
        text = action.help or ""
        if action.choices and action.option_strings and action.nargs != 0 and "{" not in name:
            text += f" (one of {', '.join(action.choices)})"
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in text:
            text += f" (default {action.default})"
        rows.append((name, text))
    return rows


class CommandDirective(SphinxDirective):
    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        from mmsem.cli import build_parser

        name = self.arguments[0]
        commands = subcommands(build_parser())
        if name not in commands:
            logger.warning("mmsem-command: no subcommand %r (known: %s)", name, ", ".join(commands),
                           location=self.get_location())
            return []
        parser, summary = commands[name]
        usage = " ".join(parser.format_usage().split()).removeprefix("usage: ")
        out: list[nodes.Node] = [nodes.paragraph("", summary[0].upper() + summary[1:] + ".")]
        out.append(nodes.literal_block(usage, usage, language="none"))
        rows = option_rows(parser)
        if rows:
            items = nodes.definition_list()
            for option, text in rows:
                term = nodes.term("", "", nodes.literal(option, option))
                items += nodes.definition_list_item("", term, nodes.definition("", nodes.paragraph("", text)))
            out.append(items)
        return out


def setup(app):
    app.add_directive("mmsem-command", CommandDirective)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
