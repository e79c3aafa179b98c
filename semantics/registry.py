"""The registry of effect primitives (the operations a spec's ``do:`` steps name).

Each primitive is registered with the errnos it can report; check-spec verifies
that every ``do:`` step names a primitive, passes exactly its parameters, and
declares (under ``raises``) every errno it can report. Modules that define
primitives are imported by effects.py, which is what the rest of the engine uses.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Primitive:
    name: str
    params: tuple[str, ...]
    errnos: frozenset[str]
    impl: Callable
    doc: str


PRIMITIVES: dict[str, Primitive] = {}


def primitive(*errnos: str):
    """Register ``fn(ctx, **params)``, which may report the given errnos."""
    def register(fn):
        params = tuple(inspect.signature(fn).parameters)[1:]
        PRIMITIVES[fn.__name__] = Primitive(fn.__name__, params, frozenset(errnos), fn,
                                            inspect.getdoc(fn) or "")
        return fn
    return register
