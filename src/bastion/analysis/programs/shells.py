"""Shells and `eval`: the strings they run are command lines too.

`bash -c 'rm -rf /'`, `sh -lc "..."`, `eval "git reset --hard"`, `bash <<EOF ...`,
`bash <<< "..."` and `echo 'rm -rf /' | sh` are parsed again (depth-bounded, in
emit.py). A shell whose script comes from a pipe whose output cannot be known
(`curl URL | sh`, `base64 -d x | bash`) is opaque: nobody can say what it runs.
"""

from __future__ import annotations

from bastion.analysis.emit import Emitter
from bastion.analysis.programs import register
from bastion.analysis.programs.generic import set_verb
from bastion.analysis.shell import SimpleCommand
from bastion.analysis.words import Word
from bastion.analysis.wrappers import Invocation, unwrap

SHELLS = ("sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh", "rbash", "posh", "pwsh", "powershell")
_VALUE_OPTS = frozenset("oO")
_LONG_VALUE = frozenset({"--rcfile", "--init-file", "-command", "-Command", "-c", "-File", "-file"})


def literal_output(cmd: SimpleCommand, depth: int = 0) -> tuple[str | None, str | None]:
    """(text, producer): what the previous pipeline stage writes, when it is a literal.

    `echo 'rm -rf /' | sh` -> ("rm -rf /", "echo"); `curl x | sh` -> (None, "curl").
    """
    up = cmd.upstream
    if up is None:
        return None, None
    inv = unwrap(up.argv, up.assignments)
    if inv is None:
        return None, None
    name = inv.program.lower()
    args = list(inv.args)
    if name == "echo":
        while args and args[0].text in ("-n", "-e", "-E", "-ne", "-en"):
            args.pop(0)
        return " ".join(a.text for a in args) + "\n", name
    if name == "printf" and args and "%" not in args[0].text:
        return args[0].text.replace("\\n", "\n").replace("\\t", "\t"), name
    if name in ("cat", "tee") and not [a for a in args if not a.text.startswith("-")]:
        if up.stdin_text is not None:
            return up.stdin_text, name
        if depth < 4:
            return literal_output(up, depth + 1)
    if name in ("yes", "true", "false"):
        return "", name
    return None, name


def stdin_script(em: Emitter) -> tuple[str | None, str | None, bool]:
    """(script text, producer, known) of what a program reads on stdin."""
    for r in em.cmd.redirects:
        if r.body is not None:
            return r.body, "here-document" if r.op == "<<" else "here-string", True
        if r.reads:
            return None, "file", False
    text, producer = literal_output(em.cmd)
    if text is not None:
        return text, producer, True
    return None, producer, False


@register(*SHELLS)
def _shell(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    args = list(inv.args)
    command: Word | None = None
    script: Word | None = None
    i = 0
    while i < len(args):
        t = args[i].text
        if t in _LONG_VALUE and t not in ("-c", "-command", "-Command"):
            i += 2
            continue
        if t in ("-command", "-Command") and i + 1 < len(args):  # pwsh -Command
            command = Word(" ".join(a.text for a in args[i + 1 :]), any(a.dynamic for a in args[i + 1 :]))
            break
        if t == "--":
            if i + 1 < len(args):
                script = args[i + 1]
            break
        if t.startswith("-") and len(t) > 1 and not t.startswith("--"):
            letters = t[1:]
            if "c" in letters:
                if i + 1 < len(args):
                    command = args[i + 1]
                break
            if letters[-1] in _VALUE_OPTS:
                i += 1
            i += 1
            continue
        if t.startswith("+") or t.startswith("--"):
            i += 1
            continue
        script = args[i]
        break
    em.spawn["interpreter"] = "shell"
    if command is not None:
        set_verb(em, "exec", "change", [])
        em.spawn["inline"] = True
        if command.dynamic and len(command.text.split()) <= 1:
            em.opaque(f"{name} runs a script computed at run time")  # `sh -c "$1"`, `xargs -I{} sh -c '{}'`
        em.shell(command.text, dynamic=command.dynamic, via=f"{name} -c")
        return
    if script is not None:
        if script.dynamic:  # `bash <(curl URL)`, `sh $SCRIPT`: the script is computed at run time
            em.opaque(f"{name} runs a script computed at run time")
        known, content = em.written_script(script)
        if known:  # `echo 'rm -rf x' > a.sh && bash a.sh`: the line wrote the script itself
            if content is None:
                em.opaque(f"{name} runs a file written at run time")
            else:
                em.shell(content, via=f"{name} {script.text}")
        em.path("filesystem.read", script, script=True)
        em.spawn["runs_script"] = True
        set_verb(em, "exec", "change", [])
        return
    text, producer, known = stdin_script(em)
    if known and text is not None:
        em.spawn["inline"] = True
        set_verb(em, "exec", "change", [])
        em.shell(text, via=f"{name} <{producer}")
    elif producer is not None:
        em.spawn["piped_script"] = producer
        em.opaque(f"script piped into {name} from {producer}")
    else:
        set_verb(em, "shell", "change", [])


@register("eval")
def _eval(inv: Invocation, em: Emitter) -> None:
    text = " ".join(a.text for a in inv.args)
    em.spawn["inline"] = True
    set_verb(em, "exec", "change", [])
    if text.strip():
        em.shell(text, dynamic=any(a.dynamic for a in inv.args), via="eval")


@register("alias")
def _alias(inv: Invocation, em: Emitter) -> None:
    """`alias x='rm -rf /'`: what an alias runs is judged where it is defined."""
    for w in inv.args:
        name, eq, value = w.text.partition("=")
        if eq and value.strip():
            em.shell(value, dynamic=w.dynamic, via=f"alias {name}")
    set_verb(em, "alias", "change", [])


@register("trap")
def _trap(inv: Invocation, em: Emitter) -> None:
    """`trap 'rm -rf /tmp/x' EXIT`: the handler runs later; judge it now."""
    args = [w for w in inv.args if w.text not in ("--",)]
    if args and not args[0].text.startswith("-") and args[0].text not in ("", "-"):
        if args[0].dynamic:
            em.opaque("trap handler computed at run time")
        em.shell(args[0].text, dynamic=args[0].dynamic, via="trap")
    set_verb(em, "trap", "change", [])


@register("source", ".")
def _source(inv: Invocation, em: Emitter) -> None:
    if inv.args:
        if inv.args[0].dynamic:  # `source <(curl URL)`
            em.opaque("source of a script computed at run time")
        known, content = em.written_script(inv.args[0])
        if known:
            if content is None:
                em.opaque("source of a file written at run time")
            else:
                em.shell(content, via=f"source {inv.args[0].text}")
        em.path("filesystem.read", inv.args[0], script=True)
    em.spawn["runs_script"] = True
    set_verb(em, "exec", "change", [])
