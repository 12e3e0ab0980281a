"""The 422 answer to a request that fails validation, whatever the request held.

FastAPI's own handler echoes each offending input back as JSON; an input of NaN or
±infinity (which JSON cannot carry), a string with a lone surrogate (``"\ud800"``,
which UTF-8 cannot carry) or a deeply nested one then made it fail with a 500. This
handler echoes the same errors with such inputs made printable: non-finite numbers as
strings (``"nan"``, ``"inf"``), lone surrogates as ``\ud800`` escapes, integers beyond
64 bits by their size, and anything nested deeper than `MAX_ECHO_DEPTH` as ``"…"``.
"""

import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

__all__ = ["MAX_ECHO_DEPTH", "printable", "validation_error_handler"]

MAX_ECHO_DEPTH = 16


def printable(value: Any, depth: int = 0) -> Any:
    """``value`` with what JSON cannot carry (or should not echo) replaced by text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<integer of {value.bit_length()} bits>"
    if isinstance(value, dict | list | tuple) and depth >= MAX_ECHO_DEPTH:
        return "…"
    if isinstance(value, dict):
        return {printable(key, depth): printable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [printable(item, depth + 1) for item in value]
    return value


def _utf8(text: str) -> str:
    """``text``, with what UTF-8 cannot encode (lone surrogates) as backslash escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """422 with FastAPI's usual body (``detail``: the list of errors), never a 500."""
    assert isinstance(exc, RequestValidationError)
    errors = [printable(error) for error in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})
