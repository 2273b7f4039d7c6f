"""Verbs of command-line tools: what a sub-command does, in general.

Hundreds of CLIs share one grammar: `TOOL [GROUP...] VERB [ARGS]` (`aws sqs
purge-queue`, `gcloud projects delete`, `kubectl delete pod`, `nats stream rm`,
`rabbitmqctl force_reset`, `rails db:drop`, `diskutil apfs deleteVolume`). Rather
than one rule per tool, the leading words of a command are split into tokens
(`purge-queue` -> purge, queue; `deleteVolume` -> delete, volume) and the first
token that is a known verb classifies the command:

  destructive  deletes, destroys, wipes, revokes or stops something
  change       creates or modifies something
  read         only looks

A rule can then say "a destructive sub-command of any CLI needs approval" once.
"""

from __future__ import annotations

import re
from functools import lru_cache

DESTRUCTIVE = frozenset(
    {
        "delete", "del", "deletes", "destroy", "remove", "rm", "rmi", "rmdir", "rb", "purge", "prune",
        "flush", "flushall", "flushdb", "drop", "dropdb", "dropuser", "truncate", "wipe", "wipefs", "erase",
        "terminate", "kill", "killall", "pkill", "uninstall", "unregister", "deregister", "revoke", "disable",
        "reset", "clear", "nuke", "shred", "forget", "expire", "evict", "undeploy", "decommission",
        "stop", "shutdown", "halt", "poweroff", "reboot", "rollback", "compact", "dedupe", "unsubscribe",
        "unset", "empty", "discard", "abandon", "cleanup", "zap", "teardown", "down", "scrap",
        "obliterate", "unlink", "deactivate", "suspend", "cancel", "close", "break", "untag", "drain",
        "archive",
        "unpublish", "yank", "deleteall", "removeall", "unload", "bootout", "fresh",
    }
)  # fmt: skip

CHANGE = frozenset(
    {
        "create", "add", "apply", "set", "put", "post", "update", "upgrade", "install", "deploy", "push",
        "publish", "release", "patch", "edit", "modify", "write", "import", "restore", "start", "enable",
        "attach", "scale", "rollout", "sync", "mirror", "move", "mv", "rename", "copy", "cp", "tag",
        "label", "annotate", "replace", "upload", "send", "invoke", "exec", "run", "trigger", "merge",
        "commit", "rotate", "migrate", "provision", "register", "grant", "assign", "associate", "change",
        "configure", "config", "init", "new", "make", "mk", "mb", "build", "submit", "approve", "resume",
        "restart", "reload", "promote", "transfer", "share", "unshare", "link", "mount", "unmount", "lock",
        "unlock", "login", "logout", "auth", "authorize", "rerun", "retry", "reopen", "fork", "clone",
        "backup", "snapshot", "extract", "up", "recover", "rebuild", "reindex", "refresh", "renew",
        "put", "store", "save", "insert", "upsert", "alter", "modify", "override", "sign", "encrypt",
        "decrypt", "generate", "regenerate", "reconcile", "cordon", "uncordon", "drain", "taint",
        "expose", "autoscale", "schedule", "publish", "emit", "notify", "import", "activate", "undo",
    }
)  # fmt: skip

READ = frozenset(
    {
        "get", "list", "ls", "lsl", "lsd", "lsf", "lsjson", "describe", "show", "view", "status", "info",
        "inspect", "logs", "log", "cat", "head", "stat", "du", "diff", "check", "validate", "lint",
        "plan", "version", "help", "whoami", "search", "query", "test", "explain", "top", "history",
        "output", "template", "fmt", "find", "lookup", "read", "print", "dump", "watch", "tail", "ping",
        "health", "verify", "count", "exists", "estimate", "preview", "export", "download", "pull",
        "fetch", "scan", "audit", "graph", "tree", "about", "size", "md5sum", "sha1sum", "hashsum",
        "hash", "report", "metrics", "stats", "events", "doctor", "diagnose", "diagnostic",
        "diagnostics", "discover", "browse", "open", "select", "wait", "receive", "listen", "sub",
        "subscribe", "bench", "env", "current", "config-get", "whoami", "identity", "can-i",
        "api-resources", "api-versions", "cluster-info", "completion", "serve", "console", "shell",
        "local", "snapshots", "quota", "usage", "outputs", "state", "providers", "workspaces", "refs",
        "blame", "grep", "shortlog", "describe-instances", "cache", "tables",
    }
)  # fmt: skip

#: words that only set up a later verb and are never the verb themselves
_NOT_VERBS = frozenset({"force", "all", "any", "batch", "bulk", "multi", "many", "if", "no", "dry", "un"})

#: verbs that are often nouns naming a command group (`gh release delete`, `velero backup get`,
#: `kubectl rollout status`): a later verb in the same command wins over them
WEAK = frozenset(
    {
        "release", "config", "configure", "tag", "label", "snapshot", "snapshots", "backup", "build", "cache",
        "audit", "auth", "log", "logs", "events", "history", "metrics", "output", "template", "state", "env",
        "console", "shell", "local", "report", "export", "import", "schedule", "lock", "link", "share", "run",
        "stats", "usage", "quota", "rollout", "migrate", "index", "register", "login", "mount", "service",
        "version", "secret", "policy", "cluster", "tree", "graph", "hash", "size", "tables", "refs", "sub",
        "serve", "watch", "check", "diagnostic", "diagnostics", "current", "identity", "cache", "plan",
        "workspaces", "providers", "completion", "scale", "copy", "sync", "mirror", "patch", "upload",
        "download", "transfer", "exec", "invoke", "trigger", "send", "store", "save", "replace", "restore",
    }
)  # fmt: skip
#: verbs that also start longer words (`deletefile`, `dropuser`, `purgeall`)
_PREFIX_VERBS = ("delete", "destroy", "purge", "drop", "remove", "truncate", "wipe", "flush")

_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_SEPARATORS = re.compile(r"[-_:./]")
_WORDLIKE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_:.][A-Za-z0-9]+)*\Z")


@lru_cache(maxsize=8192)
def _tokens(word: str) -> tuple[str, ...]:
    out: list[str] = []
    for part in _SEPARATORS.split(word):
        if not part:
            continue
        if part.islower() or part.isupper() or part.isdigit():
            out.append(part.lower())
        else:
            out.extend(m.lower() for m in _CAMEL.findall(part))
    return tuple(out)


def tokens(word: str) -> list[str]:
    """`purge-queue` -> [purge, queue]; `deleteVolume` -> [delete, volume]; `db:drop` -> [db, drop]."""
    if len(word) > 256:
        word = word[:256]
    return list(_tokens(word))


def is_wordlike(word: str) -> bool:
    """A sub-command-like word: no spaces, slashes, quotes; not a path, URL, number, key=value
    or file name (`archive.7z`, `notes.txt`; but `ecto.reset` and `db:drop` are sub-commands)."""
    if len(word) > 64 or _WORDLIKE.match(word) is None:
        return False
    if "." in word:
        ext = word.rsplit(".", 1)[1].lower()
        return classify_token(ext) is not None
    return True


def classify_token(tok: str) -> str | None:
    if tok in _NOT_VERBS:
        return None
    if tok in DESTRUCTIVE:
        return "destructive"
    if tok in READ:
        return "read"
    if tok in CHANGE:
        return "change"
    if len(tok) > 5 and tok.isalpha():
        for p in _PREFIX_VERBS:
            if tok.startswith(p):
                return "destructive"
    return None


def _verb_of(tok: str) -> str:
    if tok in DESTRUCTIVE or tok in READ or tok in CHANGE:
        return tok
    return next((p for p in _PREFIX_VERBS if tok.startswith(p)), tok)


@lru_cache(maxsize=8192)
def classify_word(word: str) -> tuple[str | None, str | None]:
    """The verb of one word: its first strong verb token, else its first weak one.

    `purge-queue` -> purge; `describe-patch-baselines` -> describe; `migrate:fresh` -> fresh
    (migrate is weak); `deletefile` -> delete.
    """
    weak: tuple[str | None, str | None] = (None, None)
    for tok in tokens(word):
        cls = classify_token(tok)
        if cls is None:
            continue
        if tok in WEAK:
            if weak[0] is None:
                weak = (tok, cls)
            continue
        return _verb_of(tok), cls
    return weak


def classify(words: list[str], limit: int = 4) -> tuple[str | None, str | None, list[str]]:
    """(verb, class, sub-command words) for the leading positional words of a command.

    Words are scanned in order (at most `limit`; file names, paths and URLs are skipped
    but count); the first strong verb decides, else the last weak one (`gh release
    delete` -> delete, `kubectl rollout history` -> history, `restic backup /srv` ->
    backup). (None, None, words) when no verb.
    """
    sub: list[str] = []
    weak: tuple[str | None, str | None, int] = (None, None, 0)
    for word in words[:limit]:
        if not is_wordlike(word):
            continue
        sub.append(word)
        verb, cls = classify_word(word)
        if cls is None:
            continue
        if verb in WEAK:
            weak = (verb, cls, len(sub))  # the last group-like word is the closest to a verb
            continue
        return verb, cls, sub
    if weak[0] is not None:
        return weak[0], weak[1], sub[: weak[2]]
    return None, None, sub
