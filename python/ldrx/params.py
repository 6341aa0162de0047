"""Hyper-parameters of the model families, read from each family's dataclass (``model.hyper``): names,
types, defaults and meanings, for ``ldrx params FAMILY`` and for checking command-line values before any
data is read.

A field's meaning comes from, in this order: ``field(metadata={"help": ..., "unit": ...})``, the comment at
the end of the field's line in the dataclass source, or the class docstring's entry for it (a line that
starts with the field's name, continued by more deeply indented lines). A new family needs nothing else.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from dataclasses import dataclass


@dataclass
class HyperField:
    name: str
    type: str       # the annotation as written, e.g. "int", "float | None", "Optional[tuple]"
    default: object
    help: str
    unit: str = ""


def _docstring_entries(cls) -> dict:
    doc = inspect.getdoc(cls) or ""
    out, name = {}, None
    for line in doc.splitlines():
        m = re.match(r"^(\w+)(?:,\s*\w+)*\s{2,}(\S.*)$", line)
        if m and not line.startswith(" "):
            names = re.findall(r"\w+", line[:m.start(2)])
            name = names
            for n in names:
                out[n] = m.group(2).strip()
        elif name and line.startswith(" ") and line.strip():
            for n in name:
                out[n] += " " + line.strip()
        else:
            name = None
    return out


def _source_comments(cls) -> dict:
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out = {}
    for line in src.splitlines():
        m = re.match(r"^\s+(\w+)\s*:[^#]*#\s*(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def hyper_class(family):
    from .models import make_model
    return type(make_model(family).hyper)


def hyper_fields(family) -> dict:
    """{name: HyperField} of a family, defaults as that family's constructor sets them (e.g. qsnap's)."""
    from .models import make_model
    hyper = make_model(family).hyper
    cls = type(hyper)
    docs, comments = _docstring_entries(cls), _source_comments(cls)
    out = {}
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata or {})
        text = meta.get("help") or comments.get(f.name) or docs.get(f.name, "")
        unit = meta.get("unit", "")
        if not unit:
            m = re.match(r"^\[([^\]]+)\]\s*(.*)$", text)
            if m:
                unit, text = m.group(1), m.group(2)
        ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        out[f.name] = HyperField(f.name, ann, getattr(hyper, f.name), text, unit)
    return out


def families_with(name) -> list:
    from .models import _FAMILIES
    out = []
    for fam in sorted(_FAMILIES):
        try:
            if name in {f.name for f in dataclasses.fields(hyper_class(fam))}:
                out.append(fam)
        except Exception:  # noqa: BLE001 - a family that cannot be built is not listed
            continue
    return out


_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "tuple": tuple, "list": list, "dict": dict}


def _allowed(annotation: str) -> set:
    words = set(re.findall(r"[A-Za-z_]+", annotation))
    allowed = {w for w in words if w in _TYPES}
    if "Optional" in words or "None" in words:
        allowed.add("None")
    if "Sequence" in words or "Tuple" in words:
        allowed.add("tuple")
    return allowed


def check_value(field: HyperField, value) -> str | None:
    """None if `value` fits the field's annotated type, else a sentence saying what is accepted."""
    allowed = _allowed(field.type)
    if not allowed or "Any" in field.type:
        return None
    if value is None:
        ok = "None" in allowed
    elif isinstance(value, bool):
        ok = "bool" in allowed
    elif isinstance(value, int):
        ok = bool(allowed & {"int", "float"})
    elif isinstance(value, float):
        ok = "float" in allowed
    elif isinstance(value, str):
        ok = "str" in allowed
    elif isinstance(value, (tuple, list)):
        ok = bool(allowed & {"tuple", "list"})
        if ok and isinstance(field.default, (tuple, list)) and field.default:
            kinds = {type(v) for v in field.default}
            if kinds == {int} and not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                ok = False
    elif isinstance(value, dict):
        ok = "dict" in allowed
    else:
        ok = False
    if ok:
        return None
    names = {"int": "an integer", "float": "a number", "bool": "True or False", "str": "a string", "None": "None",
             "tuple": "a tuple", "list": "a list", "dict": "a dict"}
    if isinstance(field.default, (tuple, list)) and field.default and all(type(v) is int for v in field.default):
        names["tuple"] = "a tuple of integers"
    accepted = " or ".join(names[a] for a in sorted(allowed))
    example = f"; default {field.default!r}" if field.default is not None else ""
    return f"{field.name} takes {accepted} ({field.help or 'see ldrx params'}{example}), got {value!r}"


def format_params(family) -> str:
    """The table printed by ``ldrx params FAMILY``."""
    fields = hyper_fields(family)
    cls = hyper_class(family)
    w = max(len(n) for n in fields)
    wd = min(24, max(len(repr(f.default)) for f in fields.values()))
    lines = [f"{family} hyper-parameters ({cls.__module__}.{cls.__name__}); set with "
             f"'ldrx fit DATA --model {family} --set NAME=VALUE' or ldrx.fit(data, model='{family}', NAME=VALUE)",
             f"{'name':<{w}}  {'default':<{wd}}  {'unit':<10s}  meaning"]
    for f in fields.values():
        d = repr(f.default)
        if len(d) > wd:
            d = d[:wd - 3] + "..."
        lines.append(f"{f.name:<{w}}  {d:<{wd}}  {f.unit:<10s}  {f.help}")
    return "\n".join(lines)
