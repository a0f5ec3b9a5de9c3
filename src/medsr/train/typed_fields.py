"""Dataclasses built from nested mappings (YAML), every value checked against its field.

:func:`spec` declares a field with its range, choices or list lengths; :func:`build` turns a
nested dict into the dataclass, refusing unknown keys, wrong types and out-of-range values with a
:class:`medsr.errors.ConfigError` that names the dotted key (``optim.lr``), the value and a
remedy. :mod:`medsr.train.config` declares the training schema with them.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Optim:
    ...     lr: float = spec(1e-3, lo=0.0)
    >>> build(Optim, {"lr": "2e-3"}, "optim.", None).lr
    0.002
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, Union

from medsr.errors import ConfigError


def spec(
    default: Any = dataclasses.MISSING,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple | None = None,
    length: tuple[int, ...] | None = None,
    doc: str = "",
    factory: Any = None,
) -> Any:
    """A dataclass field with validation metadata (range, choices, list lengths)."""
    meta = {"lo": lo, "hi": hi, "choices": choices, "length": length, "doc": doc}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def deep_copy(d: Any) -> Any:
    """A copy of nested dicts and lists (the leaves are shared)."""
    if isinstance(d, dict):
        return {k: deep_copy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [deep_copy(v) for v in d]
    return d


def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    """``d['a']['b'] = value`` for ``key = 'a.b'`` (creating the mappings on the way)."""
    parts = key.split(".")
    for part in parts[:-1]:
        d = d.setdefault(part, {})
    d[parts[-1]] = value


def build(cls: type, raw: Any, prefix: str, source: str | Path | None) -> Any:
    """The dataclass ``cls`` from the nested mapping ``raw``, every value checked against its
    field's type and :func:`spec` metadata; a :class:`ConfigError` names ``prefix`` + the key."""
    name = prefix.rstrip(".") or "the top level"
    if not isinstance(raw, dict):
        raise ConfigError(source, f"{name} must be a mapping, got {raw!r}", "indent its keys under it")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            source, f"unknown key {prefix}{unknown[0]}", f"use one of {', '.join(prefix + k for k in fields)}"
        )
    kwargs = {}
    for key, value in raw.items():
        f, hint, dotted = fields[key], hints[key], prefix + key
        if dataclasses.is_dataclass(hint):
            kwargs[key] = build(hint, value, dotted + ".", source)  # type: ignore[arg-type]
        else:
            kwargs[key] = _check_value(value, hint, f.metadata, dotted, source)
    return cls(**kwargs)


def _type_error(dotted: str, value: Any, want: str, source: str | Path | None) -> ConfigError:
    return ConfigError(
        source, f"{dotted} must be {want}, got {value!r} ({type(value).__name__})", f"give {dotted} as {want}"
    )


def _check_value(value: Any, hint: Any, meta: Any, dotted: str, source: str | Path | None) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        hint, origin = args[0], typing.get_origin(args[0])
    if origin is list:
        (item,) = typing.get_args(hint)
        if (
            isinstance(value, (int, float, str))
            and not isinstance(value, bool)
            and meta.get("length")
            and 1 in meta["length"]
        ):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise _type_error(dotted, value, f"a list of {item.__name__}", source)
        length = meta.get("length")
        if length and len(value) not in length:
            raise ConfigError(
                source,
                f"{dotted} needs {' or '.join(map(str, length))} values, got {len(value)} ({list(value)})",
                f"give {dotted} as a list of {' or '.join(map(str, length))}",
            )
        return [_scalar(v, item, meta, f"{dotted}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(dotted, value, "a mapping", source)
        return dict(value)
    return _scalar(value, hint, meta, dotted, source)


def _scalar(value: Any, hint: Any, meta: Any, dotted: str, source: str | Path | None) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise _type_error(dotted, value, "true or false", source)
        return value
    if hint is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise _type_error(dotted, value, "an integer", source)
        value = int(value)
    elif hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(dotted, value, "a number", source)
        value = float(value)
    elif hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise _type_error(dotted, value, "a string", source)
        value = str(value)
    lo, hi, choices = meta.get("lo"), meta.get("hi"), meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(source, f"{dotted} = {value!r} is not allowed", f"use one of {', '.join(choices)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = f"{'-inf' if lo is None else lo} … {'inf' if hi is None else hi}"
            raise ConfigError(source, f"{dotted} = {value} is out of range {rng}", f"give {dotted} within {rng}")
    return value
