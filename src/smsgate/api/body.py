"""Reading request bodies with a hard size cap, and decoding JSON into structs."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request

from smsgate.domain import errors

T = TypeVar("T")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes without reading them all."""
    _check_content_type(request)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise errors.BadRequest("Content-Length is invalid.")
        if int(declared) > limit:
            raise errors.BodyTooLarge(f"Request body is larger than {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.BodyTooLarge(f"Request body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise errors.UnsupportedMediaType()


def decode(body: bytes, kind: type[T]) -> T:
    """``body`` as ``kind``; any JSON or type error is a 400 naming where it is.

    msgspec refuses a number beyond a double's range (``1e400``) as a type error, and raises
    ``RecursionError`` for arrays or objects nested deeper than the interpreter's recursion
    limit (about 1,000 levels; it even recurses to skip a value): both are the client's
    error, not ours."""
    if not body:
        raise errors.BadRequest("Parameter: request body is empty.")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise errors.BadRequest(f"Parameter: request body is invalid: {exc}.") from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise errors.BadRequest(f"Request body is not valid JSON (UTF-8): {exc}.") from exc
    except RecursionError as exc:
        raise errors.BadRequest(TOO_DEEP) from exc


TOO_DEEP = "Request body is not valid: JSON nested too deeply."
