"""ASGI plumbing of the gateway: the request's headers and body (with the size limit), answers, and errors in
OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

import json
import zlib

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "server_error",
    500: "server_error",
}
JSON = b"application/json"


class HttpError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        extra: dict | None = None,
    ):
        self.status, self.code, self.param = status, code, param
        self.headers = headers or []
        self.extra = extra or {}
        super().__init__(message)

    def body(self) -> bytes:
        error = {
            "message": str(self),
            "type": ERROR_TYPES.get(self.status, "invalid_request_error"),
            "param": self.param,
            "code": self.code,
        } | self.extra
        return json.dumps({"error": error}).encode()


class Request:
    """The parts of an ASGI http scope the gateway reads, taken in one pass over the headers."""

    __slots__ = (
        "authorization",
        "client",
        "content_encoding",
        "content_length",
        "content_type",
        "method",
        "operation",
        "path",
    )

    def __init__(self, scope: dict):
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.authorization = self.operation = self.content_type = self.content_encoding = None
        self.content_length: int | None = None
        client = scope.get("client")
        self.client = client[0] if client else None
        for name, value in scope["headers"]:
            if name == b"authorization":
                self.authorization = value.decode("latin-1")
            elif name == b"x-operation":
                self.operation = value.decode("utf-8", "replace")
            elif name == b"content-type":
                self.content_type = value.decode("latin-1").split(";", 1)[0].strip().lower()
            elif name == b"content-encoding":
                self.content_encoding = value.decode("latin-1").strip().lower()
            elif name == b"content-length":
                try:
                    self.content_length = int(value)
                except ValueError:
                    self.content_length = None

    def bearer(self) -> str | None:
        auth = self.authorization
        if not auth:
            return None
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def read_body(request: Request, receive, limit: int) -> bytes:
    """The whole body, or 413 past `limit` bytes (announced or received); decompressed when gzip/deflate."""
    if request.content_length is not None and request.content_length > limit:
        raise HttpError(413, "request_too_large", f"the request body is larger than {limit:,} bytes")
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("the client went away")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise HttpError(413, "request_too_large", f"the request body is larger than {limit:,} bytes")
            parts.append(chunk)
        if not message.get("more_body"):
            break
    body = parts[0] if len(parts) == 1 else b"".join(parts)
    encoding = request.content_encoding
    if encoding in (None, "", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise HttpError(
            415, "unsupported_encoding", f"content-encoding {encoding!r} is not supported (gzip, deflate or none)"
        )
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        raise HttpError(400, "invalid_body", f"the body is not valid {encoding}: {e}") from None
    if len(out) > limit:
        raise HttpError(413, "request_too_large", f"the decompressed request body is larger than {limit:,} bytes")
    return out


async def respond(
    send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None, content_type: bytes = JSON
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or ()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def respond_json(send, status: int, obj, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await respond(send, status, json.dumps(obj).encode(), headers)


async def respond_error(send, error: HttpError, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await respond(send, error.status, error.body(), [*error.headers, *(headers or ())])


def parse_json_object(body: bytes) -> dict:
    try:
        payload = json.loads(body)
    except UnicodeDecodeError as e:
        raise HttpError(400, "invalid_json", f"the body is not UTF-8: {e.reason} at byte {e.start}") from None
    except ValueError as e:
        raise HttpError(400, "invalid_json", f"the body is not valid JSON: {e}") from None
    if not isinstance(payload, dict):
        raise HttpError(400, "invalid_json", "the body must be a JSON object")
    return payload
