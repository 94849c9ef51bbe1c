"""Notification senders for development: console and JSON-lines file (the ``Sender`` port).
Phone numbers are masked on the console; the file is the development SMS gateway's log, and
its record: a message in doubt after a crash is settled by whether its id is in the file
(``SendRecord``).

Imports: the standard library, ``hesuan.services.ports``, ``hesuan.domain``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from hesuan.domain.people import mask_phone
from hesuan.services.outbox_ports import OutboxMessage

__all__ = ["ConsoleSender", "JsonlFileSender"]


class ConsoleSender:
    def send(self, phone: str | None, text: str, message: OutboxMessage) -> None:
        print(f"[sms] to {mask_phone(phone) if phone else '-'}: {text}")


class JsonlFileSender:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def send(self, phone: str | None, text: str, message: OutboxMessage) -> None:
        line = json.dumps({"id": message.id, "to": phone, "text": text,
                           "template": message.template}, ensure_ascii=False)
        with self._lock, self._path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def took(self, message_ids: Sequence[str]) -> set[str]:
        wanted, found = set(message_ids), set[str]()
        with self._lock:
            if not self._path.exists():
                return found
            with self._path.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        mid = json.loads(line)["id"]
                    except (ValueError, KeyError, TypeError):  # a torn last line: not taken
                        continue
                    if mid in wanted:
                        found.add(mid)
        return found
