"""Local mode (no login configured) serves this machine only. Decided from what is true, not from settings:
the sockets this process actually listens on (Streamlit binds every interface when `server.address` is unset,
whatever the command line looked like), and the address the request comes from (a reverse proxy on loopback
forwarding other machines' requests is refused too).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket

import streamlit as st

LOGIN_HELP = (
    "Configure a login — `python -m core user add NAME --role admin --company '*'` (password login) or "
    "an [auth] section in .streamlit/secrets.toml (single sign-on) — or serve this machine only: "
    "`streamlit run dashboard.py --server.address 127.0.0.1`."
)
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp
_FORWARDED_FOR = re.compile(r'for="?\[?([^\]";,\s]+)', re.IGNORECASE)


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]").split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _decode(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc/net/tcp{,6} print each 32-bit word in host (little-endian) order.
    fixed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, fixed)


def listening_sockets(pid: int | str = "self") -> list[tuple[str, int]] | None:
    """(address, port) of every TCP socket process `pid` listens on; None where /proc cannot tell (not Linux)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    inodes = {}
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes[link[8:-1]] = int(fd)
    # A socket object on a descriptor takes the default timeout, which would make the shared socket non-blocking.
    if pid == "self" and socket.getdefaulttimeout() is None:
        return _own_listening(inodes.values())
    found, readable = [], False
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}", encoding="ascii") as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and fields[9] in inodes:
                address, port = fields[1].rsplit(":", 1)
                found.append((_decode(address), int(port, 16)))
    return found if readable else None


def _own_listening(fds) -> list[tuple[str, int]]:
    """This process's listening TCP sockets, asked of the sockets themselves (a duplicate of each descriptor).
    /proc/net/tcp lists every TCP socket of the machine: about 5 ms to read here, on every page run, and more
    with every connection the machine holds."""
    found = []
    for fd in fds:
        try:
            dup = os.dup(fd)
        except OSError:
            continue  # closed since it was listed
        try:
            sock = socket.socket(fileno=dup)
        except OSError:
            os.close(dup)
            continue
        with sock:
            try:
                if (
                    sock.family in (socket.AF_INET, socket.AF_INET6)
                    and sock.type == socket.SOCK_STREAM
                    and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                ):
                    address, port = sock.getsockname()[:2]
                    found.append((address, port))
            except OSError:
                continue
    return found


def refusal(
    sockets: list[tuple[str, int]] | None, configured: str | None, client: str | None, forwarded: list[str]
) -> str | None:
    """Why local mode must not serve this request, or None. `sockets`: listening (address, port) pairs or None
    when unknown (then the configured `server.address` decides, and an unset one is not loopback)."""
    if sockets is None:
        if not is_loopback(configured):
            where = configured or "every address (server.address is not set)"
            return _message(f"it is configured to listen on {where}")
    else:
        exposed = [f"{a}:{p}" if ":" not in a else f"[{a}]:{p}" for a, p in sockets if not is_loopback(a)]
        if exposed:
            return _message(f"it listens on {', '.join(exposed)}, which other machines can reach")
    outside = [a for a in [client, *forwarded] if a and not is_loopback(a)]
    if outside:
        return _message(f"this request comes from {outside[0]}")
    return None


def _message(reason: str) -> str:
    return (
        f"No login is configured, so this dashboard serves this machine only (127.0.0.1), but {reason}. " + LOGIN_HELP
    )


def client_address() -> str | None:
    """The address the request comes from as Streamlit gives it (a proxy's X-Forwarded-For applied by the
    server for proxies on loopback); None for loopback or when unknown (no browser: tests, bare mode)."""
    ip = st.context.ip_address
    return ip if isinstance(ip, str) and ip else None


def forwarded_addresses() -> list[str]:
    """Client addresses a proxy put in the request headers (X-Forwarded-For, X-Real-IP, Forwarded)."""
    try:
        headers = st.context.headers
        values = {name: headers.get_all(name) for name in ("X-Forwarded-For", "X-Real-IP", "Forwarded")}
    except Exception:  # noqa: BLE001 - no request behind this run (tests, bare mode): no headers
        return []
    found: list[str] = []
    for name, items in values.items():
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, str):
                continue
            if name == "Forwarded":
                found += _FORWARDED_FOR.findall(item)
            else:
                found += [part.strip() for part in item.split(",") if part.strip()]
    return found


def refusal_here() -> str | None:
    return refusal(listening_sockets(), st.get_option("server.address"), client_address(), forwarded_addresses())
