"""Small docutils builders shared by the generated pages: sentences, paragraphs, tables."""

from __future__ import annotations

import re

from docutils import nodes


def sentence(text: str, code_words: frozenset = frozenset()) -> str:
    """A spec fragment ("lock the pages...") as a sentence. A fragment that starts with a
    name from the code ("flags holds...", "mlockall does not...") keeps its case."""
    text = " ".join(str(text).split())
    if not text:
        return text
    first = re.match(r"[\w.()]*", text).group(0)
    if first not in code_words and not any(c in first for c in "_.()"):
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ".)")) else text + "."


def para(*children, classes=()) -> nodes.paragraph:
    return nodes.paragraph("", "", *[nodes.Text(c) if isinstance(c, str) else c for c in children],
                           classes=list(classes))


def table(headers: list[str], rows: list[tuple[list, dict]], widths: list[int], classes=()) -> nodes.table:
    """A table; each row is (cells, row attributes), each cell a list of nodes or a string."""
    tbl = nodes.table(classes=["mm-table", *classes])
    group = nodes.tgroup(cols=len(headers))
    tbl += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head += nodes.row("", *[nodes.entry("", para(h)) for h in headers])
    body = nodes.tbody()
    group += body
    for cells, attributes in rows:
        row = nodes.row(**attributes)
        for cell in cells:
            content = [para(cell)] if isinstance(cell, (str, nodes.Node)) else cell
            row += nodes.entry("", *content)
        body += row
    return tbl
