"""TOML from outside, parsed within bounds: nesting, integer size, finite numbers.

`tomllib` recurses once per nested array or inline table, so a text nested a few
hundred deep ends in RecursionError; an integer of more than 4,300 digits ends in a
plain ValueError (Python's int() digit limit); and it accepts ``nan``, ``inf`` and
integers of any size in hexadecimal. `load_toml` turns each of these into a
`TomlLimitError` with a reason and, where it can tell, the line or the keys:

- arrays and inline tables nest at most `MAX_DEPTH` deep (checked on the text before
  parsing), tables and dotted keys as well (checked on the result);
- integers lie within ±`MAX_INT` (64-bit), floats are finite.
"""

import math
import re
import tomllib
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_INT", "TomlLimitError", "load_toml"]

MAX_DEPTH = 32
MAX_INT = 2**63 - 1

# what the bracket scan stops at; and, from after its opening quotes, the rest of a string
_NEXT = re.compile(r"[\[\]{}\"'#]")
_STRING_REST = {
    '"""': re.compile(r'(?:[^\\]|\\.)*?"{3,5}', re.DOTALL),
    "'''": re.compile(r".*?'{3,5}", re.DOTALL),
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"[^'\n]*'"),
}
_LONG_NUMBER = re.compile(r"[0-9_]{4300,}")


class TomlLimitError(ValueError):
    """A TOML text beyond the bounds of `load_toml`.

    Attributes:
        reason: what is wrong.
        line: 1-based line of the problem, when known.
        keys: where in the document (keys, and array indices as text), when known.
    """

    def __init__(self, reason: str, line: int | None = None, keys: list[str] | None = None):
        self.reason = reason
        self.line = line
        self.keys = keys or []
        super().__init__(reason)


def load_toml(text: str) -> dict[str, Any]:
    """``tomllib.loads(text)`` within the bounds above.

    Raises:
        tomllib.TOMLDecodeError: the text is not TOML.
        TomlLimitError: the text is TOML beyond the bounds.
    """
    _check_brackets(text)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise
    except RecursionError as exc:  # not expected after _check_brackets; never a crash
        raise TomlLimitError(f"nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:  # int(): "Exceeds the limit (4300 digits) ..."
        long = _LONG_NUMBER.search(text)
        line = text.count("\n", 0, long.start()) + 1 if long else None
        raise TomlLimitError(
            f"a number with too many digits (integers: at most ±{MAX_INT})", line
        ) from exc
    _check_values(document)
    return document


def _check_brackets(text: str) -> None:
    """Arrays and inline tables nested over `MAX_DEPTH` deep, found without parsing."""
    depth = 0
    pos = 0
    while found := _NEXT.search(text, pos):
        char, start = found.group(), found.start()
        pos = start + 1
        if char == "#":
            pos = text.find("\n", start) + 1
        elif char in "\"'":
            opening = char * 3 if text.startswith(char * 3, start) else char
            rest = _STRING_REST[opening].match(text, start + len(opening))
            pos = rest.end() if rest else 0
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, start) + 1
                raise TomlLimitError(
                    f"arrays or inline tables nested deeper than {MAX_DEPTH} levels", line
                )
        else:
            depth = max(depth - 1, 0)
        if pos == 0:  # a comment on the last line, or a string never closed: tomllib tells
            return


def _check_values(document: dict[str, Any]) -> None:
    """Tables nested over `MAX_DEPTH` deep, integers beyond 64 bits, nan and infinity."""
    stack: list[tuple[list[str], Any]] = [([], document)]
    while stack:
        keys, value = stack.pop()
        if isinstance(value, dict | list):
            if len(keys) > MAX_DEPTH:
                raise TomlLimitError(f"nested deeper than {MAX_DEPTH} levels", keys=keys)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend(reversed([([*keys, str(key)], item) for key, item in items]))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and abs(value) > MAX_INT:
            raise TomlLimitError(f"integer out of range (at most ±{MAX_INT})", keys=keys)
        elif isinstance(value, float) and not math.isfinite(value):
            raise TomlLimitError(f"{value} is not allowed: numbers must be finite", keys=keys)
