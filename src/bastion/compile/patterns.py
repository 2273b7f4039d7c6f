"""String patterns -> RE2 syntax.

Every pattern a policy author writes (glob, path glob, regex, prefix, literal) is
translated to RE2 and run by google-re2, whose matching time is linear in the input:
neither an author's pattern nor an agent's input can cause catastrophic backtracking.
Target patterns of many rules are combined into one `re2.Set` by the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import re2

GLOB_CHARS = frozenset("*?[{")

_OPTIONS = re2.Options()
_OPTIONS.max_mem = 256 << 20  # room for large combined sets (10k+ patterns)


class PatternError(ValueError):
    """An invalid glob or regex; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled string pattern. `regex` is RE2 syntax, ready for a set."""

    kind: str  # glob | path | regex | literal | prefix | suffix | contains
    source: str
    regex: str
    ignore_case: bool = False

    def compile(self) -> "re2._Regexp":
        return compile_re2(self.regex)


def compile_re2(regex: str) -> "re2._Regexp":
    try:
        return re2.compile(regex, options=_OPTIONS)
    except re2.error as exc:
        raise PatternError(f"invalid regular expression {regex!r}: {exc}") from None
    except UnicodeEncodeError:
        raise PatternError(f"pattern {regex!r} is not valid UTF-8 text (lone surrogate)") from None


def new_set() -> "re2.Set":
    return re2.Set.SearchSet(_OPTIONS)


def match_any(patterns: "Sequence[Pattern]") -> Callable[[bytes], list[int]]:
    """One RE2 set of `patterns`, as its raw match: UTF-8 bytes in, the indexes of the
    patterns found anywhere in them out (empty: none). A matcher's patterns are tested
    in one pass, and without what `re2.search` adds for a match object (a generator and
    byte-to-character offset translation): about a fifth of its cost per test."""
    s = new_set()
    for p in patterns:
        s.Add(p.regex)
    s.Compile()
    return s._set.Match  # the wrapper's Set.Match, minus its str check and `or None`


def _flags(ignore_case: bool) -> str:
    return "(?si)" if ignore_case else "(?s)"


def _escape(text: str) -> str:
    return re2.escape(text)


def _class(glob: str, i: int) -> tuple[str, int]:
    """Translate a [...] class starting at glob[i] == '['; return (regex, next index)."""
    j = i + 1
    if j < len(glob) and glob[j] in "!^":
        j += 1
    if j < len(glob) and glob[j] == "]":
        j += 1
    while j < len(glob) and glob[j] != "]":
        j += 1
    if j >= len(glob):
        raise PatternError(f"unclosed '[' in glob {glob!r}")
    body = glob[i + 1 : j]
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    body = body.replace("\\", "\\\\").replace("[", "\\[")
    return ("[^" if negate else "[") + body + "]", j + 1


def glob_to_regex(glob: str, *, path: bool) -> str:
    """Translate a glob. In `path` mode `*` stays within a segment and `**` crosses them."""
    out: list[str] = []
    i, n = 0, len(glob)
    depth = 0  # inside {a,b}
    while i < n:
        c = glob[i]
        if c == "\\" and i + 1 < n:
            out.append(_escape(glob[i + 1]))
            i += 2
            continue
        if c == "*":
            if path and glob.startswith("**", i):
                at_start = i == 0 or glob[i - 1] == "/"
                after = glob[i + 2 : i + 3]
                if at_start and after == "/":  # '**/' : zero or more directories
                    out.append("(?:.*/)?")
                    i += 3
                    continue
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*" if path else ".*")
            i += 1
            while i < n and glob[i] == "*" and not path:
                i += 1
            continue
        if c == "?":
            out.append("[^/]" if path else ".")
        elif c == "[":
            cls, i = _class(glob, i)
            out.append(cls)
            continue
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(_escape(c))
        i += 1
    if depth:
        raise PatternError(f"unclosed '{{' in glob {glob!r}")
    return "".join(out)


def make_pattern(kind: str, source: str, ignore_case: bool = False) -> Pattern:
    """Build a Pattern of `kind` from the author's text; validate it with RE2."""
    if not isinstance(source, str):
        raise PatternError(f"a {kind} pattern must be a string, got {type(source).__name__}")
    flags = _flags(ignore_case)
    if kind == "glob":
        body = r"\A" + glob_to_regex(source, path=False) + r"\z"
    elif kind == "path":
        inner = glob_to_regex(source, path=True)
        if "/" not in source.rstrip("/"):  # like .gitignore: a bare name matches at any depth
            inner = "(?:.*/)?" + inner
        body = r"\A" + inner + r"/?\z"
    elif kind == "regex":
        body = source
    elif kind == "literal":
        body = r"\A" + _escape(source) + r"\z"
    elif kind == "prefix":
        body = r"\A" + _escape(source)
    elif kind == "suffix":
        body = _escape(source) + r"\z"
    elif kind == "contains":
        body = _escape(source)
    else:  # pragma: no cover - callers pass known kinds
        raise PatternError(f"unknown pattern kind {kind!r}")
    regex = flags + "(?:" + body + ")"
    compile_re2(regex)  # validate now, so a bad pattern is a load error
    return Pattern(kind, source, regex, ignore_case)


def looks_like_glob(text: str) -> bool:
    return any(ch in GLOB_CHARS for ch in text)
