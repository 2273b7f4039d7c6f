"""Command-line options, normalised: `-rf`, `-r -f`, `--recursive --force`, `-fr` are one thing.

Each program that Bastion knows declares an `OptionSpec`: which options take a value
(so that `tar -f x.tar` does not make `x.tar` an operand, and `-n5` is read right)
and canonical names (`r`, `R` and `recursive` all become `recursive`). Parsing is
GNU-style by default (options may follow operands), `--` ends options, `-` alone is
an operand (stdin), and `--name=value` is split. Options written as run-time
expansions (`rm $FLAGS x`) cannot be known and set `dynamic`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from bastion.analysis.words import Word


@dataclass(frozen=True)
class OptionSpec:
    #: short option letters that take a value (`"fC"` for tar -f FILE, -C DIR)
    short_values: str = ""
    #: long option names (without `--`) that take a value
    long_values: frozenset[str] = frozenset()
    #: option spelling (without dashes) -> canonical name
    aliases: Mapping[str, str] = field(default_factory=dict)
    #: stop at the first operand (POSIX style; for programs whose operands are a command)
    posix: bool = False
    #: long options may be written with one dash (`-name`, as find and java do)
    single_dash_long: bool = False

    @staticmethod
    def make(
        short_values: str = "",
        long_values: Iterable[str] = (),
        aliases: Mapping[str, str] | None = None,
        posix: bool = False,
        single_dash_long: bool = False,
    ) -> "OptionSpec":
        return OptionSpec(short_values, frozenset(long_values), dict(aliases or {}), posix, single_dash_long)


EMPTY = OptionSpec()


@dataclass
class ParsedArgs:
    #: canonical option name -> value (True when given without a value; last one wins)
    options: dict[str, str | bool]
    operands: list[Word]
    #: an option or operand was a run-time expansion that may hide options
    dynamic: bool = False
    #: everything after the first operand, for posix specs (a command and its arguments)
    rest: list[Word] = field(default_factory=list)

    def has(self, *names: str) -> bool:
        return any(n in self.options for n in names)

    def value(self, *names: str) -> str | None:
        for n in names:
            v = self.options.get(n)
            if isinstance(v, str):
                return v
        return None


def parse_args(args: Iterable[Word], spec: OptionSpec = EMPTY) -> ParsedArgs:
    words = list(args)
    options: dict[str, str | bool] = {}
    operands: list[Word] = []
    dynamic = False
    alias = spec.aliases
    i, n = 0, len(words)
    while i < n:
        w = words[i]
        t = w.text
        if w.dynamic and (t.startswith("$") or t.startswith("`")) and not operands:
            dynamic = True  # `$OPTS` may expand to options
        if t == "--":
            operands.extend(words[i + 1 :])
            if spec.posix:
                return ParsedArgs(options, operands, dynamic, words[i + 1 :])
            break
        if len(t) < 2 or not t.startswith("-"):
            operands.append(w)
            if spec.posix:
                return ParsedArgs(options, operands, dynamic, words[i:])
            i += 1
            continue
        if t.startswith("--") or (spec.single_dash_long and len(t) > 2):
            body = t[2:] if t.startswith("--") else t[1:]
            name, eq, value = body.partition("=")
            canon = alias.get(name, name)
            if eq:
                options[canon] = value
            elif name in spec.long_values and i + 1 < n:
                options[canon] = words[i + 1].text
                i += 1
            else:
                options[canon] = True
            i += 1
            continue
        # a cluster of short options: -rf, -n5, -fFILE
        j = 1
        while j < len(t):
            letter = t[j]
            canon = alias.get(letter, letter)
            if letter in spec.short_values:
                if j + 1 < len(t):
                    options[canon] = t[j + 1 :]
                elif i + 1 < n:
                    options[canon] = words[i + 1].text
                    i += 1
                else:
                    options[canon] = True
                break
            options[canon] = True
            j += 1
        i += 1
    return ParsedArgs(options, operands, dynamic)


def canonical_flags(parsed: ParsedArgs, limit: int = 24) -> list[str]:
    """Option names for facts (`facts.flags: [recursive, force]`), sorted, bounded."""
    return sorted(parsed.options)[:limit]
