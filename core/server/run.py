"""Starting the gateway: the address check, uvicorn with uvloop and httptools, the writer beside it."""

from __future__ import annotations

import ipaddress
import logging
import socket

from core.config import get_settings


class _QuietAbort(logging.Filter):
    """A stream the provider broke is cut on purpose (core.server.proxy.StreamAborted): no traceback for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ not in ("StreamAborted", "ConnectionResetError")


def is_loopback(host: str) -> bool:
    """True when every address `host` stands for is a loopback one (127.0.0.0/8, ::1)."""
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def serve(host: str | None = None, port: int | None = None, *, access_log: bool = False) -> int:
    import uvicorn

    from core.server.app import create_app
    from core.server.keys import any_active_key
    from core.storage.db import migrate

    s = get_settings()
    migrate()  # as the dashboard does: a fresh database works at once (safe when several start together)
    host = host or s.gateway_host
    port = s.gateway_port if port is None else port
    loopback = is_loopback(host)
    if not loopback and not any_active_key():
        print(
            f"refusing --host {host}: it is reachable from other machines and no gateway key exists "
            "(python -m core key create --company NAME)",
            flush=True,
        )
        return 2
    logging.getLogger("uvicorn.error").addFilter(_QuietAbort())
    app = create_app(s, loopback=loopback, writer="process")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=access_log,
        server_header=False,
        timeout_keep_alive=30,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    print(
        f"Gateway: http://{host if ':' not in host else f'[{host}]'}:{port}/v1  (OpenAI-compatible; "
        f"{'loopback only' if loopback else 'gateway keys required'})",
        flush=True,
    )
    server.run()
    return 0 if server.started else 1
