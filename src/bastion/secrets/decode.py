"""Bounded decoding of base64, hex and percent-encoded chunks.

A secret wrapped in one encoding is still a secret: ``Authorization: Basic``
values, Kubernetes ``data:`` fields, a token pasted as ``%2F``-escaped query
text. The scanner's one Hyperscan pass reports where a *trigger* occurs (the
base64 or hex spelling of a credential word, an escaped URL delimiter; see
below); `chunks_at` widens each such position to the encoded run around it,
decodes the runs that turn into readable text, and the scanner scans the result
again, one level less deep. `find_chunks` finds every run of a text with the
fixed patterns below (Python ``re``, character classes only, so no
backtracking): for `decode_all` and for texts with too many trigger positions.

Bounds: base64 chunks of 20+ characters and hex chunks of 32+ digits only, at most `MAX_CHUNKS` chunks and
`MAX_DECODED_BYTES` decoded bytes per call, decoded text must be at least
`MIN_PRINTABLE` printable. Depth is bounded by the caller.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

MAX_CHUNKS = 2000
MAX_DECODED_BYTES = 4 * 1024 * 1024
MIN_PRINTABLE = 0.9

# base64 (standard or url-safe) runs of 20+ characters; "=" only as trailing padding
_B64 = re.compile(r"[A-Za-z0-9+/_\-]{20,}={0,2}")
# hex runs of 32+ digits (16+ bytes); evenness and boundaries are checked in Python
_HEX = re.compile(r"[0-9A-Fa-f]{32,}")
_DELETE_HEX = str.maketrans("", "", "0123456789abcdefABCDEF")
_DELETE_B64_BODY = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
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


# --------------------------------------------------------------------------- triggers
#
# Decoding every base64-looking run of a large text costs far more than scanning it.
# A secret is found after decoding only if the decoded text holds what a detector
# looks for: a credential keyword or a token prefix. Those words have a fixed
# spelling in base64 (one per byte alignment) and in hex, so the scanner looks for
# the spellings, with the same single pass, and decodes only when one occurs.

TRIGGER_WORDS = (
    "password", "passwd", "secret", "token", "apikey", "api_key", "api-key", "bearer", "authorization",
    "credential", "private key", "-----begin", "aws_", "akia", "asia", "ghp_", "gho_", "ghs_", "ghu_",
    "github_pat_", "glpat-", "xoxb-", "xoxp-", "xoxa-", "xoxe", "sk_live_", "sk_test_", "rk_live_",
    "sk-ant-", "sk-proj-", "aiza", "hf_", "npm_", "pypi-", "postgres", "mongodb", "mysql", "redis", "amqp",
    "://", "sg.", "dapi", "access_key", "accesskey", "client_secret", "pwd=", "pass=",
)


def _casings(word: str) -> set[str]:
    return {word, word.upper(), word[:1].upper() + word[1:]}


def b64_spellings(word: str, min_len: int = 5) -> set[str]:
    """Base64 substrings that appear whenever `word` is encoded, whatever its alignment."""
    out: set[str] = set()
    raw = word.encode()
    for pad in range(3):
        enc = base64.b64encode(b"\x00" * pad + raw + b"\x00\x00").decode()
        first = (pad * 8 + 5) // 6  # characters touched by the padding before
        last = ((pad + len(raw)) * 8) // 6  # characters fully determined by the word
        part = enc[first:last]
        if len(part) >= min_len:
            out.add(part)
            out.add(part.replace("+", "-").replace("/", "_"))
    return out


def trigger_literals() -> dict[str, set[str]]:
    """encoding -> literals whose presence makes decoding worth it."""
    b64: set[str] = set()
    hx: set[str] = set()
    for w in TRIGGER_WORDS:
        for c in _casings(w):
            b64 |= b64_spellings(c)
            hx.add(c.encode().hex())
    # one more level: base64 of base64 (a token encoded twice still shows a fixed spelling)
    second: set[str] = set()
    for lit in b64:
        if "-" not in lit and "_" not in lit:
            second |= b64_spellings(lit, min_len=6)
    return {"base64": b64 | second, "hex": {h for h in hx if len(h) >= 6}}


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


def _plausible_b64(chunk: str) -> bool:
    """Cheap filters, all in C: words, identifiers, numbers and hex digests are not base64 payloads."""
    body = chunk.rstrip("=")
    if body.isalpha() or body.isdigit():
        return False
    if not body.translate(_DELETE_HEX):
        return False  # only hex digits: handled (or not) as hex
    rest = body.translate(_DELETE_B64_BODY)  # what is left after removing letters
    if not rest.strip("_-") and ("_" in rest or "-" in rest):
        return False  # snake_case or kebab-case words
    return not (body.islower() or body.isupper())


# --------------------------------------------------------------------------- runs around positions

_ALPHABET = {
    "base64": b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-",
    "hex": b"0123456789abcdefABCDEF",
    "percent": "".join(sorted(_URL_CHARS)).encode("ascii"),
}
_RUN_RIGHT = {
    "base64": re.compile(rb"[A-Za-z0-9+/_\-]*={0,2}"),
    "hex": re.compile(rb"[0-9A-Fa-f]*"),
    "percent": re.compile(rb"[A-Za-z0-9._~!$'()*+,;=:@/?%\-]*"),
}
#: shortest run worth decoding, per encoding (the bounds in the module docstring)
_MIN_RUN = {"base64": 20, "hex": 32, "percent": 3}


def _run_around(data: bytes, q: int, enc: str) -> tuple[int, int]:
    """The maximal run of `enc` characters of `data` that holds byte `q` (all in C)."""
    chars = _ALPHABET[enc]
    s = q
    step = 256
    while s > 0:
        lo = max(0, s - step)
        seg = data[lo:s]
        k = len(seg) - len(seg.rstrip(chars))
        s -= k
        if k < len(seg):
            break
        step *= 4
    e = _RUN_RIGHT[enc].match(data, q).end()
    return s, e


def chunks_at(data: bytes, ends: dict[str, list[int]]) -> list[Chunk]:
    """Decodable chunks of `data` (UTF-8) around the trigger positions the scanner's pass reported.

    `ends` maps an encoding to the end offsets (bytes, increasing) of its triggers; each
    lies inside the run to decode. Offsets in the chunks are byte offsets in `data`.
    Same bounds and precedence as `find_chunks` (percent, then hex, then base64).
    """
    cands: list[tuple[int, int, str]] = []
    for enc in ("percent", "hex", "base64"):
        last = -1
        for p in ends.get(enc, ()):
            q = p - 1
            if q < last or q < 0:
                continue  # inside the run already taken
            s, e = _run_around(data, q, enc)
            last = e
            if e - s >= _MIN_RUN[enc]:
                cands.append((s, e, enc))
    return _decode_candidates(cands, lambda s, e: data[s:e].decode("ascii"), len(data))


def find_chunks(text: str, want: frozenset[str] = frozenset({"base64", "hex", "percent"})) -> list[Chunk]:
    """Decodable chunks of `text`, non-overlapping, in order, within the bounds above."""
    cands: list[tuple[int, int, str]] = []
    if "percent" in want and "%" in text:
        cands += [(s, e, "percent") for s, e in _percent_runs(text)]
    if "hex" in want:
        cands += [(m.start(), m.end(), "hex") for m in _HEX.finditer(text)]
    if "base64" in want:
        cands += [(m.start(), m.end(), "base64") for m in _B64.finditer(text)]
    return _decode_candidates(cands, lambda s, e: text[s:e], len(text))


def _decode_candidates(cands: list[tuple[int, int, str]], text_of, size: int) -> list[Chunk]:
    """Decode candidate runs, in the given order of precedence, skipping overlaps, within the bounds."""
    out: list[Chunk] = []
    budget = MAX_DECODED_BYTES
    taken: list[tuple[int, int]] = []  # sorted, non-overlapping

    def overlaps(start: int, end: int) -> bool:
        i = bisect.bisect_right(taken, (start, size + 1)) - 1
        if i >= 0 and taken[i][1] > start:
            return True
        return i + 1 < len(taken) and taken[i + 1][0] < end

    for s, e, enc in cands:
        if len(out) >= MAX_CHUNKS:
            break
        chunk = text_of(s, e)
        if enc == "percent":
            try:
                raw = unquote_to_bytes(chunk)
            except ValueError:
                continue
        elif enc == "hex":
            if (e - s) % 2 or overlaps(s, e):
                continue
            raw = bytes.fromhex(chunk)
        else:
            if not _plausible_b64(chunk) or overlaps(s, e):
                continue
            raw = _b64(chunk)
        if raw is None or len(raw) > budget:
            continue
        decoded = _readable(raw)
        if decoded is None:
            continue
        budget -= len(raw)
        bisect.insort(taken, (s, e))
        out.append(Chunk(s, e, enc, decoded))
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
