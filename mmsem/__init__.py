"""mmsem: a reference semantics for Linux memory mapping and locking system calls.

The package is split by job: ``mmsem.spec`` (the YAML specs and their loader),
``mmsem.semantics`` (the engine, traces and kernel replay), ``mmsem.manpages``
(the man-page tools) and ``mmsem.sphinx_ext``. Dependencies point one way:
spec <- semantics <- manpages <- sphinx_ext <- cli.
"""

__version__ = "0.1.0"
