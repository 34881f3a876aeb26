"""A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts."""

from __future__ import annotations

from aiosmtpd.controller import Controller

from tests.helpers import free_port


class _Mailbox:
    def __init__(self):
        self.messages: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content.decode("utf-8", errors="replace"))
        return "250 Message accepted for delivery"


class SMTPServer:
    def __init__(self):
        self.box = _Mailbox()
        self.port = free_port()
        self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def messages(self) -> list[str]:
        return self.box.messages

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=a@example.test&to=b@example.test&mode=insecure"

    def close(self):
        self.controller.stop()
