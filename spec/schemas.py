"""JSON Schema validation of loaded YAML, with errors at source positions."""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path

import jsonschema
from jsonschema.exceptions import best_match

from mmsem.spec.source import Located, json_pointer

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"

#: For a `oneOf` of object shapes told apart by one key, the key -> the $defs entry,
#: so that an error names the right shape ("unknown key 'whn'") instead of "not valid
#: under any of the given schemas".
DISCRIMINATORS = {
    "check": "check_step",
    "let": "let_step",
    "do": "do_step",
    "return": "return_step",
    "call": "call_step",
}


#: Longest quotation of a value in a message (the value may be megabytes).
MAX_SHOWN = 60


@lru_cache(maxsize=None)
def schema(name: str) -> dict:
    with open(SCHEMA_DIR / f"{name}.schema.json", encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.protocols.Validator:
    document = schema(name)
    cls = jsonschema.validators.validator_for(document)
    cls.check_schema(document)
    return cls(document)


def _narrow(error: jsonschema.ValidationError, document: dict) -> jsonschema.ValidationError:
    """Replace a oneOf failure on a discriminated object by the failure of its own shape."""
    instance = error.instance
    if error.validator != "oneOf" or not isinstance(instance, dict):
        return error
    for key, def_name in DISCRIMINATORS.items():
        if key in instance and def_name in document.get("$defs", {}):
            sub = dict(document["$defs"][def_name])
            sub["$defs"] = document["$defs"]
            cls = jsonschema.validators.validator_for(document)
            inner = best_match(cls(sub).iter_errors(instance))
            if inner is None:
                return error
            inner = _rebase(inner, tuple(error.absolute_path))
            if inner.instance is instance:  # the shape's own oneOf (errno or signal): narrowed enough
                return inner
            return _narrow(inner, document)
    return error


def _rebase(error: jsonschema.ValidationError, prefix: tuple) -> jsonschema.ValidationError:
    """An error from validating a sub-document, with its path made absolute."""
    error.path.extendleft(reversed(prefix))
    return error


def _message(error: jsonschema.ValidationError, document: dict) -> tuple[tuple, str]:
    pointer = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted((k for k in error.instance if k not in allowed), key=str)  # YAML keys may be ints
        if extra and allowed:
            close = difflib.get_close_matches(str(extra[0]), sorted(allowed), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(sorted(allowed))}"
            return pointer + (extra[0],), f"unknown key {extra[0]!r} ({hint})"
    if error.validator == "required":
        return pointer, error.message.replace("is a required property", "is missing")
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        alternatives = [s.get("required") for s in error.validator_value if isinstance(s, dict)]
        if all(r and len(r) == 1 for r in alternatives) and len(alternatives) == len(error.validator_value):
            return pointer, f"needs exactly one of the keys {', '.join(r[0] for r in alternatives)}"
        return pointer, f"not a valid entry: expected one of the keys {', '.join(DISCRIMINATORS)}"
    shown = repr(error.instance)
    if len(shown) > MAX_SHOWN and error.message.startswith(shown):  # jsonschema quotes the whole value
        return pointer, shown[:MAX_SHOWN] + "..." + error.message[len(shown):]
    return pointer, error.message


def check(located: Located, name: str) -> None:
    """Raise InputError at the position of the most relevant schema violation."""
    errors = list(validator(name).iter_errors(located.data))
    if not errors:
        return
    document = schema(name)
    error = _narrow(best_match(errors), document)
    pointer, message = _message(error, document)
    raise located.error(pointer, f"{message} (at {json_pointer(pointer)})")
