"""The rendering of a scenario result (execute.py) as docutils nodes.

    [title]  description
    the set-up: kernel profile, privilege, limits, files
    verified on Linux X.Y (when asked for)
    the trace (YAML), the legend
    per step: "2. mlock(addr=B, len=8p) → -1 ENOMEM ✓", then the address space after it

Pictures are inline SVG (svg.py), so HTML output needs no image files; other
builders drop them and keep the text.
"""

from __future__ import annotations

from docutils import nodes

from mmsem.semantics.engine import MAIN
from mmsem.sphinx_ext import svg
from mmsem.sphinx_ext.objects import xref

PAGE = 4096
DEFAULT_MAX_MAP_COUNT = 65530


def _pages(size: int) -> str:
    if size % PAGE == 0:
        count = size // PAGE
        return f"{count} page" + ("" if count == 1 else "s")
    return f"{size} bytes"


def _access(file: dict) -> str:
    """How the trace's descriptor of a file is open, when not for reading and writing."""
    readable, writable = file.get("readable", True), file["writable"]
    if readable and writable:
        return ""
    return ", open read-only" if readable else ", open write-only"  # traces cannot have neither


def setup_text(result: dict) -> str:
    config = result["config"]
    parts = [f"Runs on the model of Linux {result['profile']}"]
    if config["privileged"]:
        parts.append("as a privileged process (CAP_IPC_LOCK)")
    else:
        limit = config["rlimit_memlock"]
        limit_text = "unlimited" if limit is None else _pages(limit)
        parts.append(f"as an unprivileged process (no CAP_IPC_LOCK) with RLIMIT_MEMLOCK {limit_text}")
    text = " ".join(parts)
    extras = [f"file {f['name']}: {_pages(f['size'])}" + (" on hugetlbfs" if f["hugetlb"] else "")
              + _access(f) for f in result["files"]]
    if config["max_map_count"] != DEFAULT_MAX_MAP_COUNT:
        extras.append(f"vm.max_map_count {config['max_map_count']}")
    if config["hugetlb_pages"]:
        extras.append(f"a pool of {config['hugetlb_pages']} huge pages")
    return text + ("; " + "; ".join(extras) if extras else "") + "."


def live_paragraph(live: dict) -> nodes.paragraph:
    status = live["status"]
    if status == "verified":
        text = (f"✔ Verified on Linux {live['version']}: the running kernel ({live['release']}) gave the same "
                "outcome for every step and the same state for every page.")
        return nodes.paragraph("", text, classes=["mm-verified"])
    if status == "disagrees":
        text = f"✘ Linux {live['release']} disagrees with the model: " + "; ".join(t for _, t in live["divergences"])
        return nodes.paragraph("", text, classes=["mm-disagrees"])
    return nodes.paragraph("", f"Not verified on a live kernel in this build: {live['reason']}.",
                           classes=["mm-unverified"])


def call_nodes(step: dict) -> list[nodes.Node]:
    """mmap(len=8p, flags=MAP_SHARED|MAP_LOCKED, ...) as A, with the call and flags linked."""
    out: list[nodes.Node] = []
    if step["proc"] != "main":
        out.append(nodes.Text(f"[{step['proc']}] "))
    out += [xref("syscall", step["call"]), nodes.Text("(")]
    for i, (name, value) in enumerate(step["args"]):
        if i:
            out.append(nodes.Text(", "))
        out.append(nodes.literal(f"{name}=", f"{name}="))
        if isinstance(value, list):
            if not value:
                out.append(nodes.literal("0", "0"))
            for j, flag in enumerate(value):
                if j:
                    out.append(nodes.literal("|", "|"))
                out.append(xref("flag", flag))
        else:
            out.append(nodes.literal(value, value))
    out.append(nodes.Text(")"))
    if step["bind"]:
        out += [nodes.Text(" as "), nodes.literal(step["bind"], step["bind"])]
    return out


def call_text(step: dict) -> str:
    args = ", ".join(f"{name}={'|'.join(value) or '0' if isinstance(value, list) else value}"
                     for name, value in step["args"])
    return f"{step['call']}({args})" + (f" as {step['bind']}" if step["bind"] else "")


def step_node(result: dict, step: dict, uid: str) -> nodes.container:
    box = nodes.container(classes=["mm-step"])
    line = nodes.paragraph(classes=["mm-step-call"])
    line += nodes.strong(f"{step['index']}.", f"{step['index']}.")
    line += nodes.Text(" ")
    line += call_nodes(step)
    line += nodes.Text(" → ")
    line += nodes.literal(step["outcome"], step["outcome"], classes=["mm-outcome"])
    if step["met"] is True:
        line += nodes.inline(" ✓ as expected", " ✓ as expected", classes=["mm-met"])
    elif step["met"] is False:
        text = f" ✗ expected {step['expect']}"
        line += nodes.inline(text, text, classes=["mm-unmet"])
    if step["also"]:
        text = f" (the kernel may also return {', '.join(step['also'])} under memory pressure)"
        line += nodes.inline(text, text, classes=["mm-small"])
    box += line
    if step["note"]:
        box += nodes.paragraph("", step["note"], classes=["mm-step-note"])
    # The picture shows the process that made the step: the child's, after a child's step.
    whose = "" if step["proc"] == MAIN else f" of {step['proc']}"
    title = (f"Address space{whose} after step {step['index']}, {call_text(step)}; "
             f"VmLck {step['vmlck']} pages")
    picture = svg.address_space(f"{uid}-s{step['index']}", result["rows"], step["pages"], title)
    box += nodes.raw("", picture, format="html")
    text = f"VmLck {_pages(step['vmlck'] * PAGE)}." if not whose else \
        f"The address space of {step['proc']}; its VmLck {_pages(step['vmlck'] * PAGE)}."
    box += nodes.paragraph("", text, classes=["mm-vmlck"])
    return box


def huge_rows(result: dict) -> list[str]:
    """Names whose row counts huge pages (labels "H+0h")."""
    return [name for name, labels in result["rows"] if labels and labels[0].endswith("h")]


def render(result: dict, live: dict | None, uid: str, title: str, trace_text: str | None,
           where) -> nodes.container:
    """The scenario; `where(line)` names the file and line of a line of the trace."""
    box = nodes.container(classes=["mm-scenario"], ids=[uid])
    heading = nodes.paragraph(classes=["mm-scenario-title"])
    heading += nodes.strong(title or result["name"], title or result["name"])
    box += heading
    if result["description"]:
        box += nodes.paragraph("", result["description"])
    box += nodes.paragraph("", setup_text(result), classes=["mm-setup"])
    huge = huge_rows(result)
    if huge:
        names = ", ".join(huge)
        box += nodes.paragraph("", f"In the pictures a cell of {names} is a huge page (2 MiB, 512 pages).",
                               classes=["mm-setup"])
    procs = sorted({step["proc"] for step in result["steps"]} - {MAIN})
    if procs:
        box += nodes.paragraph("", "Steps marked [" + "], [".join(procs) + "] run in the forked process of "
                               "that name; the picture after such a step shows its address space.",
                               classes=["mm-setup"])
    if live is not None:
        box += live_paragraph(live)
    if trace_text is not None:  # folded in HTML; other builders drop the raw tags and keep the block
        box += nodes.raw("", '<details class="mm-trace"><summary>The trace (run it with '
                             '<code>mmsem run FILE</code>)</summary>', format="html")
        box += nodes.literal_block(trace_text, trace_text, language="yaml", classes=["mm-trace"])
        box += nodes.raw("", "</details>", format="html")
    box += nodes.raw("", svg.legend(f"{uid}-legend"), format="html")
    for step in result["steps"]:
        box += step_node(result, step, uid)
    if result["mismatches"]:
        problems = nodes.error()
        items = nodes.bullet_list()
        for line, message in result["mismatches"]:
            items += nodes.list_item("", nodes.paragraph("", f"{where(line)}: {message}"))
        problems += nodes.paragraph("", "Expectations of this scenario that the model does not meet:")
        problems += items
        box += problems
    return box
