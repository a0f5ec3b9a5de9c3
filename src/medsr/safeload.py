"""Parsing untrusted JSON and YAML with bounded nesting and no YAML aliases.

Bundle headers, checkpoints, sidecars and training configs come from files a user may have been
handed. Deep nesting makes Python's parsers raise ``RecursionError`` ("internal error"), and a
YAML alias bomb ("billion laughs") expands a few hundred bytes into gigabytes. These two
functions refuse both with a :class:`~medsr.errors.ConfigError` that names the file.

Example:
    >>> loads_json('{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> try:
    ...     loads_json("[" * 1000 + "]" * 1000, "deep.json")
    ... except Exception as err:
    ...     print(type(err).__name__)
    ConfigError
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medsr.errors import ConfigError

#: deepest nesting of lists/objects accepted in JSON or YAML
MAX_DEPTH = 32
#: largest text accepted (bytes)
MAX_TEXT = 64 << 20


def _json_depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def loads_json(text: str | bytes, where: str | Path | None = None) -> Any:
    """``json.loads`` that refuses more than :data:`MAX_DEPTH` levels or :data:`MAX_TEXT` bytes.

    Raises:
        ConfigError: too deep, too large, or not JSON.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if len(text) > MAX_TEXT:
        raise ConfigError(
            where, f"the JSON text has {len(text)} characters, more than {MAX_TEXT}", "use a smaller file"
        )
    if _json_depth(text) > MAX_DEPTH:
        raise ConfigError(where, f"the JSON nests deeper than {MAX_DEPTH} levels", "give a flat, regular file")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(where, f"is not valid JSON ({str(exc)[:120]})", "check the file") from None


def load_yaml(text: str, where: str | Path | None = None) -> Any:
    """``yaml.safe_load`` without aliases (``*ref``) and with at most :data:`MAX_DEPTH` levels.

    Raises:
        ConfigError: an alias, too deep, too large, or not YAML.
    """
    import yaml

    if len(text) > MAX_TEXT:
        raise ConfigError(where, f"the YAML text has {len(text)} characters", "use a smaller file")
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise ConfigError(
                    where, f"uses the YAML alias *{event.anchor}; medsr refuses aliases", "write the values out in full"
                )
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ConfigError(where, f"the YAML nests deeper than {MAX_DEPTH} levels", "give a flat file")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            where, f"is not valid YAML{at} ({getattr(exc, 'problem', None) or exc})", "fix the syntax"
        ) from None
