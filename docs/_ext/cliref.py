"""``.. mmsem-command:: NAME``: a subcommand's usage and options, read from mmsem's parser.

NAME is a subcommand (``run``) or a path to a nested one (``kernels fetch``). This
lives with the site, not in mmsem.sphinx_ext: the extension sits below the command
line in the dependency order (DESIGN.md "Layout") and must not import it. The parser
is the one source of truth; this directive only lays it out, and once every document
is read the site is checked to show every subcommand the parser has, so a new one
cannot be left out of the reference (a warning, an error under ``-W``).
"""

from __future__ import annotations

import argparse
import inspect
import sys

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


def command_paths(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, tuple]:
    """"run", "kernels", "kernels fetch", ... -> (parser, one-line help), nested ones too."""
    out = {}
    for name, (sub, summary) in subcommands(parser).items():
        path = f"{prefix}{name}"
        out[path] = (sub, summary)
        out.update(command_paths(sub, path + " "))
    return out


def positional_name(action: argparse.Action) -> str:
    name = action.metavar or action.dest.upper()
    if action.nargs == "?":
        return f"[{name}]"
    if action.nargs == "*":
        return f"[{name} ...]"
    if action.nargs == "+":
        return f"{name} [{name} ...]"
    return name


def option_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    rows = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, (argparse._HelpAction,
                                                                   argparse._SubParsersAction)):
            continue
        if action.option_strings:
            name = ", ".join(action.option_strings)
            if action.nargs != 0:
                metavar = action.metavar or (("{" + ",".join(action.choices) + "}") if action.choices
                                             else action.dest.upper())
                name += f" [{metavar}]" if action.nargs == "?" else f" {metavar}"
        else:
            name = positional_name(action)
        parts = [action.help] if action.help else []
        if action.choices and action.option_strings and action.nargs != 0 and "{" not in name:
            parts.append(f"(one of {', '.join(action.choices)})")
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in (action.help or ""):
            parts.append(f"(default {action.default})")
        text = " ".join(parts)
        rows.append((name, text))
    return rows


def build_parser_module() -> str:
    return "mmsem.cli"


def all_commands() -> dict[str, tuple]:
    """Every subcommand path; the page showing one is rebuilt when the parser's module changes."""
    from mmsem.cli import build_parser

    return command_paths(build_parser())


class CommandDirective(SphinxDirective):
    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        name = " ".join(self.arguments[0].split())
        commands = all_commands()
        if name not in commands:
            logger.warning("mmsem-command: no subcommand %r (known: %s)", name, ", ".join(commands),
                           location=self.get_location())
            return []
        documented(self.env).setdefault(self.env.docname, set()).add(name)
        self.env.note_dependency(inspect.getsourcefile(sys.modules[build_parser_module()]))
        parser, summary = commands[name]
        usage = " ".join(parser.format_usage().split()).removeprefix("usage: ")
        out: list[nodes.Node] = [nodes.paragraph("", summary[:1].upper() + summary[1:] + ".")] if summary else []
        out.append(nodes.literal_block(usage, usage, language="none"))
        rows = option_rows(parser)
        if rows:
            items = nodes.definition_list()
            for option, text in rows:
                term = nodes.term("", "", nodes.literal(option, option))
                items += nodes.definition_list_item("", term, nodes.definition("", nodes.paragraph("", text)))
            out.append(items)
        return out


def documented(env) -> dict[str, set[str]]:
    """docname -> the subcommands it shows, kept in the environment."""
    if not hasattr(env, "mmsem_commands"):
        env.mmsem_commands = {}
    return env.mmsem_commands


def purge(app, env, docname) -> None:
    documented(env).pop(docname, None)


def merge(app, env, docnames, other) -> None:
    for docname in docnames:
        if docname in documented(other):
            documented(env)[docname] = documented(other)[docname]


def check_all_documented(app, env) -> None:
    """Every subcommand of the parser is shown by some page, once a page shows any."""
    shown = set().union(*documented(env).values())
    if not shown:
        return
    for name in all_commands():
        if name not in shown:
            logger.warning("mmsem-command: the subcommand %r is not documented (add .. mmsem-command:: %s)",
                           name, name, type="mmsem", subtype="cli")


def setup(app):
    app.add_directive("mmsem-command", CommandDirective)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    app.connect("env-check-consistency", check_all_documented)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
