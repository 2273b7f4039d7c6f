"""Collecting derived actions: the `Context` of one analysis and the `Emitter` of one command.

Program handlers (programs/*.py) describe what a command does by calling the
emitter: `em.path("filesystem.read", word)`, `em.url(word, method="POST")`,
`em.shell(text)` for a script run by `bash -c`, `em.opaque(reason)` when they
cannot tell. The emitter normalises targets, adds common facts, bounds the output
and records the facts of the `process.spawn` subject of the command itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.analysis.frozen import FrozenDict, freeze
from bastion.analysis.paths import normalize, path_facts
from bastion.analysis.urls import canonical_url, host_facts, redact_userinfo, split_host_port, url_facts
from bastion.analysis.words import Word

if TYPE_CHECKING:  # pragma: no cover
    from bastion.analysis.shell import SimpleCommand
    from bastion.analysis.wrappers import Invocation

MAX_DEPTH = 4
MAX_DERIVED = 256
ORIGIN_CHARS = 120

#: files that are not files: writing to them is harmless, reading them reads nothing
_PSEUDO_FILES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/tty", "-"})

#: options whose value is a credential; shown as *** in origins
_SECRET_OPTIONS = frozenset(
    {
        "-H", "--header", "-u", "--user", "--password", "--pass", "--token", "--api-key", "--apikey",
        "--secret", "--client-secret", "--auth", "--oauth2-bearer", "--proxy-user", "--env",
        "--secret-string", "--secret-binary", "--private-key", "--access-key", "--secret-key",
        "--data-raw",
    }
)  # fmt: skip
_SECRET_ASSIGN = ("PASSWORD", "TOKEN", "SECRET", "KEY", "CREDENTIAL", "AUTH", "PASS")
_SECRET_HINTS = _SECRET_OPTIONS
_MYSQL = frozenset({"mysql", "mysqldump", "mysqladmin", "mariadb"})


def display(words: "tuple[Word, ...] | list[Word]", limit: int = ORIGIN_CHARS) -> str:
    """A short, credential-free rendering of a command for origins and explanations."""
    texts = [w.text for w in words]
    plain = " ".join(texts)
    if len(plain) <= limit and not (_SECRET_HINTS & set(texts)) and "=" not in plain and "@" not in plain and " " not in "".join(texts) and "" not in texts and not (texts and texts[0] in _MYSQL):
        return plain  # nothing to hide or quote: the common case
    out: list[str] = []
    hide_next = False
    mysql = bool(words) and words[0].text in _MYSQL
    for w in words:
        t = w.text
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        name, eq, value = t.partition("=")
        if t in _SECRET_OPTIONS:
            hide_next = True
            out.append(t)
        elif eq and name in _SECRET_OPTIONS:
            out.append(name + "=***")
        elif eq and name.isupper() and any(s in name for s in _SECRET_ASSIGN):
            out.append(name + "=***")
        elif mysql and t.startswith("-p") and len(t) > 2:  # mysql -pSECRET
            out.append("-p***")
        elif "://" in t and "@" in t:
            out.append(redact_userinfo(t))
        else:
            out.append(t if " " not in t and t else repr(t))
        if sum(len(x) + 1 for x in out) > limit:
            break
    text = " ".join(out)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Derived:
    capability: str
    target: str | None
    args: FrozenDict
    facts: FrozenDict
    origin: str


class Context:
    """The state of one analysis (one action): what was derived, and why it is opaque."""

    __slots__ = ("cwd", "derived", "reasons", "programs", "seen", "truncated", "max_depth", "summary", "files", "aliases")

    def __init__(self, cwd: str | None) -> None:
        self.cwd = cwd
        self.derived: list[Derived] = []
        self.reasons: list[str] = []
        self.programs: list[str] = []
        self.seen: dict[tuple[Any, ...], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
        self.truncated = False
        self.max_depth = 0
        #: facts summarised onto the action itself (privileged, remote, destructive, ...)
        self.summary: dict[str, Any] = {}
        #: files the line writes, by normalised path: their literal content (None: unknown)
        self.files: dict[str, str | None] = {}
        #: programs the line copies or links under another name (`ln -s /bin/rm x`): name -> program
        self.aliases: dict[str, str | None] = {}

    def add(self, capability: str, target: str | None, facts: dict[str, Any], args: dict[str, Any], origin: str) -> None:
        # identical derived actions (a loop, a function called twice) are kept once; an origin
        # is shortened for display, so facts are compared too before dropping one
        key = (capability, target, origin)
        same = self.seen.get(key)
        if same is not None and any(facts == f and args == a for f, a in same):
            return
        if len(self.derived) >= MAX_DERIVED:
            if not self.truncated:
                self.truncated = True
                self.opaque("too many derived actions")
            return
        self.seen.setdefault(key, []).append((facts, args))
        self.derived.append(Derived(capability, target, freeze(args), freeze(facts), origin))

    def opaque(self, reason: str) -> None:
        if reason not in self.reasons and len(self.reasons) < 16:
            self.reasons.append(reason)


class Emitter:
    """What one simple command does, as derived actions. Handlers call its methods."""

    __slots__ = ("ctx", "inv", "cmd", "depth", "remote", "via", "cwd", "cwd_dynamic", "spawn", "origin")

    def __init__(
        self,
        ctx: Context,
        inv: "Invocation",
        cmd: "SimpleCommand",
        depth: int,
        remote: str | None,
        via: tuple[str, ...],
    ) -> None:
        self.ctx = ctx
        self.inv = inv
        self.cmd = cmd
        self.depth = depth
        self.remote = inv.remote or remote
        self.via = via
        base = ctx.cwd
        if cmd.cwd is not None:
            base = normalize(cmd.cwd, ctx.cwd) if not cmd.cwd.startswith(("/", "~")) else cmd.cwd
        self.cwd = base
        self.cwd_dynamic = cmd.cwd_dynamic
        words = cmd.argv or ((Word(inv.program),) + inv.args)
        prefix = "shell" if not via else "shell (" + " → ".join(via) + ")"
        self.origin = f"{prefix}: {display(words)}"
        #: facts of this command's own process.spawn subject; handlers add verb, destructive, ...
        self.spawn: dict[str, Any] = {}

    # ------------------------------------------------------------------ emitting

    def _common(self, facts: dict[str, Any]) -> dict[str, Any]:
        facts.setdefault("program", self.inv.program.lower())
        if self.inv.privileged:
            facts["privileged"] = True
        if self.remote:
            facts["remote"] = self.remote
        if self.depth:
            facts["depth"] = self.depth
        if self.inv.stdin_args:
            facts["stdin_args"] = True
        return facts

    def emit(self, capability: str, target: str | None, facts: dict[str, Any] | None = None, args: dict[str, Any] | None = None) -> None:
        if target and "://" in target and "@" in target:
            target = " ".join(redact_userinfo(part) for part in target.split(" "))
        self.ctx.add(capability, target, self._common(dict(facts or {})), dict(args or {}), self.origin)

    def path(self, capability: str, word: "Word | str", **facts: Any) -> str | None:
        """Emit a filesystem action on one path operand; returns the normalised path."""
        raw = word.text if isinstance(word, Word) else word
        dynamic = isinstance(word, Word) and word.dynamic
        if not raw or raw in _PSEUDO_FILES or raw.startswith("/dev/fd/") or raw.startswith("/proc/self/fd/"):
            return None
        pf = path_facts(raw, None if self.remote else self.cwd, dynamic=dynamic, project=None if self.remote else self.ctx.cwd)
        if self.cwd_dynamic and not pf["absolute"] and not pf["home"]:
            pf["cwd_dynamic"] = True
            pf["dynamic"] = True
        if isinstance(word, Word) and word.glob:
            pf["glob"] = True
        pf.update(facts)
        self.emit(capability, pf["path"], pf, {"cwd": self.cwd} if self.cwd else None)
        return pf["path"]

    def url(self, raw: str, method: str = "GET", **facts: Any) -> dict[str, Any]:
        f = url_facts(raw, method=method)
        f.update(facts)
        if f.get("opaque"):
            self.opaque("unparsable URL")
        target = canonical_url(raw) or redact_userinfo(raw.strip())
        self.emit("network.request", target, f, {"method": method})
        if f.get("destructive"):
            self.spawn["destructive"] = True
        return f

    def connect(self, host_port: str, default_port: int | None = None, **facts: Any) -> None:
        host, port = split_host_port(host_port)
        if not host:
            return
        f = host_facts(host)
        if port is None:
            port = default_port
        if port is not None:
            f["port"] = port
        if "@" in host_port:
            f["user"] = host_port.split("@", 1)[0]
        f.update(facts)
        target = f"{f['host']}:{port}" if port is not None else f["host"]
        self.emit("network.connect", target, f)

    def opaque(self, reason: str) -> None:
        self.spawn["opaque"] = True
        self.ctx.opaque(reason)

    def written_script(self, word: "Word | str") -> tuple[bool, str | None]:
        """(True, content) when `word` names a file this line wrote earlier (content None if unknown)."""
        raw = word.text if isinstance(word, Word) else word
        key = normalize(raw, self.cwd)
        if key in self.ctx.files:
            return True, self.ctx.files[key]
        return False, None

    # ------------------------------------------------------------------ recursion

    def shell(self, text: str, *, dynamic: bool = False, remote: str | None = None, via: str = "sh -c", env: dict[str, Any] | None = None) -> None:
        """Analyse a script this command runs (`bash -c TEXT`, `ssh host TEXT`, a here-document)."""
        from bastion.analysis.derive import analyze_line

        if self.depth + 1 > MAX_DEPTH:
            self.opaque("shell nesting too deep")
            return
        analyze_line(self.ctx, text, depth=self.depth + 1, remote=remote or self.remote, via=self.via + (via,), cwd=self.cwd, env=env)

    def code(self, language: str, text: str, *, dynamic: bool = False, via: str | None = None) -> None:
        """Analyse a program text run by an interpreter (`python -c`, `node -e`, ...)."""
        from bastion.analysis.programs.interpreters import analyze_code

        if self.depth + 1 > MAX_DEPTH:
            self.opaque("code nesting too deep")
            return
        analyze_code(self, language, text, dynamic=dynamic, via=via or language)

    def sql(self, text: str, dialect: str | None, client: str, dynamic: bool = False, **extra: Any) -> None:
        from bastion.analysis.sql import analyze_sql

        facts = analyze_sql(text, dialect)
        facts["client"] = client
        if dynamic:
            facts["dynamic"] = True
        if self.spawn.get("read_only_connection"):
            facts["read_only_connection"] = True
        facts.update(extra)
        self.emit("database.query", text if len(text) <= 4096 else text[:4096], facts, {"dialect": facts["dialect"]})
