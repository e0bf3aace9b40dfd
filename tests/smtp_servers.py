"""SMTP servers for tests that need more than the plain mail sink: one that can refuse."""

from __future__ import annotations

from collections import Counter
from email import message_from_bytes
from email.message import Message
from email.utils import parseaddr
from typing import Any

from aiosmtpd.controller import Controller

from app.devservices import free_port

REFUSAL = "451 4.3.0 Try again later"


class RefusingSmtpServer:
    """A real SMTP server that answers 4xx to every message while `refusing` is set, and
    otherwise keeps what it accepts (counted per recipient)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.refusing = False
        self.refused = 0
        self.messages: list[Message] = []
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusing:
            self.refused += 1
            return REFUSAL
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted"

    def per_recipient(self) -> Counter[str]:
        """How many messages each address received."""
        return Counter(parseaddr(m["To"])[1] for m in self.messages)

    def message_ids_per_recipient(self) -> dict[str, set[str]]:
        ids: dict[str, set[str]] = {}
        for m in self.messages:
            ids.setdefault(parseaddr(m["To"])[1], set()).add(m["Message-ID"])
        return ids

    def start(self) -> RefusingSmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
