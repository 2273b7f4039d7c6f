"""The Claude Code hook's fast client. Standard library only; runs as a script.

Claude Code starts the hook once per tool call, so start-up time is the hook's latency.
Importing Bastion and compiling a policy takes a second or more; this client instead
forwards the PreToolUse input to a per-project daemon (`hook_server`) that keeps the
compiled policy warm, starting it on first use. `bastion hook install claude-code`
writes the command as `PYTHON -P -S .../hook_client.py claude-code ...`: run by path with
`-S`, not even the `bastion` package is imported.

If the daemon cannot be used, the decision is made in a one-shot process instead (slow
but correct). If that fails too, the client exits 2 with the reason on stderr, which
blocks the call: the hook never fails open.
"""

from __future__ import annotations

import os
import sys

# The hot path imports only C modules: `json`, `socket` and `hashlib` would pull in `re`
# and `enum` and double the start-up time. The wire format is therefore plain bytes.
import _socket

try:
    from _sha256 import sha256 as _sha256
except ImportError:  # pragma: no cover - a Python without the builtin module
    from hashlib import sha256 as _sha256

#: files whose change means the daemon runs stale code and must not be reused
_CODE_FILES = (
    "__init__.py", "engine.py", "model.py", "config.py",
    "integrations/claude_code.py", "integrations/enforce.py", "integrations/toolmap.py",
    "integrations/hook_server.py", "integrations/hook_client.py", "data/toolmap.yaml",
)
_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: environment variables that change what the daemon decides
_ENV = ("BASTION_POLICIES", "BASTION_CONFIG", "BASTION_DB", "BASTION_REDACTION_KEY")
START_TIMEOUT = 90.0
REQUEST_TIMEOUT = 60.0

USAGE = "usage: hook_client.py claude-code [--policy P]... [--toolmap F]... [--config F] [--record] [--no-daemon] [--passthrough-allow] [--always-ask]"
#: options that change how an answer is rendered (sent with each request, not part of the daemon's key)
RENDER_FLAGS = ("passthrough-allow", "always-ask")


class UsageError(Exception):
    pass


def parse_args(argv: list[str]) -> dict:
    if not argv or argv[0] != "claude-code":
        raise UsageError(USAGE)
    opts: dict = {"policies": [], "toolmaps": [], "config": None, "record": False, "no_daemon": False, "passthrough_allow": False, "always_ask": False}
    it = iter(argv[1:])
    for arg in it:
        name, eq, value = arg.partition("=")
        if name in ("--policy", "-p", "--toolmap", "--config"):
            if not eq:
                value = next(it, None)
                if value is None:
                    raise UsageError(f"{name} needs a value")
            if name == "--config":
                opts["config"] = value
            else:
                opts["toolmaps" if name == "--toolmap" else "policies"].append(value)
        elif arg in ("--record", "--no-daemon", "--passthrough-allow", "--always-ask"):
            opts[arg[2:].replace("-", "_")] = True
        else:
            raise UsageError(f"unknown option {arg!r}\n{USAGE}")
    return opts


def forward_args(opts: dict) -> list[str]:
    """The options as absolute paths (the daemon may outlive this working directory)."""
    out: list[str] = []
    for p in opts["policies"]:
        out += ["--policy", p if p.startswith("builtin:") else os.path.abspath(p)]
    for t in opts["toolmaps"]:
        out += ["--toolmap", os.path.abspath(t)]
    if opts["config"]:
        out += ["--config", os.path.abspath(opts["config"])]
    if opts["record"]:
        out.append("--record")
    return out


def _stamp() -> list:
    out = []
    for rel in _CODE_FILES:
        try:
            st = os.stat(os.path.join(_PKG, rel))
            out.append([rel, st.st_mtime_ns, st.st_size])
        except OSError:
            out.append([rel, None])
    return out


def socket_dir() -> str:
    """A directory only this user can use: $BASTION_HOOK_DIR, $XDG_RUNTIME_DIR/bastion or /tmp/bastion-UID."""
    base = os.environ.get("BASTION_HOOK_DIR")
    if not base:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        base = os.path.join(xdg, "bastion") if xdg and os.path.isdir(xdg) else f"/tmp/bastion-{os.geteuid()}"
    try:
        os.mkdir(base, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(base)
    if (st.st_mode & 0o170000) != 0o040000 or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise PermissionError(f"{base} is not a private directory of this user")
    return base


def socket_path(fwd: list[str]) -> str:
    # the interpreter by what it is (`python` and `python3` are symlinks to one binary; with
    # -S, sys.prefix does not name the venv) and the package by where its code lives
    interpreter = (os.path.realpath(sys.executable), _PKG)
    key = repr((interpreter, os.getcwd(), fwd, [os.environ.get(k) for k in _ENV], _stamp()))
    digest = _sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return os.path.join(socket_dir(), f"hook-{digest}.sock")


#: request: MAGIC, flags, newline, then the hook input until end of stream
MAGIC = b"BASTION-HOOK/1"


def encode_reply(stdout: str | None, stderr: str, exit_code: int) -> bytes:
    """`EXIT STDOUT_LEN STDERR_LEN\n` + stdout + stderr (UTF-8); STDOUT_LEN -1 = no output."""
    out = b"" if stdout is None else stdout.encode("utf-8")
    err = stderr.encode("utf-8")
    return b"%d %d %d\n" % (exit_code, -1 if stdout is None else len(out), len(err)) + out + err


def decode_reply(data: bytes) -> dict:
    head, sep, body = data.partition(b"\n")
    parts = head.split()
    if not sep or len(parts) != 3:
        raise ValueError("malformed reply from the hook daemon")
    code, n_out, n_err = (int(p) for p in parts)
    if len(body) != max(n_out, 0) + n_err:
        raise ValueError("truncated reply from the hook daemon")
    out = None if n_out < 0 else body[:n_out].decode("utf-8")
    return {"stdout": out, "stderr": body[max(n_out, 0):].decode("utf-8"), "exit": code}


def _request(path: str, message: bytes, timeout: float) -> dict:
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(message)
        s.shutdown(_socket.SHUT_WR)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        s.close()
    return decode_reply(b"".join(chunks))


def _spawn(path: str, fwd: list[str]) -> object:
    import subprocess

    log = open(path + ".log", "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "bastion.integrations.hook_server", "--serve", "--socket", path, *fwd],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
        )
    finally:
        log.close()


def via_daemon(raw: bytes, opts: dict) -> dict:
    import time

    fwd = forward_args(opts)
    path = socket_path(fwd)
    flags = b"".join(b" " + f.encode() for f in RENDER_FLAGS if opts[f.replace("-", "_")])
    message = MAGIC + flags + b"\n" + raw
    try:
        return _request(path, message, REQUEST_TIMEOUT)
    except (FileNotFoundError, ConnectionRefusedError):
        pass
    proc = _spawn(path, fwd)
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.01
    while True:
        try:
            return _request(path, message, REQUEST_TIMEOUT)
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise TimeoutError("the hook daemon did not start in time")
            code = proc.poll()  # type: ignore[attr-defined]
            if code not in (None, 0, 3):  # 3: another daemon holds the lock and is starting
                raise RuntimeError(f"the hook daemon exited with status {code} (see {path}.log)")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.1)


def oneshot(raw: bytes, opts: dict) -> dict:
    """Decide in a fresh process (no daemon): slow, but needs nothing else."""
    import subprocess

    args = forward_args(opts) + [f"--{f}" for f in RENDER_FLAGS if opts[f.replace("-", "_")]]
    r = subprocess.run([sys.executable, "-P", "-m", "bastion.integrations.hook_server", "--oneshot", *args], input=raw, capture_output=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode("utf-8", "replace").strip()[-500:] or f"exit status {r.returncode}")
    return decode_reply(r.stdout)


def run(argv: list[str], raw: bytes) -> dict:
    """What to print and the exit status, as {stdout, stderr, exit}. Never raises."""
    try:
        opts = parse_args(argv)
    except UsageError as exc:
        return {"stdout": None, "stderr": f"Bastion: {exc}\n", "exit": 2}
    errors = []
    if not opts["no_daemon"] and hasattr(_socket, "AF_UNIX"):
        try:
            return via_daemon(raw, opts)
        except Exception as exc:  # fall back to a one-shot decision
            errors.append(f"daemon: {type(exc).__name__}: {exc}")
    try:
        return oneshot(raw, opts)
    except Exception as exc:
        errors.append(f"one-shot: {type(exc).__name__}: {exc}")
    return {"stdout": None, "stderr": "Bastion: the enforcement hook failed; blocking the call (" + "; ".join(errors)[:800] + ")\n", "exit": 2}


def main(argv: list[str] | None = None) -> int:
    try:
        raw = sys.stdin.buffer.read()
        reply = run(sys.argv[1:] if argv is None else argv, raw)
        if reply.get("stdout"):
            sys.stdout.write(reply["stdout"] + "\n")
            sys.stdout.flush()
        if reply.get("stderr"):
            sys.stderr.write(reply["stderr"])
        code = reply.get("exit")
        return code if isinstance(code, int) else 2
    except BaseException as exc:  # never fail open
        try:
            sys.stderr.write(f"Bastion: the enforcement hook crashed; blocking the call ({type(exc).__name__})\n")
        except Exception:
            pass
        return 2


if __name__ == "__main__":
    sys.exit(main())
