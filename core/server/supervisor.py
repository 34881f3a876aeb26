"""Several server processes on one port, each with a listening socket of its own (SO_REUSEPORT).

With one socket shared by every process, the process whose event loop wakes first accepts every connection waiting,
so a burst of new connections (16 apps starting together) mostly lands on one process and the others idle. With a
socket each, the kernel spreads connections over the processes by a hash of their addresses. Only processes of the
same user may join such a group of sockets.

The supervisor is uvicorn's (restart of a process that dies, SIGINT/SIGTERM/SIGHUP), with each process bound to its
own socket; a replacement takes over its predecessor's, so that connections queued there meanwhile are served.
"""

from __future__ import annotations

import logging
import socket

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

log = logging.getLogger("uvicorn.error")


def bind_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """`count` listening sockets on host:port sharing it by SO_REUSEPORT (OSError when the port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(backlog)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class PerProcessSockets(Multiprocess):
    """uvicorn's Multiprocess, the i-th process serving only the i-th socket."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.processes_num = len(sockets)

    def _process(self, idx: int) -> Process:
        process = Process(self.config, [self.sockets[idx]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._process(idx) for idx in range(self.processes_num)]

    def restart_all(self) -> None:
        """SIGHUP: each process replaced in turn, the new one serving before the old one stops."""
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._process(idx)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    log.error("gateway: a new server process was not ready in time; restart stopped")
                return
            old.terminate()
            old.join()
            self.processes[idx] = new

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung, or already gone
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: every restart would fail alike
                log.error("gateway: server process %s failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.warning("gateway: server process %s died; starting another", process.pid)
            self.processes[idx] = self._process(idx)
