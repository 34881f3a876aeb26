"""A helper process of the gateway (a server process, the ledger writer) stops when the gateway's main process is
gone, even killed outright: the kernel sends it SIGTERM then (Linux's PR_SET_PDEATHSIG)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def stop_with(parent: int) -> None:
    """SIGTERM to this process when `parent` ends (now, if it already has)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the helpers' own checks remain
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it ended before the request above
        os.kill(os.getpid(), signal.SIGTERM)
