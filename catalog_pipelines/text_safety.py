"""Strings PostgreSQL cannot store: NUL (U+0000) and lone surrogates (U+D800-U+DFFF).

PostgreSQL `text` and `jsonb` cannot hold NUL, and a lone surrogate cannot be encoded to
UTF-8 at all. JSON allows both (`"\\u0000"`, `"\\ud800"`), and a CSV can carry a NUL byte,
so connectors reject such a row with a reason naming the field, and what is kept of it for
`rejects export` shows those characters as visible escapes instead.
"""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored (naming the character and its position), or None."""
    m = _UNSTORABLE.search(text)
    if m is None:
        return None
    ch = m.group()
    what = "a NUL character (U+0000)" if ch == "\x00" else f"a lone surrogate (U+{ord(ch):04X})"
    return f"contains {what} at character {m.start() + 1}, which the catalog cannot store"


def escape_unstorable(value: Any) -> Any:
    """`value` with NUL and lone surrogates written as visible `\\u0000`-style escapes, in
    strings, dict keys and nested lists/dicts (what a reject keeps of a bad row)."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    if isinstance(value, dict):
        return {escape_unstorable(k): escape_unstorable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escape_unstorable(v) for v in value]
    return value


def first_unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first (field path, reason) of a JSON value holding an unstorable string, keys
    included; None when all of it can be stored."""
    if isinstance(value, str):
        why = unstorable(value)
        return (path or "value", why) if why else None
    if isinstance(value, dict):
        for k, v in value.items():
            key = str(k)
            why = unstorable(key)
            name = f"{path}.{escape_unstorable(key)}" if path else escape_unstorable(key)
            if why:
                return name, f"key {why}"
            found = first_unstorable(v, name)
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = first_unstorable(v, f"{path}[{i}]")
            if found:
                return found
    return None
