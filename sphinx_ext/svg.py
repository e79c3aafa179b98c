"""Pictures of a trace's address space: one cell per page, as inline SVG.

A cell's fill says whether the page is mapped and how it is locked; locked-on-fault
cells are also hatched, and resident pages carry a dot, so the picture does not rely
on colour alone. Every picture is an ``img`` with a title and a description that
states the same facts in words, and every cell has a title (a tooltip) with its page
label, protection and state.

Pages arrive as execute.py stores them: ``label -> [prot, shared, locked, onfault,
resident]``, absent when the page is not mapped.
"""

from __future__ import annotations

from html import escape

CELL = 14  # px
GAP = 3
PER_LINE = 32  # cells per line before a row wraps
FONT = 'font-family="ui-monospace, monospace" font-size="12"'
CHAR_WIDTH = 7.5  # px per character of FONT, for sizing labels

#: Cell styles: (fill, stroke, dash).
STYLES = {
    "unmapped": ("#ffffff", "#9ca3af", "2 2"),
    "mapped": ("#d1d5db", "#4b5563", ""),
    "locked": ("#2563eb", "#1e3a8a", ""),
    "onfault": ("#fbbf24", "#92400e", ""),
}
#: Legend entries: (style, resident, short label, full meaning).
LEGEND = (
    ("unmapped", False, "not mapped", "no mapping covers the page"),
    ("mapped", False, "mapped", "mapped, not locked"),
    ("locked", False, "locked", "locked (VM_LOCKED): faulted in and kept in memory"),
    ("onfault", False, "locked on fault", "locked on fault (VM_LOCKED and VM_LOCKONFAULT): locked once accessed"),
    ("mapped", True, "resident", "a dot: the page is resident (present in memory)"),
)


def style_of(page) -> str:
    if page is None:
        return "unmapped"
    _prot, _shared, locked, onfault, _resident = page
    if locked and onfault:
        return "onfault"
    return "locked" if locked else "mapped"


def words(page) -> str:
    """The state of a page in words, without its protection (for run summaries)."""
    if page is None:
        return "not mapped"
    _prot, _shared, locked, onfault, resident = page
    lock = "locked on fault" if locked and onfault else "locked" if locked else "not locked"
    return f"{lock}, {'resident' if resident else 'not resident'}"


def page_title(label: str, page) -> str:
    if page is None:
        return f"{label}: not mapped"
    prot, shared, *_ = page
    return f"{label}: {prot} {'shared' if shared else 'private'}, {words(page)}"


def summary(rows: list, pages: dict) -> str:
    """Runs of pages in the same state: "A+0p..A+1p locked, resident; B+0p..B+7p not mapped"."""
    parts = []
    for _name, labels in rows:
        run_start = run_end = None
        run_words = None
        for label in labels + [None]:
            state = words(pages.get(label)) if label is not None else None
            if state != run_words and run_start is not None:
                span = run_start if run_start == run_end else f"{run_start}..{run_end}"
                parts.append(f"{span} {run_words}")
                run_start = None
            if label is not None:
                if run_start is None:
                    run_start, run_words = label, state
                run_end = label
    return "; ".join(parts) if parts else "nothing mapped"


def _cell(uid: str, x: float, y: float, style: str, resident: bool, title: str) -> str:
    fill, stroke, dash = STYLES[style]
    out = [f"<g><title>{escape(title)}</title>"]
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    out.append(f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" rx="2" fill="{fill}" '
               f'stroke="{stroke}"{dash_attr}/>')
    if style == "onfault":
        out.append(f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" rx="2" fill="url(#{uid}-hatch)"/>')
    if resident:
        c = CELL / 2
        out.append(f'<circle cx="{x + c}" cy="{y + c}" r="3.5" fill="#111827" stroke="#ffffff" stroke-width="1.2"/>')
    out.append("</g>")
    return "".join(out)


def _defs(uid: str) -> str:
    fill, stroke, _ = STYLES["onfault"]
    return (f'<defs><pattern id="{uid}-hatch" width="5" height="5" patternUnits="userSpaceOnUse" '
            f'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="5" stroke="{stroke}" '
            f'stroke-width="1.6"/></pattern></defs>')


def _open(uid: str, width: float, height: float, title: str, desc: str, classes: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="{classes}" role="img" '
            f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'aria-labelledby="{uid}-title {uid}-desc">'
            f'<title id="{uid}-title">{escape(title)}</title><desc id="{uid}-desc">{escape(desc)}</desc>')


def address_space(uid: str, rows: list, pages: dict, title: str) -> str:
    """The picture of one state: a row of cells per mapping name, wrapped every PER_LINE cells."""
    desc = summary(rows, pages)
    if not rows:
        width, height = 160, 24
        return (_open(uid, width, height, title, desc, "mm-space")
                + f'<text x="4" y="16" {FONT} fill="#374151">nothing mapped</text></svg>')
    label_width = max(len(name) for name, _ in rows) * CHAR_WIDTH + 10
    widest = max(min(len(labels), PER_LINE) for _, labels in rows)
    width = label_width + widest * (CELL + GAP) + 2
    body = []
    y = 2.0
    for name, labels in rows:
        body.append(f'<text x="2" y="{y + CELL - 3}" {FONT} fill="#111827">{escape(name)}</text>')
        for i, label in enumerate(labels):
            line, column = divmod(i, PER_LINE)
            x = label_width + column * (CELL + GAP)
            page = pages.get(label)
            resident = bool(page and page[4])
            body.append(_cell(uid, x, y + line * (CELL + GAP), style_of(page), resident, page_title(label, page)))
        lines = (len(labels) + PER_LINE - 1) // PER_LINE
        y += lines * (CELL + GAP) + 4
    height = y
    return _open(uid, width, height, title, desc, "mm-space") + _defs(uid) + "".join(body) + "</svg>"


def legend(uid: str) -> str:
    """The key to the pictures, with each entry's full meaning as its title."""
    x, parts = 2.0, []
    for style, resident, label, meaning in LEGEND:
        parts.append(_cell(uid, x, 3, style, resident, meaning))
        parts.append(f'<text x="{x + CELL + 5}" y="{3 + CELL - 3}" {FONT} fill="#111827">{escape(label)}</text>')
        x += CELL + 5 + len(label) * CHAR_WIDTH + 16
    desc = "; ".join(f"{label}: {meaning}" for _, _, label, meaning in LEGEND)
    return (_open(uid, x, CELL + 8, "Legend of the address-space pictures", desc, "mm-legend")
            + _defs(uid) + "".join(parts) + "</svg>")
