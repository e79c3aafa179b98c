"""Load a spec directory into a :class:`~mmsem.spec.model.Spec`.

Loading validates every file against its JSON Schema, then the cross-file facts a
schema cannot see: flag and constant names resolve, values are unique within a flag
set, errno names are known, versions parse. Errors are :class:`InputError` at the
offending YAML position. With ``errors=[...]`` loading records every error and
carries on where it can (``mmsem check-spec``); otherwise the first one is raised.
"""

from __future__ import annotations

from pathlib import Path

from mmsem.spec import schemas, source
from mmsem.spec.model import (
    Arg,
    DeclaredDivergence,
    Flag,
    FlagSet,
    Origin,
    Profile,
    Raise,
    Reject,
    Source,
    Spec,
    Step,
    Syscall,
    Trait,
    UnmodelledError,
    make_profile,
    parse_version,
)
from mmsem.spec.source import ErrorSink, InputError, Located

PACKAGE_DIR = Path(__file__).resolve().parent


def _origin(located: Located, pointer: tuple) -> Origin:
    line, col = located.where(pointer)
    return Origin(located.path, line, col)


def _load_checked(path: Path, schema: str, errors: ErrorSink) -> Located | None:
    try:
        located = source.load(path)
        if located.data is None:
            raise located.error((), "empty document")
        schemas.check(located, schema)
        return located
    except InputError as exc:
        errors.add(exc)
        return None


def _version(text) -> tuple[int, ...] | None:
    return parse_version(text) if text is not None else None


def _constants(spec_dir: Path, errors: ErrorSink) -> tuple[dict, dict, dict]:
    values: dict[str, int] = {}
    sources: dict[str, str] = {}
    origins: dict[str, Origin] = {}
    for name in ("constants.yaml", "declared_constants.yaml"):
        located = _load_checked(spec_dir / name, "constants", errors)
        if located is None:
            continue
        for key, value in located.data["values"].items():
            if key in values:
                errors.add(located.error(("values", key), f"constant {key} is defined twice"))
                continue
            if isinstance(value, dict):
                values[key] = value["value"]
                sources[key] = value["source"]
            else:
                values[key] = value
            origins[key] = _origin(located, ("values", key))
    return values, sources, origins


def _flagset(located: Located, constants: dict, errnos: dict, errors: ErrorSink) -> FlagSet:
    data = located.data
    fields = {}
    for i, entry in enumerate(data.get("fields", [])):
        if entry["name"] not in constants:
            errors.add(located.error(("fields", i, "name"), f"unknown constant {entry['name']}"))
            continue
        fields[entry["name"]] = constants[entry["name"]]
    flags = []
    seen_bits: dict[int, str] = {}
    seen_field_values: dict[tuple, str] = {}
    for i, entry in enumerate(data["flags"]):
        name = entry["name"]
        pointer = ("flags", i)
        if name not in constants:
            errors.add(located.error(pointer + ("name",), f"no value for flag {name}: not in the headers nor declared"))
            continue
        value = constants[name]
        field_name = entry.get("field")
        if field_name is not None:
            if field_name not in fields:
                errors.add(located.error(pointer + ("field",), f"unknown field {field_name}"))
                continue
            if value & ~fields[field_name]:
                errors.add(located.error(pointer + ("name",), f"{name} ({value:#x}) lies outside field {field_name}"))
            key = (field_name, value)
            if key in seen_field_values:
                errors.add(located.error(pointer + ("name",), f"{name} has the same value as {seen_field_values[key]}"))
            seen_field_values[key] = name
        else:
            for mask in fields.values():
                if value & mask:
                    errors.add(located.error(pointer + ("name",), f"{name} ({value:#x}) overlaps a multi-bit field"))
            if value in seen_bits and value != 0:
                errors.add(located.error(pointer + ("name",), f"{name} has the same value as {seen_bits[value]}"))
            seen_bits[value] = name
        rejects = []
        for j, entry_reject in enumerate(entry.get("rejects", [])):
            if entry_reject["errno"] not in errnos:
                errors.add(located.error(pointer + ("rejects", j, "errno"), f"unknown errno {entry_reject['errno']}"))
            rejects.append(Reject(entry_reject["errno"], entry_reject["when"], entry_reject["text"],
                                  entry_reject.get("cite", ""), _origin(located, pointer + ("rejects", j)),
                                  _version(entry_reject.get("since"))))
        for key in ("set", "clear"):
            for j, flag_name in enumerate(entry.get(key, [])):
                if flag_name not in constants:
                    errors.add(located.error(pointer + (key, j), f"unknown constant {flag_name}"))
        flags.append(
            Flag(
                name=name,
                value=value,
                brief=entry["brief"],
                text=entry.get("text", ""),
                since=_version(entry.get("since")),
                since_cite=entry.get("since_cite", ""),
                before_since=entry.get("before_since", "einval"),
                field=field_name,
                cite=entry.get("cite", ""),
                undocumented=entry.get("undocumented", False),
                origin=_origin(located, pointer),
                action=entry.get("action"),
                # unknown names were reported above; keep them out of the rules built from these
                set_flags=tuple(n for n in entry.get("set", ()) if n in constants),
                clear_flags=tuple(n for n in entry.get("clear", ()) if n in constants),
                skip_when=entry.get("skip_when"),
                rejects=tuple(rejects),
                model_note=entry.get("model_note", ""),
            )
        )
    return FlagSet(data["name"], data["summary"], tuple(flags), fields, _origin(located, ()),
                   data.get("values", False))


def _expression_positions(located: Located, pointer: tuple, item: dict) -> dict:
    """Where each expression of a program step starts, keyed as the compiler names them."""
    out = {}
    for key in ("when", "return"):
        if key in item:
            out[key] = _origin(located, pointer + (key,))
    for name in item.get("let", {}) or {}:
        out[f"let {name}"] = _origin(located, pointer + ("let", name))
    for name in item.get("args", {}) or {}:
        out[f"argument {name}"] = _origin(located, pointer + ("args", name))
    return out


def _steps(located: Located, errnos: dict, signals: dict, errors: ErrorSink) -> tuple[Step, ...]:
    steps = []
    for i, item in enumerate(located.data["program"]):
        pointer = ("program", i)
        origin = _origin(located, pointer)
        positions = _expression_positions(located, pointer, item)
        if "check" in item:
            for key, table in (("errno", errnos), ("signal", signals)):
                if key in item and item[key] not in table:
                    errors.add(located.error(pointer + (key,), f"unknown {key} {item[key]}"))
            steps.append(Step("check", origin, pointer, id=item["check"], errno=item.get("errno"),
                              signal=item.get("signal"), when=item["when"], text=item["text"],
                              cite=item.get("cite", ""), positions=positions))
        elif "let" in item:
            steps.append(Step("let", origin, pointer, bindings=tuple(item["let"].items()), positions=positions))
        elif "do" in item or "call" in item:
            op = "do" if "do" in item else "call"
            raises = []
            for j, entry in enumerate(item.get("raises", [])):
                for key in ("errno", "from"):
                    if key in entry and entry[key] not in errnos:
                        errors.add(located.error(pointer + ("raises", j, key), f"unknown errno {entry[key]}"))
                raises.append(Raise(entry["errno"], entry["text"], entry.get("from"), entry.get("cite", ""),
                                    entry.get("nondeterministic", ""), _origin(located, pointer + ("raises", j)),
                                    _version(entry.get("since"))))
            steps.append(Step(op, origin, pointer, id=item[op], when=item.get("when"),
                              args=tuple(item.get("args", {}).items()), raises=tuple(raises),
                              cite=item.get("cite", ""), positions=positions, bind=item.get("bind")))
        else:
            steps.append(Step("return", origin, pointer, when=item.get("when"), value=item["return"],
                              text=item.get("text", ""), cite=item.get("cite", ""), positions=positions))
    return tuple(steps)


def _syscall(located: Located, constants: dict, flagsets: dict, errnos: dict, signals: dict,
             errors: ErrorSink) -> Syscall:
    data = located.data
    for i, entry in enumerate(data.get("unmodelled_errors", ())):
        if entry["errno"] not in errnos:
            errors.add(located.error(("unmodelled_errors", i, "errno"), f"unknown errno {entry['errno']}"))
    args = []
    for i, entry in enumerate(data.get("args", [])):
        if entry["kind"] == "flags" and entry.get("flagset") not in flagsets:
            errors.add(located.error(("args", i), f"flags argument {entry['name']} needs a known flagset"))
        if entry["kind"] == "prot" and "prot" not in flagsets:  # found by the campaign: prot.yaml deleted
            errors.add(located.error(("args", i), f"prot argument {entry['name']} needs the flagset prot"))
        args.append(Arg(name=entry["name"], kind=entry["kind"], ctype=entry.get("ctype", ""),
                        flagset=entry.get("flagset"), width=entry.get("width", 64),
                        default=entry.get("default"), has_default="default" in entry,
                        text=entry.get("text", "")))
    number = data.get("number")
    if number is not None and number not in constants:
        errors.add(located.error(("number",), f"unknown constant {number}"))
    return Syscall(
        name=data["name"],
        kind=data["kind"],
        summary=data["summary"],
        program=_steps(located, errnos, signals, errors),
        origin=_origin(located, ()),
        args=tuple(args),
        params=tuple(data.get("params", ())),
        page=data.get("page"),
        number=number,
        header=data.get("header", ""),
        prototype=data.get("prototype", ""),
        standards=tuple(data["standards"]) if "standards" in data else None,
        since=_version(data.get("since")),
        description=data.get("description", ""),
        returns=data.get("returns", ""),
        notes=tuple(data.get("notes", ())),
        see_also=tuple(data.get("see_also", ())),
        sources=tuple(Source(s["file"], s.get("function", ""), s.get("commit", ""), s.get("text", ""))
                      for s in data.get("sources", ())),
        examples=tuple(data.get("examples", ())),
        placement=data.get("placement"),
        binds=data.get("binds"),
        nommu=data.get("nommu"),
        unmodelled_errors=tuple(UnmodelledError(e["errno"], e["text"], e.get("cite", ""))
                                for e in data.get("unmodelled_errors", ())),
        model_notes=tuple(data.get("model_notes", ())),
    )


def load_spec(directory: str | Path | None = None, errors: list | None = None) -> Spec:
    """Load and cross-check a spec directory (the packaged one by default)."""
    spec_dir = Path(directory) if directory is not None else PACKAGE_DIR
    sink = ErrorSink(errors)
    if not spec_dir.is_dir():
        raise InputError(str(spec_dir), 1, 1, "not a spec directory")

    constants, constant_sources, origins = _constants(spec_dir, sink)

    errno_doc = _load_checked(spec_dir / "errnos.yaml", "errnos", sink)
    errnos = errno_doc.data["errnos"] if errno_doc else {}
    signals = errno_doc.data["signals"] if errno_doc else {}
    for name in list(errnos) + list(signals):
        if name not in constants and errno_doc is not None:
            sink.add(errno_doc.error(("errnos" if name in errnos else "signals", name),
                                     f"no number for {name} in the headers"))

    flagsets: dict[str, FlagSet] = {}
    for path in sorted((spec_dir / "flags").glob("*.yaml")):
        located = _load_checked(path, "flagset", sink)
        if located is None:
            continue
        flagset = _flagset(located, constants, errnos, sink)
        if flagset.name in flagsets:
            sink.add(located.error(("name",), f"flag set {flagset.name} is defined twice"))
        flagsets[flagset.name] = flagset

    syscalls: dict[str, Syscall] = {}
    procedures: dict[str, Syscall] = {}
    for sub in ("syscalls", "procedures"):
        for path in sorted((spec_dir / sub).glob("*.yaml")):
            located = _load_checked(path, "syscall", sink)
            if located is None:
                continue
            if path.stem != located.data["name"]:
                sink.add(located.error(("name",), f"name {located.data['name']!r} does not match the file name"))
            entry = _syscall(located, constants, flagsets, errnos, signals, sink)
            is_procedure = entry.kind == "procedure"
            if is_procedure != (sub == "procedures"):
                sink.add(located.error(("kind",), f"a {entry.kind} belongs in {'procedures' if is_procedure else 'syscalls'}/"))
            (procedures if is_procedure else syscalls)[entry.name] = entry

    kernels = _load_checked(spec_dir / "kernels.yaml", "kernels", sink)
    traits: dict[str, Trait] = {}
    profiles: dict[str, Profile] = {}
    if kernels is not None:
        for entry in kernels.data["traits"]:
            traits[entry["name"]] = Trait(entry["name"], entry["text"], _version(entry.get("since")),
                                          _version(entry.get("until")), entry.get("mmu"),
                                          entry.get("commit", ""), entry.get("cite", ""),
                                          entry.get("model_note", ""))
        for entry in kernels.data["profiles"]:
            profiles[entry["name"]] = make_profile(entry["name"], parse_version(entry["version"]),
                                                   entry.get("mmu", True), traits.values(), entry.get("text", ""))

    divergences = []
    declared = _load_checked(spec_dir / "divergences.yaml", "divergences", sink)
    for entry in (declared.data["divergences"] if declared else []):
        divergences.append(DeclaredDivergence(
            entry["id"], entry["call"], entry["kind"], entry["reason"], entry["source"],
            entry.get("engine"), entry.get("kernel"), tuple(entry.get("profiles", ()))))
        if entry["call"] not in syscalls:
            sink.add(declared.error(("divergences",), f"declared divergence {entry['id']} names unknown call {entry['call']}"))

    libc_wrappers = {}
    if (spec_dir / "libc.yaml").is_file():  # optional: a spec without one judges no wrapper note
        libc = _load_checked(spec_dir / "libc.yaml", "libc", sink)
        for name, entry in (libc.data["wrappers"].items() if libc else ()):
            # A listed call needs a file of its own (`syscalls` also lacks the calls whose
            # files have errors: those are reported already).
            if not (spec_dir / "syscalls" / f"{name}.yaml").is_file():
                sink.add(libc.error(("wrappers", name), f"{name} is not a modelled call"))
            libc_wrappers[name] = (str(entry["glibc"]), str(entry["source"]))

    return Spec(
        directory=str(spec_dir),
        syscalls=syscalls,
        procedures=procedures,
        flagsets=flagsets,
        constants=constants,
        constant_sources=constant_sources,
        errnos=errnos,
        signals=signals,
        profiles=profiles,
        traits=traits,
        origins={f"constant:{k}": v for k, v in origins.items()},
        divergences=tuple(divergences),
        libc_wrappers=libc_wrappers,
    )
