"""Shrink a diverging trace to a small one that still diverges the same way.

Works on the trace as data (the dict a generator or a YAML file gives): it tries
removing steps (in chunks, then one by one), removing files and configuration
keys, and simplifying arguments (shorter flag lists, smaller sizes, addresses at
the start of their mapping). Candidates are judged in batches by an oracle that
returns, for each candidate, whether it still diverges; candidates that do not
load are simply not kept.
"""

from __future__ import annotations

import copy
from typing import Callable

Oracle = Callable[[list], list]  # list of trace dicts -> list of bool
MAX_ROUNDS = 60


def _steps_removed(doc: dict) -> list[dict]:
    steps = doc["steps"]
    out = []
    size = len(steps) // 2
    while size >= 1:
        for start in range(0, len(steps), size):
            kept = steps[:start] + steps[start + size:]
            if kept:
                cand = copy.deepcopy(doc)
                cand["steps"] = kept
                out.append(cand)
        size //= 2
    return out


def _keys_removed(doc: dict) -> list[dict]:
    out = []
    for key in ("files", "config"):
        for name in list(doc.get(key) or {}):
            cand = copy.deepcopy(doc)
            del cand[key][name]
            if not cand[key]:
                del cand[key]
            out.append(cand)
    for i, step in enumerate(doc["steps"]):
        for key in ("expect", "expect_state", "note"):
            if key in step:
                cand = copy.deepcopy(doc)
                del cand["steps"][i][key]
                out.append(cand)
    return out


def _simpler_values(value) -> list:
    """Simpler replacements for one argument value."""
    if isinstance(value, list):
        return [value[:i] + value[i + 1:] for i in range(len(value))]
    if isinstance(value, bool):
        return [False] if value else []
    if isinstance(value, int):
        return [v for v in (0, 1, 4096) if v != value and abs(v) < abs(value)]
    if isinstance(value, str):
        if "+" in value or "-" in value[1:]:
            base = value.replace("-", "+").split("+")[0]
            if base and base[0].isalpha():
                return [f"{base}+0p"] if value != f"{base}+0p" else []
        if value.endswith("p") and value[:-1].isdigit() and int(value[:-1]) > 1:
            return ["1p", f"{int(value[:-1]) - 1}p"]
    return []


def _args_simplified(doc: dict) -> list[dict]:
    out = []
    for i, step in enumerate(doc["steps"]):
        call = next((k for k in step if k not in ("as", "proc", "note", "expect", "expect_state")), None)
        args = step.get(call) or {}
        for name, value in args.items():
            cand = copy.deepcopy(doc)
            del cand["steps"][i][call][name]
            out.append(cand)
            for simpler in _simpler_values(value):
                cand = copy.deepcopy(doc)
                cand["steps"][i][call][name] = simpler
                out.append(cand)
    return out


def shrink(doc: dict, oracle: Oracle) -> dict:
    """The smallest trace reachable by greedy simplification that the oracle still accepts."""
    doc = copy.deepcopy(doc)
    for _ in range(MAX_ROUNDS):
        improved = False
        for make in (_steps_removed, _keys_removed, _args_simplified):
            candidates = make(doc)
            if not candidates:
                continue
            verdicts = oracle(candidates)
            for cand, bad in zip(candidates, verdicts):
                if bad:
                    doc, improved = cand, True
                    break
            if improved:
                break
        if not improved:
            return doc
    return doc
