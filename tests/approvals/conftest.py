"""Fixtures: a store on SQLite and on PostgreSQL (the store tests' fixtures), people, an HTTP receiver."""

from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

_spec = importlib.util.spec_from_file_location("_bastion_store_fixtures_a", Path(__file__).parents[1] / "store" / "conftest.py")
_store_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_store_fixtures)

# the store tests' parametrised URL: SQLite, and PostgreSQL (marked postgres) on its own schema
pg_url = _store_fixtures.pg_url
store_url = _store_fixtures.store_url

PEOPLE = {
    "dana@example.com": {"roles": ["owner"]},
    "sam@example.com": {"roles": ["security-lead", "owner"]},
    "lee@example.com": {"roles": ["security-lead"]},
    "max@example.com": {"roles": ["sre"]},
}


@pytest.fixture
def store(store_url: str) -> Iterator[Any]:
    from bastion.store import open_store

    st = open_store(store_url)
    try:
        yield st
    finally:
        st.close()


@pytest.fixture
def people() -> Any:
    from bastion.approvals import People

    return People.from_config(PEOPLE)


class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


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
