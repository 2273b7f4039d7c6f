"""Fixtures: people and an HTTP receiver; `store`, `store_url` (SQLite and PostgreSQL) and `clock` come from tests/conftest.py."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

PEOPLE = {
    "dana@example.com": {"roles": ["owner"]},
    "sam@example.com": {"roles": ["security-lead", "owner"]},
    "lee@example.com": {"roles": ["security-lead"]},
    "max@example.com": {"roles": ["sre"]},
}


@pytest.fixture
def people() -> Any:
    from bastion.approvals import People

    return People.from_config(PEOPLE)


class Receiver:
    """A local HTTP server recording every POST; can fail the first N requests or hold them."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_first = 0
        self.status = 200
        self.hold: threading.Event | None = None
        self.got = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if outer.hold is not None:
                    outer.hold.wait(30)
                with outer.got:
                    n = len(outer.requests)
                    outer.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw, "json": json.loads(raw)})
                    outer.got.notify_all()
                code = 500 if n < outer.fail_first else outer.status
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code == 200 else b"nope")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()
