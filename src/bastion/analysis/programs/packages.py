"""Package managers: installs, removals and publications.

`npm install x`, `pip install -r req.txt`, `cargo add`, `brew install` yield
`package.install` (`manager`, `packages`, `global`, `from_url`); removals yield
`package.remove`; `npm publish`, `cargo publish`, `twine upload`, `gradle
publish`, `mvn deploy`, `gem push` yield `package.publish`, an irreversible
side effect outside the project.
"""

from __future__ import annotations

from bastion.analysis.emit import Emitter
from bastion.analysis.flags import OptionSpec, parse_args
from bastion.analysis.programs import register
from bastion.analysis.programs.generic import classify_command, set_verb
from bastion.analysis.verbs import tokens
from bastion.analysis.wrappers import Invocation

_INSTALL = frozenset({"install", "i", "add", "get", "ci", "sync", "update", "upgrade", "up", "reinstall", "require", "restore", "fetch", "download"})
_REMOVE = frozenset({"uninstall", "remove", "rm", "un", "unlink", "purge", "autoremove", "erase", "del"})
_PUBLISH = frozenset({"publish", "release", "deploy", "push", "upload", "yank", "unpublish", "owner", "dist-tag", "deprecate"})
_READS = frozenset({"list", "ls", "show", "info", "view", "search", "outdated", "audit", "check", "why", "explain", "freeze", "help", "version", "--version", "-v", "config", "env", "doctor", "tree", "query", "inspect", "pack", "test", "run", "exec", "start", "build", "lint", "format", "fmt", "dev", "serve", "bench", "doc", "docs", "clippy", "vet", "mod", "generate", "compile", "package", "verify", "validate", "whoami"})

_VALUES = OptionSpec.make(
    short_values="rciepCw",
    long_values=["requirement", "constraint", "index-url", "extra-index-url", "target", "prefix", "root", "editable", "registry", "cache", "workspace", "filter", "python", "features", "manifest-path", "package", "project", "directory", "save-prefix", "tag", "access", "otp", "repository", "repository-url", "username", "password", "group", "extras"],
)
_PUBLISHING_TASKS = ("publish", "release:perform", "deploy", "upload", "uploadarchives", "publishtomavenlocal", "release")


def _manager(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    parsed = parse_args(inv.args, _VALUES)
    ops = [w.text for w in parsed.operands]
    if name in ("pip", "pip3", "pipx", "uv") and ops[:1] == ["pip"]:
        ops = ops[1:]
    if not ops or parsed.has("help"):
        if parsed.has("version", "v", "help", "h"):
            set_verb(em, "version", "read", [])
        else:
            set_verb(em, "install", "change", [])  # `npm` alone, `yarn` alone: installs the lockfile
            em.emit("package.install", None, {"manager": name, "packages": [], "lockfile": True})
        return
    sub = ops[0].lower()
    rest = ops[1:]
    if parsed.has("help", "h") or sub == "help" or any(r in ("ls", "list", "--list") for r in rest[:1]) or parsed.has("list") or parsed.has("dry-run", "dryrun", "n") and sub in _PUBLISH or (sub in ("owner", "dist-tag", "access") and not rest):
        set_verb(em, sub, "read", [sub])
        return
    facts = {"manager": name, "packages": rest[:16], "global": parsed.has("g", "global", "system", "user") or name in ("brew", "apt", "apt-get", "yum", "dnf", "pacman", "apk", "port", "snap", "choco", "winget", "zypper")}
    facts["from_url"] = any("://" in p or p.startswith("git+") for p in rest)
    for req in (parsed.value("r", "requirement"),):
        if req:
            em.path("filesystem.read", req)
    if sub in _PUBLISH:
        em.emit("package.publish", " ".join(rest[:4]) or None, {**facts, "verb": sub})
        set_verb(em, sub, "destructive" if sub in ("yank", "unpublish", "deprecate") else "change", [sub])
        em.spawn["publishes"] = True
    elif sub in _REMOVE:
        em.emit("package.remove", " ".join(rest[:4]) or None, {**facts, "verb": sub})
        set_verb(em, sub, "destructive", [sub])
    elif sub in _INSTALL:
        em.emit("package.install", " ".join(rest[:4]) or None, {**facts, "verb": sub})
        set_verb(em, sub, "change", [sub])
    elif sub in _READS:
        set_verb(em, sub, "read", [sub])
        if sub in ("run", "exec", "start", "test", "build", "dev"):
            em.spawn["verb_class"] = "change"
            em.spawn["runs_scripts"] = True
    else:
        classify_command(inv, em, _VALUES)


for _name in ("npm", "yarn", "pnpm", "pip", "pip3", "pipx", "uv", "poetry", "pdm", "hatch", "rye", "conda", "mamba", "micromamba", "cargo", "gem", "bundle", "bundler", "go", "brew", "port", "apt", "apt-get", "aptitude", "yum", "dnf", "zypper", "pacman", "apk", "snap", "flatpak", "choco", "winget", "scoop", "composer", "nuget", "dotnet", "cabal", "stack", "opam", "mix", "swift", "pod", "carthage"):
    register(_name)(_manager)


@register("mvn", "mvnw", "gradle", "gradlew", "sbt", "ant", "lein", "make", "gmake", "rake", "just", "task", "invoke", "nox", "tox", "bazel", "buck", "pants", "ninja", "cmake", "meson", "xcodebuild", "rails", "gitlab-rails", "gitlab-rake", "artisan", "manage.py", "django-admin")
def _build(inv: Invocation, em: Emitter) -> None:
    """Build tools and task runners: their targets are verbs (`gradle publish`, `rails db:drop`)."""
    parsed = classify_command(inv, em, OptionSpec.make(short_values="fCDpPjlsSo", long_values=["file", "directory", "define", "projects", "activate-profiles", "settings", "jobs", "project-dir", "build-file", "init-script"]))
    if inv.program.lower() in ("rails", "gitlab-rails") and parsed.operands[:1] and parsed.operands[0].text in ("runner", "r") and len(parsed.operands) > 1:
        code = parsed.operands[1]
        if code.text.endswith(".rb"):
            em.path("filesystem.read", code, script=True)
        else:
            em.code("ruby", code.text, dynamic=code.dynamic, via="rails runner")
        return
    targets = [w.text.lower() for w in parsed.operands if not w.text.startswith("-")]
    for t in targets:
        toks = tokens(t)
        if t in _PUBLISHING_TASKS or (toks and toks[-1] in ("publish", "deploy", "perform", "upload") and "local" not in toks):
            em.emit("package.publish", t, {"manager": inv.program.lower(), "verb": t})
            em.spawn["publishes"] = True
            break
    if inv.program.lower() in ("make", "gmake", "just", "task", "ninja", "cmake", "meson", "bazel", "xcodebuild") and em.spawn.get("verb_class") == "destructive" and not any(tokens(t)[:1] in (["drop"], ["destroy"], ["purge"], ["wipe"], ["nuke"]) for t in targets):
        # `make clean`-style targets remove build outputs of the project itself
        em.spawn.pop("destructive", None)
        em.spawn["verb_class"] = "change"
