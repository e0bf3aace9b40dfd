"""An SMTP server that accepts everything and writes each message's Message-ID to a file.

    python -m bench.smtp_sink --port 2525 --log /tmp/received.txt

`bench.email_delivery` runs it as a process of its own, so that its CPU is measured apart
and it does not compete with the benchmark for one interpreter. It reads only the header
block of each message, to cost as little as it can per message.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from typing import IO, Any

from aiosmtpd.controller import Controller

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class MessageIdLog:
    """The aiosmtpd handler: one line per accepted message, its Message-ID."""

    def __init__(self, log: IO[str]) -> None:
        self.log = log

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        headers = content.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(headers)
        self.log.write((found.group(1).decode() if found else "-") + "\n")
        self.log.flush()
        return "250 Message accepted"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.smtp_sink", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True, help="file to append Message-IDs to")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(args.log, "a") as log:
        controller = Controller(MessageIdLog(log), hostname="127.0.0.1", port=args.port)
        controller.start()
        print("ready", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
