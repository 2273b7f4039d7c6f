"""Wrappers: programs that run another program (`sudo`, `env`, `nohup`, `timeout`, `xargs`, ...).

`sudo -u root env X=1 nice -n 5 /bin/rm -rf /` runs `rm`. Rules are written about
what really runs, so wrappers are peeled off (with their own options understood, so
that `timeout 5 rm` does not make `5` the program) and remembered as facts
(`wrappers: [sudo, env, nice]`, `privileged: true`). Wrappers that hand a *string*
to a shell (`watch 'cmd'`, `su -c 'cmd'`, `flock f -c 'cmd'`, `nix-shell --run`)
become `sh -c STRING`, so that derive.py parses the string like any `bash -c`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from bastion.analysis.flags import OptionSpec, parse_args
from bastion.analysis.words import Word

MAX_WRAPPERS = 16


@dataclass(frozen=True, slots=True)
class Invocation:
    """What one simple command really runs, after wrappers are peeled off."""

    program: str
    #: argv[0] as written after quote removal (`/bin/rm`, `\\rm` -> `rm`)
    written: str
    args: tuple[Word, ...]
    wrappers: tuple[str, ...] = ()
    #: the program name is computed at run time (`$(echo rm) -rf /`)
    dynamic_program: bool = False
    #: xargs / parallel: more arguments are read from stdin at run time
    stdin_args: bool = False
    privileged: bool = False
    run_as: str | None = None
    #: where the command runs when a wrapper moves it (`container:web`, `pod:api`)
    remote: str | None = None
    env: tuple[tuple[str, str], ...] = ()


@lru_cache(maxsize=4096)
def program_name(written: str) -> str:
    """`/usr/bin/rm` -> `rm`; `C:\\bin\\rm.exe` -> `rm`."""
    name = written.rstrip("/").rsplit("/", 1)[-1]
    if "\\" in name:
        name = name.rsplit("\\", 1)[-1]
    if name.lower().endswith(".exe"):
        name = name[:-4]
    return name


def lookup_names(program: str) -> tuple[str, ...]:
    """Names to look a program up by: `python3.11` -> (python3.11, python), `mkfs.ext4` -> (.., mkfs)."""
    low = program.lower()
    names = [low]
    stripped = low.rstrip("0123456789.")
    if stripped and stripped != low:
        names.append(stripped)
    if "." in low:
        head = low.split(".", 1)[0]
        if head and head not in names:
            names.append(head)
    return tuple(names)


# --------------------------------------------------------------------------- wrapper handlers

#: A handler gets the words after the wrapper's name and returns
#: (the words of the wrapped command, changes) or None when it wraps nothing.
Result = tuple[list[Word], dict] | None
Handler = Callable[[list[Word]], Result]

_SUDO = OptionSpec.make(
    short_values="ugpChDrtUTR",
    long_values=["user", "group", "prompt", "close-from", "host", "chdir", "role", "type", "other-user", "command-timeout", "chroot"],
    posix=True,
)
_DOAS = OptionSpec.make(short_values="uC", posix=True)
_ENV = OptionSpec.make(short_values="uCS", long_values=["unset", "chdir", "split-string"], posix=True)
_TIME = OptionSpec.make(short_values="fo", long_values=["format", "output"], posix=True)
_NICE = OptionSpec.make(short_values="n", long_values=["adjustment"], posix=True)
_IONICE = OptionSpec.make(short_values="cnp", long_values=["class", "classdata", "pid", "pgid", "uid"], posix=True)
_TIMEOUT = OptionSpec.make(short_values="sk", long_values=["signal", "kill-after"], posix=True)
_STDBUF = OptionSpec.make(short_values="ioe", long_values=["input", "output", "error"], posix=True)
_XARGS = OptionSpec.make(
    short_values="IELnPdsa",
    long_values=["replace", "max-lines", "max-args", "max-procs", "delimiter", "eof", "max-chars", "arg-file", "process-slot-var"],
    posix=True,
)
_EXEC = OptionSpec.make(short_values="a", posix=True)
_POSIX = OptionSpec.make(posix=True)
_CHROOT = OptionSpec.make(long_values=["userspec", "groups"], posix=True)
_NSENTER = OptionSpec.make(short_values="tSGwr", long_values=["target", "setuid", "setgid", "wd", "root"], posix=True)
_FLOCK = OptionSpec.make(short_values="wEc", long_values=["timeout", "wait", "conflict-exit-code", "command"], posix=True)
_WATCH = OptionSpec.make(short_values="nq", long_values=["interval", "equexit"], posix=True)
_CAFFEINATE = OptionSpec.make(short_values="tw", posix=True)
_STRACE = OptionSpec.make(short_values="eoOpPsSuUXbaEI", posix=True)
_SU = OptionSpec.make(short_values="cgGsw", long_values=["command", "group", "supp-group", "shell", "whitelist-environment"], posix=True)
_RUNUSER = OptionSpec.make(short_values="ucgGsw", long_values=["user", "command", "group", "supp-group", "shell"], posix=True)
_NPX = OptionSpec.make(short_values="pc", long_values=["package", "call", "node-options", "registry", "cache"], posix=True)
_RUNNER = OptionSpec.make(
    short_values="penw",
    long_values=["with", "python", "project", "directory", "env-file", "group", "extra", "package", "from", "name", "prefix", "index-url", "spec", "env", "package-manager"],
    posix=True,
)
_SYSTEMD_RUN = OptionSpec.make(short_values="pEM", long_values=["unit", "property", "setenv", "machine", "description", "slice", "uid", "gid", "working-directory"], posix=True)
_DOCKER_EXEC = OptionSpec.make(short_values="euwU", long_values=["env", "env-file", "user", "workdir", "detach-keys"], posix=True)
_KUBECTL_EXEC = OptionSpec.make(short_values="cnf", long_values=["container", "namespace", "filename", "context", "kubeconfig", "pod-running-timeout"], posix=True)


def _leading_assignments(words: list[Word]) -> tuple[list[Word], list[tuple[str, str]]]:
    env: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        name, eq, value = words[i].text.partition("=")
        if eq and name and (name[0].isalpha() or name[0] == "_") and name.replace("_", "a").isalnum():
            env.append((name, value))
            i += 1
        else:
            break
    return words[i:], env


def _simple(words: list[Word]) -> Result:
    return (words, {}) if words else None


def _posix(spec: OptionSpec, skip_operands: int = 0, **changes: object) -> Handler:
    def handler(words: list[Word]) -> Result:
        parsed = parse_args(words, spec)
        rest = parsed.rest[skip_operands:] if parsed.rest else []
        if not rest:
            return None
        return rest, dict(changes)

    return handler


def _sudo(words: list[Word]) -> Result:
    parsed = parse_args(words, _SUDO)
    rest, env = _leading_assignments(parsed.rest)
    user = parsed.value("u", "user") or "root"
    if parsed.has("e", "edit"):
        return None
    if not rest:
        if parsed.has("s", "shell", "i", "login"):  # an interactive root shell
            return [Word("sh")], {"privileged": True, "run_as": user}
        return None
    return rest, {"privileged": True, "run_as": user, "env": env}


def _doas(words: list[Word]) -> Result:
    parsed = parse_args(words, _DOAS)
    if not parsed.rest:
        return ([Word("sh")], {"privileged": True, "run_as": "root"}) if parsed.has("s") else None
    return parsed.rest, {"privileged": True, "run_as": parsed.value("u") or "root"}


def _su(words: list[Word]) -> Result:
    parsed = parse_args(words, _SU)
    command = parsed.value("c", "command")
    user = next((w.text for w in parsed.operands if w.text != "-"), "root")
    if command is not None:
        return [Word("sh"), Word("-c"), Word(command)], {"privileged": True, "run_as": user}
    return [Word("sh")], {"privileged": True, "run_as": user}


def _runuser(words: list[Word]) -> Result:
    parsed = parse_args(words, _RUNUSER)
    command = parsed.value("c", "command")
    user = parsed.value("u", "user") or next((w.text for w in parsed.operands), "root")
    if command is not None:
        return [Word("sh"), Word("-c"), Word(command)], {"privileged": True, "run_as": user}
    rest = parsed.rest[1:] if parsed.rest and parsed.value("u", "user") is None else parsed.rest
    return (rest, {"privileged": True, "run_as": user}) if rest else None


def _env(words: list[Word]) -> Result:
    parsed = parse_args(words, _ENV)
    split = parsed.value("S", "split-string")
    rest = list(parsed.rest)
    if split is not None:
        rest = [Word(p) for p in split.split()] + rest
    rest, env = _leading_assignments(rest)
    return (rest, {"env": env}) if rest else None


def _command(words: list[Word]) -> Result:
    parsed = parse_args(words, _POSIX)
    if parsed.has("v", "V"):
        return None  # `command -v rm` only looks a name up
    return (parsed.rest, {}) if parsed.rest else None


def _xargs(words: list[Word]) -> Result:
    parsed = parse_args(words, _XARGS)
    rest = parsed.rest or [Word("echo")]
    marker = parsed.value("I", "replace")
    if marker is None and parsed.has("i", "replace"):
        marker = "{}"
    if marker:  # `xargs -I{} sh -c '{}'`: words holding the marker are filled in at run time
        rest = [Word(w.text, True, w.glob) if marker in w.text else w for w in rest]
    return rest, {"stdin_args": True}


def _flock(words: list[Word]) -> Result:
    parsed = parse_args(words, _FLOCK)
    command = parsed.value("c", "command")
    if command is not None:
        return [Word("sh"), Word("-c"), Word(command)], {}
    rest = parsed.rest[1:]  # skip the lock file
    if rest and rest[0].text in ("-c", "--command") and len(rest) > 1:
        return [Word("sh"), Word("-c"), rest[1]], {}
    return (rest, {}) if rest else None


def _watch(words: list[Word]) -> Result:
    parsed = parse_args(words, _WATCH)
    if not parsed.rest:
        return None
    if parsed.has("x", "exec"):
        return parsed.rest, {}
    return [Word("sh"), Word("-c"), Word(" ".join(w.text for w in parsed.rest), any(w.dynamic for w in parsed.rest))], {}


def _script(words: list[Word]) -> Result:
    parsed = parse_args(words, OptionSpec.make(short_values="cEIOBTm", long_values=["command"]))
    command = parsed.value("c", "command")
    return ([Word("sh"), Word("-c"), Word(command)], {}) if command is not None else None


def _npx(words: list[Word]) -> Result:
    parsed = parse_args(words, _NPX)
    command = parsed.value("c", "call")
    if command is not None:
        return [Word("sh"), Word("-c"), Word(command)], {}
    return (parsed.rest, {}) if parsed.rest else None


def _subcommand(sub: str | tuple[str, ...], spec: OptionSpec = _RUNNER, skip: int = 0) -> Handler:
    """`poetry run CMD`, `bundle exec CMD`: a wrapper only with that sub-command."""
    subs = (sub,) if isinstance(sub, str) else sub

    def handler(words: list[Word]) -> Result:
        if not words or words[0].text not in subs:
            return None
        parsed = parse_args(words[1:], spec)
        rest = parsed.rest[skip:]
        return (rest, {}) if rest else None

    return handler


def _nix_shell(words: list[Word]) -> Result:
    for i, w in enumerate(words[:-1]):
        if w.text in ("--run", "--command"):
            return [Word("sh"), Word("-c"), words[i + 1]], {}
    return None


def _gdb(words: list[Word]) -> Result:
    for i, w in enumerate(words):
        if w.text == "--args":
            rest = words[i + 1 :]
            return (rest, {}) if rest else None
    return None


def _docker(words: list[Word]) -> Result:
    """`docker exec [opts] CONTAINER CMD...` runs CMD inside the container."""
    if len(words) < 2:
        return None
    sub = words[0].text
    if sub == "container" and len(words) > 2:
        words = words[1:]
        sub = words[0].text
    if sub != "exec":
        return None
    parsed = parse_args(words[1:], _DOCKER_EXEC)
    if len(parsed.rest) < 2:
        return None
    return parsed.rest[1:], {"remote": "container:" + parsed.rest[0].text}


def _kubectl(words: list[Word]) -> Result:
    """`kubectl exec POD -- CMD...` runs CMD inside the pod."""
    if not words or words[0].text != "exec":
        return None
    after = words[1:]
    for i, w in enumerate(after):
        if w.text == "--":
            pods = [x.text for x in after[:i] if not x.text.startswith("-")]
            rest = after[i + 1 :]
            return (rest, {"remote": "pod:" + (pods[-1] if pods else "?")}) if rest else None
    return None


def _after_double_dash(sub: str | None = None) -> Handler:
    """`op run -- CMD`, `doppler run -- CMD`, `dotenv -- CMD`, `aws-vault exec PROFILE -- CMD`."""

    def handler(words: list[Word]) -> Result:
        if sub is not None and (not words or words[0].text != sub):
            return None
        for i, w in enumerate(words):
            if w.text == "--":
                rest = words[i + 1 :]
                return (rest, {}) if rest else None
        return None

    return handler


WRAPPERS: dict[str, Handler] = {
    "sudo": _sudo,
    "doas": _doas,
    "su": _su,
    "runuser": _runuser,
    "pkexec": _posix(OptionSpec.make(long_values=["user"], posix=True), privileged=True, run_as="root"),
    "run0": _posix(OptionSpec.make(short_values="u", long_values=["user", "unit", "property"], posix=True), privileged=True, run_as="root"),
    "env": _env,
    "nohup": _simple,
    "time": _posix(_TIME),
    "nice": _posix(_NICE),
    "renice": None,  # type: ignore[dict-item]  # changes a running process; not a wrapper
    "ionice": _posix(_IONICE),
    "timeout": _posix(_TIMEOUT, skip_operands=1),
    "gtimeout": _posix(_TIMEOUT, skip_operands=1),
    "stdbuf": _posix(_STDBUF),
    "unbuffer": _simple,
    "xargs": _xargs,
    "command": _command,
    "builtin": _simple,
    "exec": _posix(_EXEC),
    "setsid": _posix(_POSIX),
    "chroot": _posix(_CHROOT, skip_operands=1, privileged=True, run_as="root"),
    "unshare": _posix(OptionSpec.make(long_values=["map-user", "map-group", "setuid", "setgid", "wd", "root"], posix=True)),
    "nsenter": _posix(_NSENTER, privileged=True, run_as="root"),
    "flock": _flock,
    "watch": _watch,
    "caffeinate": _posix(_CAFFEINATE),
    "strace": _posix(_STRACE),
    "ltrace": _posix(_STRACE),
    "valgrind": _posix(_POSIX),
    "catchsegv": _simple,
    "rlwrap": _posix(_POSIX),
    "proxychains": _posix(OptionSpec.make(short_values="f", posix=True)),
    "proxychains4": _posix(OptionSpec.make(short_values="f", posix=True)),
    "torsocks": _posix(_POSIX),
    "tsocks": _simple,
    "firejail": _posix(_POSIX),
    "chronic": _posix(_POSIX),
    "busybox": _simple,
    "toybox": _simple,
    "script": _script,
    "systemd-run": _posix(_SYSTEMD_RUN),
    "gdb": _gdb,
    "npx": _npx,
    "bunx": _npx,
    "pnpx": _npx,
    "uvx": _posix(_RUNNER),
    "npm": _subcommand(("exec", "x")),
    "pnpm": _subcommand(("exec", "dlx")),
    "yarn": _subcommand(("exec", "dlx")),
    "bun": _subcommand("x"),
    "poetry": _subcommand("run"),
    "uv": _subcommand(("run", "tool")),
    "pipenv": _subcommand("run"),
    "pdm": _subcommand("run"),
    "hatch": _subcommand("run"),
    "rye": _subcommand("run"),
    "pipx": _subcommand("run"),
    "conda": _subcommand("run"),
    "mamba": _subcommand("run"),
    "micromamba": _subcommand("run"),
    "bundle": _subcommand("exec"),
    "mise": _subcommand(("exec", "x")),
    "asdf": _subcommand("exec"),
    "rtx": _subcommand(("exec", "x")),
    "direnv": _subcommand("exec", skip=1),
    "nix-shell": _nix_shell,
    "docker": _docker,
    "podman": _docker,
    "kubectl": _kubectl,
    "oc": _kubectl,
    "aws-vault": _after_double_dash("exec"),
    "op": _after_double_dash("run"),
    "doppler": _after_double_dash("run"),
    "dotenv": _after_double_dash(),
    "infisical": _after_double_dash("run"),
}
WRAPPERS = {k: v for k, v in WRAPPERS.items() if v is not None}


def unwrap(argv: tuple[Word, ...] | list[Word], assignments: tuple[tuple[str, Word], ...] = ()) -> Invocation | None:
    """Peel wrappers off `argv`; None for an empty command."""
    words = list(argv)
    wrappers: list[str] = []
    privileged = False
    run_as: str | None = None
    stdin_args = False
    remote: str | None = None
    env: list[tuple[str, str]] = [(k, v.text) for k, v in assignments]
    for _ in range(MAX_WRAPPERS):
        if not words:
            break
        head = words[0]
        if head.dynamic or head.glob:
            break
        name = program_name(head.text)
        handler = WRAPPERS.get(name.lower())
        if handler is None:
            break
        result = handler(words[1:])
        if result is None:
            break
        words, changes = result
        wrappers.append(name)
        privileged = privileged or bool(changes.get("privileged"))
        run_as = changes.get("run_as", run_as)  # type: ignore[assignment]
        stdin_args = stdin_args or bool(changes.get("stdin_args"))
        remote = changes.get("remote", remote)  # type: ignore[assignment]
        env.extend(changes.get("env", ()))  # type: ignore[arg-type]
    if not words:
        return None
    head = words[0]
    return Invocation(
        program=program_name(head.text) if not head.dynamic else head.text,
        written=head.text,
        args=tuple(words[1:]),
        wrappers=tuple(wrappers),
        dynamic_program=head.dynamic or head.glob or not head.text,
        stdin_args=stdin_args,
        privileged=privileged,
        run_as=run_as,
        remote=remote,
        env=tuple(env),
    )
