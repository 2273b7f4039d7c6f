"""Signed checkpoints: an Ed25519 signature over (seq, hash) of the chain at some point.

The chain alone proves that records were not edited in place, but whoever can write the
database can rewrite the whole chain, or cut its tail and move the head. A checkpoint
signed with a key kept elsewhere pins the chain up to its seq: a verifier holding only
the public key detects any rewrite or truncation of what the checkpoint covers.

The signed message is the canonical JSON of
`{"hash": ..., "key_id": ..., "seq": ..., "ts": ..., "v": 1}`; `key_id` is the first 16
hex digits of SHA-256 over the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bastion.canonical import canonical_bytes
from bastion.errors import BastionError

CHECKPOINT_VERSION = 1


class KeyFileError(BastionError, ValueError):
    """A key file that cannot be read or is not an Ed25519 key."""


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    ts: str
    key_id: str
    signature: str  # base64

    def message(self) -> bytes:
        return checkpoint_message(self.seq, self.hash, self.ts, self.key_id)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "ts": self.ts, "key_id": self.key_id, "signature": self.signature}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Checkpoint":
        seq = d["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError("seq must be a non-negative integer")
        for k in ("hash", "ts", "key_id", "signature"):
            if not isinstance(d[k], str):
                raise ValueError(f"{k} must be a string")
        return cls(seq, d["hash"], d["ts"], d["key_id"], d["signature"])


def checkpoint_message(seq: int, hash_: str, ts: str, kid: str) -> bytes:
    return canonical_bytes({"hash": hash_, "key_id": kid, "seq": seq, "ts": ts, "v": CHECKPOINT_VERSION})


class Signer:
    """Signs checkpoints with an Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    @classmethod
    def generate(cls) -> "Signer":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], password: bytes | None = None) -> "Signer":
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise KeyFileError(f"cannot read signing key {path}: {exc.strerror}") from None
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError):
            raise KeyFileError(f"{path} is not a PEM private key (or needs a password)") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{path} is not an Ed25519 key")
        return cls(key)

    def sign(self, seq: int, hash_: str, ts: str) -> Checkpoint:
        sig = self._key.sign(checkpoint_message(seq, hash_, ts, self.key_id))
        return Checkpoint(seq, hash_, ts, self.key_id, base64.b64encode(sig).decode("ascii"))

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def public_pem(self) -> bytes:
        return public_pem(self.public_key)


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read public key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise KeyFileError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key")
    return key


class PublicKeyRing:
    """The public keys a verifier trusts, by key id."""

    def __init__(self, keys: Iterable[Ed25519PublicKey]) -> None:
        self._keys = {key_id(k): k for k in keys}

    def __len__(self) -> int:
        return len(self._keys)

    def verify(self, cp: Checkpoint) -> Literal["valid", "invalid", "unknown-key"]:
        key = self._keys.get(cp.key_id)
        if key is None:
            return "unknown-key"
        try:
            key.verify(base64.b64decode(cp.signature, validate=True), cp.message())
        except (InvalidSignature, ValueError):
            return "invalid"
        return "valid"
