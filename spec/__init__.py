"""The YAML specification of the modelled system calls, and its loader.

    from mmsem.spec import default_spec
    spec = default_spec()
    spec.syscalls["mlock2"].program

The YAML files in this package are the single source of truth; the engine, the
man-page tools and the Sphinx extension all read them through :func:`load_spec`.
"""

from functools import lru_cache

from mmsem.spec.loader import PACKAGE_DIR, load_spec
from mmsem.spec.model import Profile, Spec, Syscall, parse_version
from mmsem.spec.source import InputError


@lru_cache(maxsize=None)
def default_spec() -> Spec:
    """The packaged spec, loaded once."""
    return load_spec(PACKAGE_DIR)


__all__ = ["InputError", "PACKAGE_DIR", "Profile", "Spec", "Syscall", "default_spec", "load_spec", "parse_version"]
