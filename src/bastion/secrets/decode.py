"""Bounded decoding of base64, hex and percent-encoded chunks.

A secret wrapped in one encoding is still a secret: ``Authorization: Basic``
values, Kubernetes ``data:`` fields, a token pasted as ``%2F``-escaped query
text. The scanner finds candidate chunks with the fixed patterns below (Python
``re``, character classes only, so no backtracking), decodes the ones that turn
into readable text, and scans the result again, one level less deep.

Bounds: chunks of 16+ characters only, at most `MAX_CHUNKS` chunks and
`MAX_DECODED_BYTES` decoded bytes per call, decoded text must be at least
`MIN_PRINTABLE` printable. Depth is bounded by the caller.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

MIN_CHUNK = 16
MAX_CHUNKS = 2000
MAX_DECODED_BYTES = 4 * 1024 * 1024
MIN_PRINTABLE = 0.9

# base64 (standard or url-safe) runs; "=" only as trailing padding
_B64 = re.compile(r"[A-Za-z0-9+/_\-]{16,}={0,2}")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){8,}(?![0-9A-Fa-f])")
# percent escapes; a chunk is the run of URL characters around them
_PCT = re.compile(r"%[0-9A-Fa-f]{2}")
_URL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~!$'()*+,;=:@/?-%")


def _percent_runs(text: str) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    end = -1
    n = len(text)
    for m in _PCT.finditer(text):
        if m.start() < end:
            continue  # inside the run already taken
        s = m.start()
        while s > 0 and text[s - 1] in _URL_CHARS and s > end:
            s -= 1
        e = m.end()
        while e < n and text[e] in _URL_CHARS:
            e += 1
        runs.append((s, e))
        end = e
    return runs


@dataclass(frozen=True, slots=True)
class Chunk:
    start: int
    end: int
    encoding: str  # "base64", "hex", "percent"
    text: str


def _readable(raw: bytes) -> str | None:
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\n\r\t")
    if printable < MIN_PRINTABLE * len(text):
        return None
    return text


def _b64(chunk: str) -> bytes | None:
    body = chunk.rstrip("=")
    if len(body) % 4 == 1:
        return None
    if "-" in body or "_" in body:
        if "+" in body or "/" in body:
            return None  # mixed alphabets: not base64
        body = body.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _looks_like_word_run(chunk: str) -> bool:
    """Identifiers and words (``ThisIsAClassName``, ``snake_case_name``) are not base64."""
    letters = sum(ch.isalpha() for ch in chunk)
    return letters == len(chunk) and (chunk.islower() or chunk.isupper())


def find_chunks(text: str, want: frozenset[str] = frozenset({"base64", "hex", "percent"})) -> list[Chunk]:
    """Decodable chunks of `text`, non-overlapping, in order, within the bounds above."""
    out: list[Chunk] = []
    budget = MAX_DECODED_BYTES
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, enc: str, raw: bytes | None) -> None:
        nonlocal budget
        if raw is None or len(out) >= MAX_CHUNKS or len(raw) > budget:
            return
        decoded = _readable(raw)
        if decoded is None:
            return
        budget -= len(raw)
        taken.append((start, end))
        out.append(Chunk(start, end, enc, decoded))

    if "percent" in want and "%" in text:
        for s, e in _percent_runs(text):
            try:
                raw = unquote_to_bytes(text[s:e])
            except ValueError:
                continue
            add(s, e, "percent", raw)
    if "hex" in want:
        for m in _HEX.finditer(text):
            add(m.start(), m.end(), "hex", bytes.fromhex(m.group(0)))
    if "base64" in want:
        for m in _B64.finditer(text):
            s, e = m.start(), m.end()
            if any(a <= s < b or a < e <= b for a, b in taken):
                continue
            chunk = m.group(0)
            if _looks_like_word_run(chunk):
                continue
            add(s, e, "base64", _b64(chunk))
    out.sort(key=lambda c: c.start)
    return out


def decode_all(text: str, rounds: int = 3) -> str:
    """Decode every chunk in place, repeatedly (for tests and the CLI's --decode view)."""
    for _ in range(rounds):
        chunks = find_chunks(text)
        if not chunks:
            break
        parts: list[str] = []
        pos = 0
        for c in chunks:
            if c.start < pos:
                continue
            parts.append(text[pos : c.start])
            parts.append(c.text)
            pos = c.end
        parts.append(text[pos:])
        new = "".join(parts)
        if new == text:
            break
        text = new
    return text
