"""mmsem.sphinx_ext: reference documentation from the spec, with scenarios run at build time.

    extensions = ["mmsem.sphinx_ext"]

Adds the ``mm`` domain (domain.py): ``mm:syscall``, ``mm:flag`` and ``mm:errno``
objects, their roles, and the flag and errno indices; ``mm:autosyscall`` and
``mm:autoerrnos`` (reference.py, errnos.py); ``mm:autokernels``, the kernel profiles
and ``mm:trait`` objects (kernels.py); ``mm:lintrules``, the man-page linter's rules as
``mm:rule`` objects (lintrules.py); ``mm:scenario`` (scenario.py). Configuration:

``mm_default_kernel``   kernel profile for traces that name none (default: the
                        running kernel's; a site should pin it, e.g. "6.18")
``mm_examples_dir``     where the spec's ``examples:`` traces live, relative to the
                        source directory; autosyscall then renders them as scenarios
``mm_scenario_cache``   keep results under <doctreedir>/mmsem-scenarios (default True)
``mm_verify_required``  a ``:verify:`` scenario that cannot be verified is a warning
                        (default False: it is noted in the log and on the page)
``mm_check_coverage``   warn about spec calls, flags and errnos no page describes
``mm_reference_dir``    generate a page per call of the spec in this directory of the
                        sources (pages.py); ``mm_reference_verify`` is their ``:verify:``
"""

from __future__ import annotations

from pathlib import Path

from mmsem.sphinx_ext import coverage, objects, pages, scenario
from mmsem.sphinx_ext.domain import MmDomain, report_duplicates
from mmsem.sphinx_ext.errnos import AutoErrnosDirective
from mmsem.sphinx_ext.kernels import AutoKernelsDirective
from mmsem.sphinx_ext.lintrules import LintRulesDirective
from mmsem.sphinx_ext.reference import AutoSyscallDirective

STATIC = Path(__file__).resolve().parent / "static"


def _add_static(app, config) -> None:
    config.html_static_path.append(str(STATIC))


def setup(app):
    app.add_config_value("mm_default_kernel", "", "env", types=[str])
    app.add_config_value("mm_examples_dir", "", "env", types=[str])
    app.add_config_value("mm_scenario_cache", True, "env", types=[bool])
    app.add_config_value("mm_verify_required", False, "env", types=[bool])
    app.add_config_value("mm_check_coverage", False, "env", types=[bool])
    app.add_config_value("mm_reference_dir", "", "env", types=[str])
    app.add_config_value("mm_reference_verify", "", "env", types=[str])
    app.add_domain(MmDomain)
    app.add_directive_to_domain("mm", "autosyscall", AutoSyscallDirective)
    app.add_directive_to_domain("mm", "autoerrnos", AutoErrnosDirective)
    app.add_directive_to_domain("mm", "scenario", scenario.ScenarioDirective)
    app.add_directive_to_domain("mm", "lintrules", LintRulesDirective)
    app.add_directive_to_domain("mm", "autokernels", AutoKernelsDirective)
    app.add_node(scenario.scenario)
    app.connect("config-inited", _add_static)
    app.connect("builder-inited", pages.generate_reference_pages)
    app.add_css_file("mmsem.css")
    app.connect("doctree-read", scenario.process_scenarios)
    app.connect("env-before-read-docs", scenario.reset_runs)
    app.connect("env-purge-doc", scenario.purge_runs)
    app.connect("env-merge-info", scenario.merge_runs)
    app.connect("env-updated", scenario.report_runs)
    app.connect("env-updated", report_duplicates)
    app.connect("env-check-consistency", coverage.check_coverage)
    app.connect("missing-reference", objects.missing_reference)
    return {
        "version": "0.1",
        "env_version": 2,  # 2: rule and trait objects
        # The domain implements clear_doc and merge_domaindata and reports duplicates only
        # after the merges; scenario records are merged in env-merge-info; the result cache
        # is one atomically written file per key.
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
