"""The Claude Code hook's daemon: keeps the compiled policy warm for `hook_client`.

One daemon per (project directory, policies, code version), listening on a Unix socket
in a directory only its user can open. Each request is a header line
(`hook_client.MAGIC` and flags) followed by the PreToolUse JSON until end of stream; each
reply is `EXIT STDOUT_LEN STDERR_LEN` and the two texts (`hook_client.encode_reply`). Policy, configuration and tool-map files are checked
for changes before every decision (a few `stat` calls) and recompiled when they change;
a policy that no longer compiles blocks every call with its error until it is fixed.
The daemon exits after `BASTION_HOOK_IDLE` seconds without requests (default 900).

`--oneshot` decides one input from stdin in this process, for when no daemon can run.
"""

from __future__ import annotations

import argparse
import logging
import os
import socketserver
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bastion.integrations.claude_code import HookResult, block, build_enforcer, handle
from bastion.integrations.hook_client import MAGIC, encode_reply

log = logging.getLogger("bastion.hook")
#: the largest hook input accepted (Claude Code sends tool inputs, e.g. a file to write)
MAX_INPUT = 64 * 1024 * 1024


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bastion.integrations.hook_server")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--serve", action="store_true")
    mode.add_argument("--oneshot", action="store_true")
    p.add_argument("--socket")
    p.add_argument("--policy", action="append", default=[])
    p.add_argument("--toolmap", action="append", default=[])
    p.add_argument("--config")
    p.add_argument("--record", action="store_true")
    p.add_argument("--passthrough-allow", action="store_true")
    p.add_argument("--always-ask", action="store_true")
    return p


class Decider:
    """The enforcer plus the files it was built from; rebuilt when any of them changes."""

    def __init__(self, policies: list[str], toolmaps: list[str], config: str | None, record: bool) -> None:
        self.policies, self.toolmaps, self.config, self.record = policies, toolmaps, config, record
        self.lock = threading.Lock()
        self.enforcer: Any = None
        self.error: str | None = None
        self.stamp: dict[str, Any] = {}
        self._build()

    def _watched(self) -> list[Path]:
        paths: list[Path] = []
        cfg = self.config or os.environ.get("BASTION_CONFIG") or "bastion.yaml"
        paths.append(Path(cfg))
        sources = list(self.policies)
        if not sources:
            try:
                from bastion.config import load_config

                sources = list(load_config(self.config)["policies"])
            except Exception:
                sources = []
        for s in sources:
            if s.startswith("builtin:"):
                continue
            p = Path(s)
            paths.append(p)
            if p.is_dir():
                paths.extend(sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml")))
        paths.extend(Path(t) for t in self.toolmaps)
        return paths

    def _current_stamp(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p in self._watched():
            try:
                st = p.stat()
                out[str(p)] = (st.st_mtime_ns, st.st_size)
            except OSError:
                out[str(p)] = None
        return out

    def _build(self) -> None:
        stamp = self._current_stamp()
        try:
            enforcer = build_enforcer(self.policies or None, config_path=self.config, toolmaps=self.toolmaps or None, record=self.record)
        except SystemExit as exc:  # config loaders may exit on errors
            self.enforcer, self.error = None, f"cannot load the policies (exit {exc.code})"
        except Exception as exc:
            self.enforcer, self.error = None, _describe(exc)
        else:
            old = self.enforcer
            self.enforcer, self.error = enforcer, None
            if old is not None:
                _close(old)
        self.stamp = stamp

    def refresh(self) -> None:
        with self.lock:
            if self._current_stamp() != self.stamp:
                log.info("policy files changed; recompiling")
                self._build()

    def decide(self, raw: str, flags: frozenset[str] = frozenset()) -> HookResult:
        try:
            self.refresh()
        except Exception as exc:
            return block(f"cannot check the policy files ({type(exc).__name__}); blocking the call")
        enforcer, error = self.enforcer, self.error
        if enforcer is None:
            return block(f"the policy cannot be loaded, so every call is blocked until it is fixed: {error}")
        return handle(enforcer, raw, passthrough_allow="passthrough-allow" in flags, always_ask="always-ask" in flags)

    def close(self) -> None:
        if self.enforcer is not None:
            _close(self.enforcer)


def _close(enforcer: Any) -> None:
    try:
        enforcer.engine.close()
    except Exception:
        log.exception("closing the engine failed")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = "; ".join(text[:5]) if text else ""
    return f"{type(exc).__name__}: {first}"[:1000]


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        server.touch()
        try:
            header = self.rfile.readline(1024).split()
            if not header or header[0] != MAGIC:
                raise ValueError("not a hook request")
            raw = self.rfile.read(MAX_INPUT + 1)
            if len(raw) > MAX_INPUT:
                raise ValueError("hook input too large")
            flags = frozenset(f.decode("ascii", "replace") for f in header[1:])
            result = server.decider.decide(raw.decode("utf-8", "replace"), flags)
        except Exception as exc:
            result = block(f"the hook daemon could not read the request ({type(exc).__name__}); blocking the call")
        self.wfile.write(encode_reply(result.stdout, result.stderr, result.exit_code))


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, decider: Decider) -> None:
        self.decider = decider
        self.last = time.monotonic()
        super().__init__(path, _Handler)

    def touch(self) -> None:
        self.last = time.monotonic()


def serve(path: str, decider_factory: Any) -> int:
    import fcntl

    lock = open(path + ".lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 3  # another daemon for this key runs (or is starting)
    decider = decider_factory()
    try:
        os.unlink(path)  # a stale socket of a daemon that died
    except FileNotFoundError:
        pass
    old = os.umask(0o077)
    try:
        server = _Server(path, decider)
    finally:
        os.umask(old)
    Path(path + ".pid").write_text(str(os.getpid()))
    idle = float(os.environ.get("BASTION_HOOK_IDLE", "900"))

    def reaper() -> None:
        while True:
            time.sleep(min(5.0, max(idle / 4, 0.05)))
            if time.monotonic() - server.last > idle:
                server.shutdown()
                return

    threading.Thread(target=reaper, name="bastion-hook-idle", daemon=True).start()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        for suffix in ("", ".pid"):
            try:
                os.unlink(path + suffix)
            except FileNotFoundError:
                pass
        decider.close()
        lock.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def factory() -> Decider:
        return Decider(args.policy, args.toolmap, args.config, args.record)

    if args.oneshot:
        raw = sys.stdin.buffer.read().decode("utf-8", "replace")
        decider = factory()
        try:
            flags = frozenset(f for f, on in (("passthrough-allow", args.passthrough_allow), ("always-ask", args.always_ask)) if on)
            result = decider.decide(raw, flags)
        finally:
            decider.close()
        sys.stdout.buffer.write(encode_reply(result.stdout, result.stderr, result.exit_code))
        return 0
    if not args.socket:
        print("--serve needs --socket", file=sys.stderr)
        return 2
    return serve(args.socket, factory)


if __name__ == "__main__":
    sys.exit(main())
