"""The mmsem documentation, built with mmsem.sphinx_ext.

    sphinx-build -W -n docs docs/_build/html
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ext"))

project = "mmsem"
author = "the mmsem authors"
copyright = "the mmsem authors"
extensions = ["mmsem.sphinx_ext", "cliref"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {
    "description": "Linux memory mapping and locking, specified and checked",
    "page_width": "1100px",
    "sidebar_width": "230px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}

# Scenarios and the spec's examples describe the kernel the project checks against;
# pinning it keeps the pages the same whatever kernel builds them.
mm_default_kernel = "6.18"
mm_examples_dir = "../examples"
# One reference page per call of the spec, generated into reference/calls/.
mm_reference_dir = "reference/calls"
mm_reference_verify = "live"
# Every call, flag and errno of the spec must be described somewhere on this site.
mm_check_coverage = True
# Where kernel replay is required (CI), a scenario that asks to be verified and cannot
# be is an error rather than a note.
mm_verify_required = os.environ.get("MMSEM_REQUIRE_KERNEL") == "1"
