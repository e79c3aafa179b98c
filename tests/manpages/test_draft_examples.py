"""The EXAMPLES of drafted pages: the program compiles cleanly, and what the page says it
prints is what the engine predicts, what the trace expects, and what it prints on the
live kernel.

The page is read back with the project's parser: the first literal block of EXAMPLES
is the shell session, the one under "Program source" the program. The program is
compiled with ``gcc -Wall -Wextra -Werror`` and run (as root here, which the
unprivileged examples shed themselves); its output must equal the page's exactly. The
same is done for every example trace that can be a program, not only the ones the
pages picked, so that the generator is tried on all the shapes the examples have.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mmsem.manpages.draft import Drafter
from mmsem.manpages.example_c import Unsuitable, build, examples_dir, unsuitable
from mmsem.manpages.roff import parse_text
from mmsem.semantics.config import running_profile_name
from mmsem.semantics.engine import Engine
from mmsem.semantics.runner import run_engine
from mmsem.semantics.trace import read_trace
from mmsem.spec import default_spec

SPEC = default_spec()
PAGES = sorted({entry.page for entry in SPEC.syscalls.values() if entry.kind == "syscall" and entry.page})
EXAMPLES = examples_dir()
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml")) if EXAMPLES else []
_FROM_RE = re.compile(r"From the example trace examples/([\w.-]+)\.yaml\.")
_KERNEL_RE = re.compile(r"On Linux (\d+\.\d+), it prints:")


@pytest.fixture(scope="module")
def drafter() -> Drafter:
    return Drafter()


def example_of(text: str, page: str) -> tuple[str, str, list[str], str] | None:
    """(trace name, kernel, output lines, program source) of a drafted page, or None."""
    doc = parse_text(text, page)
    section = doc.section("EXAMPLES")
    if section is None:
        return None
    trace = next(_FROM_RE.search(c.text).group(1) for c in doc.comments if _FROM_RE.search(c.text))
    kernel = next(_KERNEL_RE.search(p.body.text).group(1) for p in section.paragraphs
                  if p.kind == "plain" and _KERNEL_RE.search(p.body.text))
    session = next(p for p in section.paragraphs if p.kind == "literal" and p.subsection == "")
    source = next(p for p in section.paragraphs if p.kind == "literal" and p.subsection == "Program source")
    lines = session.body.text.split("\n")
    assert lines[0] == "$ ./a.out"
    return trace, kernel, lines[1:], source.body.text + "\n"


def require_tools() -> str:
    gcc = shutil.which("gcc")
    problem = None if gcc else "gcc is not installed"
    if problem is None and os.uname().sysname != "Linux":
        problem = "the programs need Linux"
    if problem:
        if os.environ.get("MMSEM_REQUIRE_KERNEL") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    return gcc


def require_kernel(version: str) -> None:
    """The output is what `version` prints; another kernel may legitimately differ."""
    running = running_profile_name()
    if running != version:
        message = f"the page shows Linux {version}'s output; this is Linux {running}"
        if os.environ.get("MMSEM_REQUIRE_KERNEL") == "1":
            pytest.fail(message)
        pytest.skip(message)


def run_program(source: str, directory: Path) -> list[str]:
    gcc = require_tools()
    program = directory / "example.c"
    program.write_text(source)
    built = subprocess.run([gcc, "-Wall", "-Wextra", "-Werror", "-o", str(directory / "example"), str(program)],
                           capture_output=True, text=True)
    assert (built.returncode, built.stderr) == (0, ""), built.stderr
    ran = subprocess.run([str(directory / "example")], capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stderr) == (0, "")
    return ran.stdout.split("\n")[:-1]


def step_lines(output: list[str]) -> list[str]:
    """The lines the program prints for its steps (not the state shown after them)."""
    return [line for line in output if not line.startswith(" ") and line != "at the end:"]


def outcome_text(outcome, pointer: bool) -> str:
    """How the program prints an outcome, derived here from the engine's Outcome."""
    if outcome.signal:
        return f": {outcome.signal}"
    if outcome.errno:
        return f" = {'MAP_FAILED' if pointer else '-1'} ({outcome.errno})"
    return "" if pointer else f" = {outcome.ret}"


@pytest.mark.parametrize("page", PAGES)
def test_example_output_is_the_models(page, drafter):
    """Each step's printed outcome is the engine's, and the one the trace itself expects."""
    text = drafter.page(page)
    found = example_of(text, page)
    calls = drafter.pages[page]
    if found is None:
        names = [name for entry in calls for name in entry.examples]
        assert drafter.skipped[page].keys() == set(names)  # none of the page's examples can run as a program
        return
    name, kernel, output, _source = found
    assert any(name in entry.examples for entry in calls)
    trace = read_trace(EXAMPLES / f"{name}.yaml")
    assert unsuitable(trace, SPEC, kernel) is None
    trace.config = dataclasses.replace(trace.config, kernel=kernel)
    result = run_engine(trace)
    lines = step_lines(output)
    assert len(lines) == len(trace.steps)
    for line, record in zip(lines, result.steps):
        step, outcome = record.step, record.outcome
        pointer = "*" in SPEC.syscalls[step.call].prototype.split("(", 1)[0] if step.call != "touch" else False
        if step.call == "touch":
            assert line.endswith(f": {outcome.signal or 'ok'}"), line
        elif pointer and outcome.ok:
            assert " = MAP_FAILED" not in line and not line.endswith("an unexpected address"), line
        else:
            assert line.endswith(outcome_text(outcome, pointer)), line
        expect = step.expect
        if expect is not None and expect.errno:
            assert line.endswith(f"({expect.errno})"), line
        if expect is not None and expect.signal:
            assert line.endswith(f": {expect.signal}"), line
    vmlck = [line.strip() for line in output if line.strip().startswith("VmLck:")]
    expected = [f"VmLck: {state.vmlck * 4} kB" for state in
                [s.expect_state for s in trace.steps if s.expect_state is not None] + [trace.expect_state]
                if state is not None and state.vmlck is not None]
    assert vmlck == expected


@pytest.mark.parametrize("page", PAGES)
def test_example_runs_as_the_page_says(page, drafter, tmp_path):
    found = example_of(drafter.page(page), page)
    if found is None:
        return  # test_example_output_is_the_models says why there is none
    _name, kernel, output, source = found
    require_kernel(kernel)
    assert run_program(source, tmp_path) == output


def test_pages_have_examples(drafter):
    with_examples = [page for page in PAGES if example_of(drafter.page(page), page)]
    assert {"mlock.2", "mmap.2", "madvise.2", "mprotect.2", "mremap.2"} <= set(with_examples)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(SPEC)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_every_runnable_example_prints_its_prediction(path, engine, tmp_path):
    """Any example trace the generator accepts becomes a program whose output on the live
    kernel is the engine's prediction."""
    trace = read_trace(path)
    profile = "6.18"
    try:
        example = build(trace, SPEC, engine, profile)
    except Unsuitable as exc:
        assert str(exc)  # the reason is what the drafter reports; nothing to run
        return
    assert max(len(line) for line in example.source.split("\n")) <= 80
    require_kernel(profile)
    assert run_program(example.source, tmp_path) == example.output


def test_unsuitable_traces_say_why():
    reasons = {path.stem: unsuitable(read_trace(path), SPEC, "6.18") for path in EXAMPLE_FILES}
    assert reasons["mlockall-twice-replaces"] == "mlockall would lock the program's own memory"
    assert reasons["fork-drops-locks"] == "it has more than one process"
    assert reasons["mlock2-enosys-4.3"] == "it describes Linux 4.3"
    assert reasons["hugetlb-reservations"] == "it needs a huge page pool or another vm.max_map_count"
    assert reasons["munlock-clears-onfault"] is None
