"""Redaction markers: ``[REDACTED:aws_access_key:3f9a]``.

The suffix is a short keyed fingerprint (HMAC-SHA256 of the secret), so the same
secret gets the same marker wherever it appears (an auditor can tell "the same key
was sent twice" without seeing it) while the marker reveals nothing about the
secret to anyone without the key. It is never a prefix or a plain hash of the
secret: a plain hash of a short password can be brute-forced, a keyed one cannot.

The key, in order of precedence:
1. the ``key=`` given to `Redactor` (tests, embedding applications);
2. ``BASTION_REDACTION_KEY``: hex (32+ hex digits) or any other string, used as bytes;
3. a per-install key file: ``BASTION_REDACTION_KEY_FILE``, else
   ``$XDG_CONFIG_HOME/bastion/redaction.key`` (``~/.config/bastion/redaction.key``),
   created with mode 0600 and 32 random bytes on first use;
4. a per-process random key when the file can be neither read nor created.

Markers are therefore stable within a process always, and across processes on one
install unless the key file is unavailable.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from pathlib import Path

#: hex digits of fingerprint in a marker; 4 (16 bits) tells secrets apart in one record
#: without making the marker a usable oracle
DEFAULT_FINGERPRINT_LENGTH = 4

_lock = threading.Lock()
_cached: tuple[bytes, str] | None = None


def _parse_key(text: str) -> bytes:
    text = text.strip()
    if len(text) >= 32 and len(text) % 2 == 0:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return text.encode("utf-8")


def key_file_path() -> Path:
    explicit = os.environ.get("BASTION_REDACTION_KEY_FILE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "bastion" / "redaction.key"


def _load_or_create(path: Path) -> bytes | None:
    try:
        data = path.read_text(encoding="ascii").strip()
        if data:
            return _parse_key(data)
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError):
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: read theirs
        try:
            return _parse_key(path.read_text(encoding="ascii"))
        except (OSError, UnicodeDecodeError):
            return None
    except OSError:
        return None
    key = os.urandom(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")
    return key


def default_key() -> tuple[bytes, str]:
    """The process-wide key and where it came from ("env", "file:<path>", "process")."""
    global _cached
    with _lock:
        if _cached is not None:
            return _cached
        env = os.environ.get("BASTION_REDACTION_KEY")
        if env:
            _cached = (_parse_key(env), "env")
        else:
            path = key_file_path()
            key = _load_or_create(path)
            _cached = (key, f"file:{path}") if key else (os.urandom(32), "process")
        return _cached


def reset_default_key() -> None:
    """Forget the cached key (tests that change the environment)."""
    global _cached
    with _lock:
        _cached = None


def fingerprint(secret: str, key: bytes, length: int = DEFAULT_FINGERPRINT_LENGTH) -> str:
    digest = hmac.new(key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return digest[:length]


def marker(kind: str, secret: str, key: bytes, length: int = DEFAULT_FINGERPRINT_LENGTH) -> str:
    return f"[REDACTED:{kind}:{fingerprint(secret, key, length)}]"
