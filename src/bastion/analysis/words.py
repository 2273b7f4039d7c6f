"""Shell words: the unquoted value of one argument, and whether it is known.

tree-sitter-bash gives the structure of a word (quotes, escapes, expansions) but not
its value; these helpers compute the value the way bash would before the program
sees it. Anything computed at run time (an unresolved `$VAR`, `$(cmd)`, `$((1+1))`)
keeps its source text and marks the word `dynamic`, so no rule ever mistakes
`rm -rf $TARGET` for a harmless literal.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    """One argument after quote removal. `text` keeps unresolved expansions as written."""

    text: str
    dynamic: bool = False
    glob: bool = False

    def __str__(self) -> str:
        return self.text


def unescape_unquoted(raw: str) -> tuple[str, bool]:
    """Backslash removal outside quotes: `\\rm` -> `rm`, `\\;` -> `;`. Returns (value, has_glob)."""
    if "\\" not in raw:
        return raw, ("*" in raw or "?" in raw or "[" in raw)
    out: list[str] = []
    glob = False
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\":
            if i + 1 < n:
                nxt = raw[i + 1]
                if nxt != "\n":  # backslash-newline is a line continuation
                    out.append(nxt)
                i += 2
                continue
            i += 1
            continue
        if ch in "*?[":
            glob = True
        out.append(ch)
        i += 1
    return "".join(out), glob


_DQ_ESCAPES = frozenset('\\"$`')


def unescape_double(raw: str) -> str:
    """Backslash removal inside double quotes: only \\\\ \\" \\$ \\` and newline are special."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\" and i + 1 < n:
            nxt = raw[i + 1]
            if nxt in _DQ_ESCAPES:
                out.append(nxt)
                i += 2
                continue
            if nxt == "\n":
                i += 2
                continue
        out.append(ch)
        i += 1
    return "".join(out)


_ANSI_SIMPLE = {
    "n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f",
    "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?",
}  # fmt: skip
_HEX = frozenset("0123456789abcdefABCDEF")
_OCT = frozenset("01234567")


def decode_ansi_c(body: str) -> str:
    """The value of `$'...'` (without the `$'` and `'`): `$'\\x72\\x6d'` is `rm`."""
    if "\\" not in body:
        return body
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        c = body[i + 1]
        if c in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[c])
            i += 2
        elif c == "x":
            j = i + 2
            while j < n and j < i + 4 and body[j] in _HEX:
                j += 1
            out.append(chr(int(body[i + 2 : j], 16)) if j > i + 2 else "\\x")
            i = j
        elif c in ("u", "U"):
            width = 4 if c == "u" else 8
            j = i + 2
            while j < n and j < i + 2 + width and body[j] in _HEX:
                j += 1
            code = int(body[i + 2 : j], 16) if j > i + 2 else None
            out.append(chr(code) if code is not None and code <= 0x10FFFF else "\\" + c)
            i = j
        elif c in _OCT:
            j = i + 1
            while j < n and j < i + 4 and body[j] in _OCT:
                j += 1
            out.append(chr(int(body[i + 1 : j], 8) & 0xFF))
            i = j
        elif c == "c" and i + 2 < n:  # control character
            out.append(chr(ord(body[i + 2]) & 0x1F))
            i += 3
        else:
            out.append("\\" + c)
            i += 2
    return "".join(out)
