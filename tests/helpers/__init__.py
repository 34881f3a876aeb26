"""Helpers shared by the test folders: paths, ports, test data and the set-ups that are not fixtures."""

from __future__ import annotations

import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # the project folder
DATA = ROOT / "tests" / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
