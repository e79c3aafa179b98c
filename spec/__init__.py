"""The YAML specification of the modelled system calls, and its loader.

    from mmsem.spec import default_spec
    spec = default_spec()
    spec.syscalls["mlock2"].program

The YAML files in this package are the single source of truth; the engine, the
man-page tools and the Sphinx extension all read them through :func:`load_spec`.

The loader (with jsonschema and the YAML parser) is imported on first use of a name
that needs it: ``mmsem lint`` reads the spec from a pickle cache and would otherwise
pay a tenth of a second for modules it never calls.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

#: Names this package exports, and the submodule each one lives in.
_LAZY = {
    "load_spec": "loader",
    "Profile": "model", "Spec": "model", "Syscall": "model", "parse_version": "model",
    "InputError": "source",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups do not come back here
    return value


_PACKAGED: list = []  # the packaged spec, once loaded or adopted


def default_spec():
    """The packaged spec, loaded once."""
    if not _PACKAGED:
        from mmsem.spec.loader import load_spec

        _PACKAGED.append(load_spec(PACKAGE_DIR))
    return _PACKAGED[0]


def adopt_packaged_spec(spec) -> None:
    """Take `spec`, read from a cache of the packaged spec (``mmsem lint`` keeps one, keyed
    by the spec's files and the loader's code), as what :func:`default_spec` returns: the
    engine modules a lint run imports for its witnesses then do not load the YAML again."""
    if not _PACKAGED:
        _PACKAGED.append(spec)


__all__ = ["InputError", "PACKAGE_DIR", "Profile", "Spec", "Syscall", "adopt_packaged_spec", "default_spec", "load_spec",
           "parse_version"]
