"""git: each sub-command becomes `git.<subcommand>` with the facts that make it risky.

`git push -f`, `git push --force-with-lease`, `git push origin +main` and `git push
origin :old` all give `git.push` with `force: true` (or `delete: true`);
`git reset --hard`, `git clean -fd`, `git checkout -- .`, `git restore .`,
`git branch -D`, `git stash drop|clear`, `git reflog expire`, `git gc --prune=now`
and `git filter-branch` are `destructive: true` (they discard work that cannot be
recovered, or rewrite shared history). `git commit -m "rm -rf"` is a commit: its
message is data. Sub-command names are compared case-insensitively.
"""

from __future__ import annotations

from bastion.analysis.emit import Emitter
from bastion.analysis.flags import OptionSpec, ParsedArgs, canonical_flags, parse_args
from bastion.analysis.programs import register
from bastion.analysis.programs.generic import set_verb
from bastion.analysis.words import Word
from bastion.analysis.wrappers import Invocation

_GLOBAL_VALUES = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path", "--super-prefix", "--config-env", "--list-cmds"})
_PROTECTED = frozenset({"main", "master", "trunk", "develop", "production", "prod", "release", "stable"})

_SPECS: dict[str, OptionSpec] = {
    "push": OptionSpec.make(short_values="o", long_values=["repo", "receive-pack", "exec", "push-option", "signed", "recurse-submodules"], aliases={"f": "force", "d": "delete", "u": "set-upstream", "n": "dry-run", "q": "quiet", "v": "verbose"}),
    "reset": OptionSpec.make(long_values=["pathspec-from-file"], aliases={"q": "quiet", "p": "patch", "N": "intent-to-add"}),
    "clean": OptionSpec.make(short_values="e", long_values=["exclude"], aliases={"f": "force", "d": "dirs", "x": "ignored", "X": "only-ignored", "n": "dry-run", "i": "interactive", "q": "quiet"}),
    "checkout": OptionSpec.make(short_values="bBt", long_values=["orphan", "conflict", "pathspec-from-file", "track"], aliases={"f": "force", "q": "quiet", "m": "merge", "p": "patch"}),
    "switch": OptionSpec.make(short_values="cC", long_values=["create", "force-create", "orphan", "conflict", "track"], aliases={"f": "force", "discard-changes": "force"}),
    "restore": OptionSpec.make(short_values="s", long_values=["source", "conflict", "pathspec-from-file"], aliases={"W": "worktree", "S": "staged", "p": "patch", "q": "quiet"}),
    "branch": OptionSpec.make(short_values="ut", long_values=["set-upstream-to", "contains", "no-contains", "merged", "no-merged", "points-at", "sort", "format", "color", "column", "track"], aliases={"d": "delete", "D": "force-delete", "f": "force", "m": "move", "M": "force-move", "c": "copy", "C": "force-copy", "a": "all", "r": "remotes", "l": "list", "v": "verbose"}),
    "stash": OptionSpec.make(short_values="m", long_values=["message", "pathspec-from-file"]),
    "commit": OptionSpec.make(short_values="mFcCt", long_values=["message", "file", "reuse-message", "reedit-message", "fixup", "squash", "author", "date", "template", "cleanup", "trailer", "gpg-sign", "pathspec-from-file", "untracked-files"], aliases={"a": "all", "n": "no-verify", "q": "quiet", "v": "verbose", "s": "signoff", "S": "gpg-sign"}),
    "tag": OptionSpec.make(short_values="mFu", long_values=["message", "file", "local-user", "sort", "contains", "points-at", "format", "merged", "no-merged", "color", "column"], aliases={"d": "delete", "f": "force", "a": "annotate", "s": "sign", "l": "list"}),
    "rebase": OptionSpec.make(short_values="xsX", long_values=["onto", "exec", "strategy", "strategy-option", "gpg-sign", "rebase-merges", "empty", "whitespace", "C"], aliases={"i": "interactive", "f": "force-rebase"}),
    "merge": OptionSpec.make(short_values="msXF", long_values=["message", "strategy", "strategy-option", "file", "gpg-sign", "into-name", "cleanup"]),
    "pull": OptionSpec.make(short_values="sX", long_values=["strategy", "strategy-option", "depth", "deepen", "shallow-since", "shallow-exclude", "upload-pack", "gpg-sign", "recurse-submodules", "rebase"], aliases={"f": "force"}),
    "fetch": OptionSpec.make(short_values="j", long_values=["depth", "deepen", "shallow-since", "shallow-exclude", "upload-pack", "jobs", "recurse-submodules", "refmap", "server-option", "negotiation-tip", "filter"], aliases={"f": "force", "p": "prune", "P": "prune-tags"}),
    "remote": OptionSpec.make(),
    "worktree": OptionSpec.make(short_values="bB", long_values=["reason", "expire"], aliases={"f": "force"}),
    "update-ref": OptionSpec.make(short_values="m", aliases={"d": "delete"}),
    "gc": OptionSpec.make(),
    "reflog": OptionSpec.make(),
    "submodule": OptionSpec.make(),
    "config": OptionSpec.make(short_values="f", long_values=["file", "blob", "type", "default", "comment"]),
}


def _refspec_facts(refs: list[str]) -> dict[str, object]:
    force = any(r.startswith("+") for r in refs)
    delete = any(r.startswith(":") and len(r) > 1 for r in refs)
    branches = []
    for r in refs:
        dst = r.lstrip("+").split(":")[-1] if ":" in r else r.lstrip("+")
        dst = dst.removeprefix("refs/heads/")
        if dst:
            branches.append(dst)
    return {"force_refspec": force, "delete_refspec": delete, "branches": branches[:8]}


def _push(parsed: ParsedArgs, facts: dict[str, object]) -> None:
    refs = [w.text for w in parsed.operands[1:]]
    rf = _refspec_facts(refs)
    force_opt = parsed.has("force", "force-with-lease", "force-if-includes", "force-with-lease-if-includes") and parsed.options.get("force") not in ("false",)
    for k in list(parsed.options):
        if k.startswith("force-with-lease") or k.startswith("force-if-includes"):
            force_opt = True
    facts["remote_name"] = parsed.operands[0].text if parsed.operands else None
    facts["branches"] = rf["branches"]
    facts["force"] = bool(force_opt or rf["force_refspec"])
    facts["force_with_lease"] = any(k.startswith("force-with-lease") for k in parsed.options)
    facts["delete"] = bool(parsed.has("delete", "prune") or rf["delete_refspec"])
    facts["mirror"] = parsed.has("mirror")
    facts["all_refs"] = parsed.has("all", "mirror", "tags")
    facts["protected_branch"] = any(b in _PROTECTED for b in rf["branches"])  # type: ignore[union-attr]
    facts["dry_run"] = parsed.has("dry-run")
    facts["destructive"] = (facts["force"] or facts["delete"] or facts["mirror"]) and not facts["dry_run"]


def _reset(parsed: ParsedArgs, facts: dict[str, object]) -> None:
    mode = next((m for m in ("hard", "merge", "keep", "soft", "mixed") if parsed.has(m)), "mixed")
    facts["mode"] = mode
    facts["hard"] = mode == "hard"
    facts["destructive"] = mode in ("hard", "merge", "keep")


def _clean(parsed: ParsedArgs, facts: dict[str, object]) -> None:
    dry = parsed.has("dry-run") or parsed.has("interactive")
    facts["force"] = parsed.has("force")
    facts["dirs"] = parsed.has("dirs")
    facts["ignored"] = parsed.has("ignored", "only-ignored")
    facts["dry_run"] = dry
    facts["destructive"] = not dry


def _checkout(parsed: ParsedArgs, facts: dict[str, object], raw: list[Word]) -> None:
    dashdash = any(w.text == "--" for w in raw)
    creates = parsed.has("b", "B", "orphan")
    facts["force"] = parsed.has("force")
    paths = [w.text for w in parsed.operands] if dashdash else [w.text for w in parsed.operands if w.text in (".", "*", ":/")]
    if dashdash:
        idx = next(i for i, w in enumerate(raw) if w.text == "--")
        paths = [w.text for w in raw[idx + 1 :]]
    facts["discard"] = bool(paths) and not creates
    facts["paths"] = paths[:8]
    facts["destructive"] = bool(facts["force"] or facts["discard"])


def _restore(parsed: ParsedArgs, facts: dict[str, object]) -> None:
    staged_only = parsed.has("staged") and not parsed.has("worktree")
    facts["staged_only"] = staged_only
    facts["source"] = parsed.value("s", "source")
    facts["paths"] = [w.text for w in parsed.operands][:8]
    facts["destructive"] = not staged_only and bool(parsed.operands)


def _branch(parsed: ParsedArgs, facts: dict[str, object]) -> None:
    force_delete = parsed.has("force-delete") or (parsed.has("delete") and parsed.has("force"))
    facts["delete"] = parsed.has("delete", "force-delete")
    facts["force"] = parsed.has("force", "force-delete", "force-move", "force-copy")
    facts["destructive"] = bool(force_delete or (parsed.has("force") and not parsed.has("delete") and parsed.operands))


def _stash(parsed: ParsedArgs, facts: dict[str, object]) -> None:
    action = parsed.operands[0].text.lower() if parsed.operands else "push"
    facts["action"] = action
    facts["destructive"] = action in ("drop", "clear")


def _other(sub: str, parsed: ParsedArgs, facts: dict[str, object]) -> None:
    ops = [w.text.lower() for w in parsed.operands]
    if sub == "reflog":
        facts["destructive"] = bool(ops) and ops[0] in ("expire", "delete")
    elif sub == "prune":
        facts["destructive"] = not parsed.has("dry-run", "n")
    elif sub == "gc":
        prune = parsed.value("prune")
        facts["destructive"] = prune in ("now", "all") or parsed.has("aggressive") and prune is not None
    elif sub in ("filter-branch", "filter-repo"):
        facts["destructive"] = True
        facts["history_rewrite"] = True
    elif sub == "update-ref":
        facts["destructive"] = parsed.has("delete")
    elif sub == "tag":
        facts["delete"] = parsed.has("delete")
        facts["destructive"] = parsed.has("delete") or (parsed.has("force") and bool(parsed.operands))
    elif sub == "worktree":
        facts["destructive"] = bool(ops) and ops[0] == "remove" and parsed.has("force") or bool(ops) and ops[0] == "prune"
    elif sub == "switch":
        facts["force"] = parsed.has("force")
        facts["destructive"] = parsed.has("force")
    elif sub == "rebase":
        facts["history_rewrite"] = True
        facts["destructive"] = False
    elif sub == "commit":
        facts["amend"] = parsed.has("amend")
        facts["no_verify"] = parsed.has("no-verify")
    elif sub == "remote":
        facts["destructive"] = bool(ops) and ops[0] in ("remove", "rm", "prune")
    elif sub == "submodule":
        facts["destructive"] = bool(ops) and ops[0] == "deinit" and parsed.has("force", "f")
    elif sub == "config":
        facts["global"] = parsed.has("global", "system")
        facts["writes"] = len(parsed.operands) >= 2 or parsed.has("unset", "unset-all", "add", "replace-all", "remove-section", "rename-section")
    elif sub in ("pull", "fetch"):
        facts["force"] = parsed.has("force")
    elif sub == "merge":
        facts["destructive"] = parsed.has("abort") and False


_READ_SUBS = frozenset(
    {
        "status", "log", "diff", "show", "blame", "grep", "ls-files", "ls-tree", "ls-remote", "rev-parse",
        "rev-list", "describe", "shortlog", "whatchanged", "reflog-show", "cat-file", "for-each-ref",
        "show-ref", "show-branch", "name-rev", "merge-base", "cherry", "count-objects", "fsck", "help",
        "version", "var", "check-ignore", "check-attr", "verify-commit", "verify-tag", "range-diff", "bisect-log",
        "archive", "bundle-list", "instaweb", "annotate", "difftool",
    }
)  # fmt: skip


_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2212"
#: configuration keys whose value git runs as a command
_COMMAND_KEYS = ("core.sshcommand", "core.pager", "core.editor", "core.fsmonitor", "core.askpass", "diff.external", "credential.helper", "sequence.editor", "gpg.program", "pager.")


def _config_command(em: Emitter, word: Word) -> None:
    """`git -c core.sshCommand='rm -rf /' fetch`, `git -c alias.x='!cmd' x`: the value runs."""
    key, eq, value = word.text.partition("=")
    low = key.lower()
    if not eq or not value:
        return
    if low.startswith("alias.") and value.startswith("!"):
        em.shell(value[1:], dynamic=word.dynamic, via="git alias")
    elif low.startswith(_COMMAND_KEYS) or (low.startswith("filter.") and low.endswith((".clean", ".smudge", ".process"))):
        em.shell(value, dynamic=word.dynamic, via=f"git -c {key}")


def _normalise_option(w: Word) -> Word:
    """`‐‐hard` (Unicode dashes) -> `--hard`; `--HARD` -> `--hard` (git would reject both; fail closed)."""
    t = w.text
    if t[:1] in _DASHES:
        t = "--" + t.lstrip("-" + _DASHES)
    if t.startswith("--"):
        t = t.lower()
    return Word(t, w.dynamic, w.glob) if t != w.text else w


@register("git")
def _git(inv: Invocation, em: Emitter) -> None:
    args = list(inv.args)
    i = 0
    git_dir: str | None = None
    while i < len(args) and args[i].text.startswith("-"):
        t = args[i].text
        if t == "-c" and i + 1 < len(args):
            _config_command(em, args[i + 1])
        elif t.startswith("--config-env="):
            em.opaque("git configuration from the environment")
        if t in ("--version", "-v", "--help", "-h") and i == len(args) - 1:
            set_verb(em, "version", "read", [])
            em.emit("git.version", None, {"subcommand": "version", "destructive": False})
            return
        if t in _GLOBAL_VALUES:
            if t == "-C" and i + 1 < len(args):
                git_dir = args[i + 1].text
            i += 2
            continue
        i += 1
    if i >= len(args):
        set_verb(em, "help", "read", [])
        return
    sub_word = args[i]
    sub = sub_word.text.lower().replace("\u2010", "-")
    rest = args[i + 1 :]
    if sub_word.dynamic:
        em.opaque("git sub-command computed at run time")
        return
    spec = _SPECS.get(sub, OptionSpec())
    normalised = [_normalise_option(w) for w in rest]
    parsed = parse_args(normalised, spec)
    facts: dict[str, object] = {"subcommand": sub, "destructive": False}
    if sub == "push":
        _push(parsed, facts)
    elif sub == "reset":
        _reset(parsed, facts)
    elif sub == "clean":
        _clean(parsed, facts)
    elif sub == "checkout":
        _checkout(parsed, facts, normalised)
    elif sub == "restore":
        _restore(parsed, facts)
    elif sub == "branch":
        _branch(parsed, facts)
    elif sub == "stash":
        _stash(parsed, facts)
    else:
        _other(sub, parsed, facts)
    if sub in ("help",) or parsed.has("help", "h") and sub not in ("branch",):
        facts["destructive"] = False
    flags = canonical_flags(parsed)
    if flags:
        facts["flags"] = flags
    if git_dir:
        facts["git_dir"] = git_dir
    cls = "destructive" if facts.get("destructive") else ("read" if sub in _READ_SUBS else "change")
    set_verb(em, sub, cls, [sub])
    em.spawn["git_subcommand"] = sub
    if facts.get("force"):
        em.spawn["force"] = True
    target = " ".join(w.text for w in parsed.operands[:4]) or None
    em.emit(f"git.{sub}", target, facts)
    if sub in ("filter-branch",):
        for j, w in enumerate(rest[:-1]):
            if w.text in ("--tree-filter", "--index-filter", "--msg-filter", "--env-filter", "--commit-filter", "--parent-filter"):
                em.shell(rest[j + 1].text, via="git filter-branch")
    if sub == "rebase":
        for j, w in enumerate(rest[:-1]):
            if w.text in ("-x", "--exec"):
                em.shell(rest[j + 1].text, via="git rebase --exec")
    if sub in ("clone", "fetch", "pull", "push", "ls-remote") and parsed.operands:
        first = parsed.operands[0].text
        if "://" in first or first.startswith("git@"):
            em.spawn["remote_url"] = first if "@" not in first.split("://")[-1].split("/")[0] else "(credentials hidden)"
