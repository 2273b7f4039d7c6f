"""The generic handler: any CLI, judged by its sub-command verb.

`TOOL [GROUP...] VERB ...` (verbs.py) gives `verb`, `verb_class` and `destructive`
on the command's process.spawn subject. Long options that are themselves a
destructive verb (`kafka-topics --delete`, `aws s3 sync --delete`) count too, as
does a destructive program name (`kafka-delete-records`). `--help` and `--version`
only print.
"""

from __future__ import annotations

from bastion.analysis.emit import Emitter
from bastion.analysis.flags import EMPTY, OptionSpec, ParsedArgs, canonical_flags, parse_args
from bastion.analysis.verbs import classify, classify_word, tokens
from bastion.analysis.wrappers import Invocation

#: option names (first token) that make a command destructive by themselves
DESTRUCTIVE_OPTIONS = frozenset({"delete", "purge", "drop", "remove", "destroy", "wipe", "truncate", "erase", "del", "reset"})
_DRY_RUN = ("dry-run", "dryrun", "dry_run", "whatif", "what-if", "simulate", "noop", "check-only")
_FALSE = frozenset({"false", "0", "no", "off", "n"})
_HELP = frozenset({"help", "h", "version", "V", "usage"})


def destructive_option(parsed: ParsedArgs) -> str | None:
    """The first option whose name is a destructive verb and whose value is not false."""
    for name, value in parsed.options.items():
        if len(name) < 3:
            continue
        toks = tokens(name)
        if toks and toks[0] in DESTRUCTIVE_OPTIONS and not (isinstance(value, str) and value.lower() in _FALSE):
            return name
    return None


def only_help(parsed: ParsedArgs) -> bool:
    """`--help` anywhere, or `-h`/`--version` with no operands: the command only prints."""
    if "help" in parsed.options or "usage" in parsed.options:
        return True
    return bool(parsed.options) and any(k in _HELP for k in parsed.options) and not parsed.operands


def dry_run(parsed: ParsedArgs) -> bool:
    return any(parsed.options.get(k) not in (None, "false", "none", "0") for k in _DRY_RUN if k in parsed.options)


def classify_command(inv: Invocation, em: Emitter, spec: OptionSpec = EMPTY, *, limit: int = 4, skip: int = 0) -> ParsedArgs:
    """Set verb facts on the spawn subject from the leading operands; returns the parsed args."""
    parsed = parse_args(inv.args, spec)
    words = [w.text for w in parsed.operands[skip:] if not w.dynamic]
    if parsed.operands and parsed.operands[0].text in ("help",) or only_help(parsed):
        set_verb(em, "help", "read", [])
        return parsed
    verb, cls, sub = classify(words, limit)
    leading = parsed.operands[skip : skip + limit]
    dyn = next((i for i, w in enumerate(leading) if w.dynamic), None)
    if dyn is not None and classify([w.text for w in leading[:dyn]], limit)[1] is None:
        # `docker $(echo run) alpine`, `kubectl $VERB pod x`: the sub-command is computed at run time
        em.opaque("sub-command computed at run time")
    opt = destructive_option(parsed)
    if opt is not None and cls not in ("destructive", "read"):  # `terraform plan -destroy` only previews
        verb, cls = tokens(opt)[0], "destructive"
    if dry_run(parsed) and cls in ("destructive", "change"):
        em.spawn["dry_run"] = True
        cls = "read"  # a preview changes nothing
    set_verb(em, verb, cls, sub)
    flags = canonical_flags(parsed)
    if flags:
        em.spawn.setdefault("flags", flags)
    if parsed.has("force", "f", "yes", "y", "auto-approve", "assume-yes", "non-interactive", "confirm"):
        em.spawn["unattended"] = True
    return parsed


def set_verb(em: Emitter, verb: str | None, cls: str | None, sub: list[str]) -> None:
    if sub:
        em.spawn["subcommand"] = sub
    if verb is not None:
        em.spawn["verb"] = verb
        em.spawn["verb_class"] = cls
    if cls == "destructive":
        em.spawn["destructive"] = True


def generic(inv: Invocation, em: Emitter) -> None:
    verb, cls = classify_word(inv.program)
    parsed = classify_command(inv, em)
    if cls == "destructive" and not only_help(parsed):
        set_verb(em, verb, cls, em.spawn.get("subcommand", []))
