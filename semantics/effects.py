"""All effect primitives, registered: import PRIMITIVES from here."""

from mmsem.semantics import advice, forking, heap, primitives, remap
from mmsem.semantics.registry import PRIMITIVES

#: The modules whose import registers primitives.
MODULES = (primitives, advice, remap, forking, heap)

__all__ = ["MODULES", "PRIMITIVES"]
