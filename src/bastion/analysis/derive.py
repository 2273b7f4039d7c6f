"""From simple commands to derived actions.

Every simple command of a line (shell.py) is unwrapped (wrappers.py) and handed to
the handler that knows its program (programs/), which says what it does as derived
actions: `cat .env` reads `.env`, `curl -d @.env URL` reads `.env` and POSTs to URL,
`bash -c '...'` runs another line (analysed recursively, depth-bounded). Every
command also yields a `process.spawn` subject carrying its program, verb and
whether it is destructive, so that one general rule can judge any CLI.

What cannot be understood is never silently allowed: a program computed at run
time, a script piped into a shell, a parse error, hitting a limit - each adds a
reason to `opaque_reasons` and sets `opaque: true` on the action.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from bastion.analysis.emit import Context, Emitter
from bastion.analysis.shell import SimpleCommand, parse
from bastion.analysis.words import Word
from bastion.analysis.wrappers import Invocation, lookup_names, unwrap

MAX_ARGV_FACT = 64
MAX_PROGRAMS = 32


@lru_cache(maxsize=4096)
def _handler(program: str) -> Any:
    from bastion.analysis.programs import HANDLERS

    for name in lookup_names(program):
        h = HANDLERS.get(name)
        if h is not None:
            return h
    return None


def analyze_line(
    ctx: Context,
    text: str,
    *,
    depth: int = 0,
    remote: str | None = None,
    via: tuple[str, ...] = (),
    cwd: str | None = None,
    env: dict[str, Any] | None = None,
) -> None:
    """Analyse one shell line into `ctx` (recursively for inline scripts)."""
    ctx.max_depth = max(ctx.max_depth, depth)
    result = parse(text, env)
    if result.parse_error:
        ctx.summary["parse_error"] = True
        ctx.opaque("shell syntax error")
    if result.limit:
        ctx.opaque("command too long or too deeply nested")
    if result.recursive_functions:
        ctx.summary["fork_bomb"] = True
        ctx.opaque("a function that calls itself (fork bomb)")
    for cmd in result.commands:
        if cwd is not None and cwd != ctx.cwd and cmd.cwd is None:
            cmd.cwd = cwd
        process_command(ctx, cmd, depth=depth, remote=remote, via=via)


def process_command(
    ctx: Context, cmd: SimpleCommand, *, depth: int = 0, remote: str | None = None, via: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """Derive the actions of one simple command; returns its process.spawn facts."""
    inv = unwrap(cmd.argv, cmd.assignments)
    em = Emitter(ctx, inv or Invocation("", "", ()), cmd, depth, remote, via)
    for r in cmd.redirects:
        if r.target is None:
            continue
        if r.writes:
            path = em.path("filesystem.write", r.target, redirect=True, append=r.op in (">>", "&>>"))
            if path is not None and r.fd in (None, 1):
                _remember_file(ctx, path, _own_output(ctx, em, cmd, inv), r.op in (">>", "&>>"))
        elif r.reads:
            em.path("filesystem.read", r.target, redirect=True)
    if inv is None:
        return None
    if not inv.dynamic_program and (ctx.aliases or ctx.files):
        inv = _resolve_local_program(ctx, em, inv)
        em.inv = inv
    program = inv.program.lower()
    if len(ctx.programs) < MAX_PROGRAMS and program not in ctx.programs:
        ctx.programs.append(program)
    if inv.dynamic_program:
        em.opaque("program computed at run time")
    else:
        handler = _handler(inv.program)
        if handler is None:
            from bastion.analysis.programs.generic import generic

            handler = generic
        try:
            handler(inv, em)
        except RecursionError:
            em.opaque("command too deeply nested")
    facts = spawn_facts(inv, em)
    em.emit("process.spawn", program, facts, {"argv": [inv.written] + [w.text for w in inv.args[: MAX_ARGV_FACT - 1]]})
    _summarise(ctx, facts)
    return facts


MAX_REMEMBERED = 64


def _own_output(ctx: Context, em: Emitter, cmd: SimpleCommand, inv: Invocation | None) -> str | None:
    """What a command prints, when it is a literal: echo/printf arguments, cat of a here-document."""
    if inv is None or inv.dynamic_program:
        return None
    name = inv.program.lower()
    args = list(inv.args)
    if name == "echo":
        while args and args[0].text in ("-n", "-e", "-E", "-ne", "-en"):
            args.pop(0)
        return None if any(a.dynamic for a in args) else " ".join(a.text for a in args) + "\n"
    if name == "printf" and args and "%" not in args[0].text and not args[0].dynamic:
        return args[0].text.replace("\\n", "\n")
    if name in ("cat", "tee") and not [a for a in args if not a.text.startswith("-")]:
        return cmd.stdin_text
    if name == "cat":
        parts = [em.written_script(a) for a in args if not a.text.startswith("-")]
        if parts and all(known and text is not None for known, text in parts):
            return "".join(text for _, text in parts)  # type: ignore[misc]
    return None


def _remember_file(ctx: Context, path: str, content: str | None, append: bool) -> None:
    if len(ctx.files) >= MAX_REMEMBERED and path not in ctx.files:
        return
    if append and path in ctx.files:
        old = ctx.files[path]
        ctx.files[path] = None if old is None or content is None else old + content
    else:
        ctx.files[path] = content


def _resolve_local_program(ctx: Context, em: Emitter, inv: Invocation) -> Invocation:
    """A program this line wrote (`echo 'rm -rf x' > a.sh; ./a.sh`) or linked (`ln -s /bin/rm x; ./x`)."""
    from bastion.analysis.paths import normalize

    key = normalize(inv.written, em.cwd)
    base = key.rsplit("/", 1)[-1]
    if key in ctx.aliases or ("/" not in inv.written and base in ctx.aliases):
        target = ctx.aliases.get(key, ctx.aliases.get(base))
        em.spawn["aliased_from"] = inv.written
        if target is None:
            em.opaque("program copied from one computed at run time")
            return inv
        return Invocation(target, inv.written, inv.args, inv.wrappers, False, inv.stdin_args, inv.privileged, inv.run_as, inv.remote, inv.env)
    if "/" in inv.written and key in ctx.files:
        content = ctx.files[key]
        em.spawn["runs_written_script"] = True
        if content is None:
            em.opaque("runs a file written at run time")
        else:
            em.shell(content, via=f"script {inv.written}")
    return inv


def remember_alias(em: Emitter, source: "Word", dest: str) -> None:
    """`ln -s /bin/rm x`, `cp $(which rm) x`: running `x` later runs the source program."""
    from bastion.analysis.paths import normalize
    from bastion.analysis.wrappers import program_name

    if len(em.ctx.aliases) >= MAX_REMEMBERED:
        return
    key = normalize(dest, em.cwd)
    if source.dynamic:
        em.ctx.aliases[key] = None
        return
    name = program_name(source.text)
    if _handler(name) is not None or source.text.startswith(("/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/", "/usr/local/bin/", "/opt/homebrew/bin/")):
        em.ctx.aliases[key] = name


def spawn_facts(inv: Invocation, em: Emitter) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "program": inv.program.lower(),
        "program_path": inv.written,
        "argc": len(inv.args),
        "opaque": bool(em.spawn.get("opaque")) or inv.dynamic_program,
        "destructive": False,
    }
    if inv.wrappers:
        facts["wrappers"] = [w.lower() for w in inv.wrappers]
    if inv.run_as:
        facts["run_as"] = inv.run_as
    if inv.privileged:
        facts["privileged"] = True
    if em.remote:
        facts["remote"] = em.remote
    if em.cmd.in_substitution:
        facts["in_substitution"] = True
    if any(w.dynamic for w in inv.args):
        facts["dynamic_args"] = True
    facts.update(em.spawn)
    return facts


def _summarise(ctx: Context, facts: dict[str, Any]) -> None:
    s = ctx.summary
    if facts.get("destructive"):
        s["destructive"] = True
    if facts.get("privileged"):
        s["privileged"] = True
    if facts.get("remote"):
        s["remote"] = True
    verb = facts.get("verb")
    if verb:
        verbs = s.setdefault("verbs", [])
        if verb not in verbs and len(verbs) < 16:
            verbs.append(verb)


def shell_facts(ctx: Context, command_count: int | None = None) -> dict[str, Any]:
    """Facts of a shell.exec action after its line was analysed."""
    facts: dict[str, Any] = {
        "opaque": bool(ctx.reasons),
        "opaque_reasons": list(ctx.reasons),
        "parse_error": bool(ctx.summary.get("parse_error")),
        "programs": list(ctx.programs),
        "command_count": sum(1 for d in ctx.derived if d.capability == "process.spawn"),
        "depth": ctx.max_depth,
        "destructive": bool(ctx.summary.get("destructive")),
        "privileged": bool(ctx.summary.get("privileged")),
        "remote": bool(ctx.summary.get("remote")),
        "derived_count": len(ctx.derived),
    }
    if ctx.summary.get("verbs"):
        facts["verbs"] = list(ctx.summary["verbs"])
    if ctx.summary.get("fork_bomb"):
        facts["fork_bomb"] = True
    if ctx.truncated:
        facts["truncated"] = True
    return facts


def analyze_shell(text: str, cwd: str | None = None, env: dict[str, str] | None = None) -> tuple[dict[str, Any], list[Any]]:
    """(facts of the shell.exec action, derived actions) for a command line."""
    ctx = Context(cwd)
    known = {k: Word(str(v)) for k, v in (env or {}).items() if isinstance(k, str)}
    analyze_line(ctx, text, env=known or None)
    return shell_facts(ctx), ctx.derived


def analyze_argv(program: str | None, argv: list[Any] | None, cwd: str | None = None) -> tuple[dict[str, Any], list[Any]]:
    """(facts of a process.spawn action, derived actions) for a program and its argv."""
    ctx = Context(cwd)
    words = [Word(str(a)) for a in (argv or [])]
    if program and (not words or words[0].text != program and not words[0].text.endswith("/" + program)):
        words.insert(0, Word(program))
    if not words:
        return {"opaque": True, "opaque_reasons": ["no program"], "program": ""}, []
    facts = process_command(ctx, SimpleCommand(tuple(words), " ".join(w.text for w in words)))
    top = dict(facts or {})
    # the action itself carries the spawn facts; drop its duplicate unless wrappers changed the program
    derived = [d for d in ctx.derived if not (d.capability == "process.spawn" and d.facts.get("depth") is None and d.target == top.get("program") and not top.get("wrappers"))]
    top["opaque"] = bool(ctx.reasons) or bool(top.get("opaque"))
    top["opaque_reasons"] = list(ctx.reasons)
    top["derived_count"] = len(derived)
    return top, derived
