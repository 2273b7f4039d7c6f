"""File tools: which files a command reads, writes, deletes, moves or re-permissions.

A file-read rule written once (`filesystem.read` of `**/.env`) then also governs
`cat .env`, `less`, `head`, `grep x .env`, `cp .env /tmp`, `base64 .env`, `tar czf
out.tgz .env`, `jq . secrets.json` and `< .env`. Options that take values are
declared per program so that operands are found correctly (`head -n 5 f`,
`sort -o out in`, `grep -e pat f`).
"""

from __future__ import annotations

import re

from bastion.analysis.emit import Emitter
from bastion.analysis.flags import OptionSpec, ParsedArgs, canonical_flags, parse_args
from bastion.analysis.programs import register
from bastion.analysis.programs.generic import set_verb
from bastion.analysis.words import Word
from bastion.analysis.wrappers import Invocation


def _spec(short: str = "", long: tuple[str, ...] = (), aliases: dict[str, str] | None = None) -> OptionSpec:
    return OptionSpec.make(short_values=short, long_values=long, aliases=aliases)


def _read_all(em: Emitter, words: list[Word], **facts: object) -> None:
    for w in words:
        em.path("filesystem.read", w, **facts)


def _flags(em: Emitter, parsed: ParsedArgs) -> None:
    flags = canonical_flags(parsed)
    if flags:
        em.spawn["flags"] = flags


# --------------------------------------------------------------------------- readers

#: program -> option spec; every operand is a file that is read
_READERS: dict[str, OptionSpec] = {
    "cat": _spec(), "tac": _spec(), "nl": _spec("bdfhinsvw"), "less": _spec("bhjkopPtTxyz"),
    "more": _spec("n"), "most": _spec(), "bat": _spec("lmHr", ("language", "line-range", "highlight-line", "theme", "style", "map-syntax")),
    "batcat": _spec("lmHr", ("language", "line-range", "highlight-line", "theme", "style")),
    "head": _spec("nc", ("lines", "bytes")), "tail": _spec("ncs", ("lines", "bytes", "sleep-interval", "pid")),
    "od": _spec("AjNtw", ("address-radix", "skip-bytes", "read-bytes", "format", "width")),
    "xxd": _spec("cglsoC", ("cols", "groupsize", "len", "seek")), "hexdump": _spec("enNs"), "hd": _spec("enNs"),
    "strings": _spec("ntTe"), "base64": _spec("w", ("wrap",)), "base32": _spec("w", ("wrap",)), "basenc": _spec("w"),
    "wc": _spec(), "md5sum": _spec(), "md5": _spec(), "sha1sum": _spec(), "sha224sum": _spec(),
    "sha256sum": _spec(), "sha384sum": _spec(), "sha512sum": _spec(), "shasum": _spec("a"), "b2sum": _spec("l"),
    "cksum": _spec("a"), "sum": _spec(), "file": _spec("mfF"), "cut": _spec("dfbc", ("delimiter", "fields", "bytes", "characters")),
    "paste": _spec("d"), "join": _spec("aejotv12"), "comm": _spec(), "fold": _spec("w"), "fmt": _spec("wpg"),
    "expand": _spec("t"), "unexpand": _spec("t"), "column": _spec("csto"), "rev": _spec(), "shuf": _spec("niro"),
    "diff": _spec("UxXICFSLW", ("unified", "exclude", "exclude-from", "ignore-matching-lines", "label")),
    "cmp": _spec("inl"), "zcat": _spec(), "gzcat": _spec(), "bzcat": _spec(), "xzcat": _spec(), "zstdcat": _spec(),
    "zless": _spec(), "zmore": _spec(), "view": _spec(), "pr": _spec("hlwo"), "look": _spec("t"),
    "iconv": _spec("fto", ("from-code", "to-code", "output")), "uniq": _spec("fsw"), "tr": _spec(),
    "plutil": _spec(),
    "csvlook": _spec(), "mlr": _spec(), "xmllint": _spec(), "yamllint": _spec("cdf"), "jless": _spec(),
}  # fmt: skip


def _reader(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    parsed = parse_args(inv.args, _READERS.get(name, _READERS["cat"]))
    operands = list(parsed.operands)
    if name == "uniq" and len(operands) == 2:  # uniq IN OUT
        em.path("filesystem.write", operands.pop())
    if name == "tr":
        operands = []  # tr reads stdin only; its operands are character sets
    out = parsed.value("o", "output")
    if out is not None and name in ("iconv", "shuf", "column"):
        em.path("filesystem.write", out)
    if name in ("base64", "base32", "basenc") and parsed.has("d", "decode", "D"):
        em.spawn["decode"] = True
    _read_all(em, operands)
    _flags(em, parsed)
    set_verb(em, "read", "read", [])


for _name in _READERS:
    register(_name)(_reader)

_SORT = _spec("oktSTz", ("output", "key", "field-separator", "buffer-size", "temporary-directory", "files0-from", "parallel", "sort"))


@register("sort")
def _sort(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _SORT)
    out = parsed.value("o", "output")
    if out is not None:
        em.path("filesystem.write", out)
    _read_all(em, parsed.operands)
    set_verb(em, "read", "read", [])


# --------------------------------------------------------------------------- search tools

_GREP = _spec(
    "efmABCdD",
    ("regexp", "file", "max-count", "after-context", "before-context", "context", "label", "include", "exclude", "exclude-dir", "exclude-from", "color", "colour", "devices", "directories", "binary-files", "group-separator"),
)
_RG = _spec(
    "efgtTmABCjMrEd",
    ("regexp", "file", "glob", "iglob", "type", "type-not", "max-count", "after-context", "before-context", "context", "threads", "max-columns", "replace", "encoding", "max-depth", "type-add", "ignore-file", "sort", "sortr", "color", "colors", "path-separator", "pre", "pre-glob", "max-filesize", "engine", "field-match-separator", "field-context-separator"),
)
_AG = _spec("AmBCGgp", ("after", "before", "context", "max-count", "file-search-regex", "ignore", "ignore-dir", "path-to-ignore", "depth"))


@register("grep", "egrep", "fgrep", "rg", "ag", "ack", "ack-grep", "zgrep", "pt", "ugrep", "git-grep")
def _grep(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    spec = _RG if name == "rg" else _AG if name in ("ag", "ack", "ack-grep", "pt") else _GREP
    parsed = parse_args(inv.args, spec)
    operands = list(parsed.operands)
    pattern_given = parsed.has("e", "regexp", "f", "file") or (name == "rg" and parsed.has("files", "type-list"))
    if operands and not pattern_given:
        operands.pop(0)  # the pattern
    pf = parsed.value("f", "file")
    if pf is not None:
        em.path("filesystem.read", pf)
    recursive = parsed.has("r", "R", "recursive", "dereference-recursive") or name in ("rg", "ag", "ack", "ack-grep", "pt")
    if not operands and recursive and not em.cmd.upstream and not em.cmd.stdin_redirected:
        operands = [Word(".")]
    _read_all(em, operands, recursive=recursive)
    _flags(em, parsed)
    set_verb(em, "search", "read", [])


_JQ_TWO = frozenset({"--arg", "--argjson", "--slurpfile", "--rawfile"})


@register("jq", "yq", "gojq", "jaq")
def _jq(inv: Invocation, em: Emitter) -> None:
    args = list(inv.args)
    if inv.program.lower() == "yq" and args and args[0].text in ("eval", "e", "eval-all", "ea"):
        args = args[1:]  # yq v4: `yq eval EXPR FILE`
    operands: list[Word] = []
    filter_given = False
    i = 0
    while i < len(args):
        t = args[i].text
        if t in _JQ_TWO:
            if t in ("--slurpfile", "--rawfile") and i + 2 < len(args):
                em.path("filesystem.read", args[i + 2])
            i += 3
            continue
        if t in ("-f", "--from-file") and i + 1 < len(args):
            em.path("filesystem.read", args[i + 1])
            filter_given = True
            i += 2
            continue
        if t in ("--indent", "-L"):  # options with a value
            i += 2
            continue
        if t.startswith("-") and t != "-":
            if t in ("-i", "--inplace"):
                em.spawn["in_place"] = True
            i += 1
            continue
        operands.append(args[i])
        i += 1
    if operands and not filter_given:
        operands.pop(0)
    access = "filesystem.write" if em.spawn.get("in_place") else "filesystem.read"
    for w in operands:
        em.path(access, w)
    set_verb(em, "read", "read", [])


# --------------------------------------------------------------------------- editors in scripts: sed, awk

_AWK_SYSTEM = re.compile(r"""\bsystem\s*\(\s*"((?:[^"\\]|\\.){0,2000})"\s*\)""")
_AWK_PIPE = re.compile(r"""(?:\|\s*getline|print[^;{}]{0,200}\|\s*")""")


@register("sed", "gsed")
def _sed(inv: Invocation, em: Emitter) -> None:
    args = list(inv.args)
    scripts: list[str] = []
    operands: list[Word] = []
    in_place = False
    i = 0
    while i < len(args):
        t = args[i].text
        if t in ("-e", "--expression") and i + 1 < len(args):
            scripts.append(args[i + 1].text)
            i += 2
            continue
        if t.startswith("--expression="):
            scripts.append(t.split("=", 1)[1])
        elif t in ("-f", "--file") and i + 1 < len(args):
            em.path("filesystem.read", args[i + 1])
            scripts.append("")
            i += 2
            continue
        elif t in ("-l", "--line-length") and i + 1 < len(args):
            i += 2
            continue
        elif t.startswith("--in-place") or (t.startswith("-i") and not t.startswith("--")) or (t.startswith("-") and not t.startswith("--") and "i" in t[1:] and t[1:].replace("i", "").isalpha() and len(t) <= 5):
            in_place = True
        elif t.startswith("-") and t != "-":
            pass
        else:
            operands.append(args[i])
        i += 1
    if not scripts and operands:
        scripts.append(operands.pop(0).text)
    for script in scripts:
        if re.search(r"(?:^|[;}\s])e(?:\s|$)|/e[gip0-9]*\s*(?:$|;)|\bw\s+\S", script):
            em.spawn["script_effects"] = True
    for w in operands:
        if in_place:
            em.path("filesystem.write", w, in_place=True)
        else:
            em.path("filesystem.read", w)
    if in_place:
        em.spawn["in_place"] = True
        set_verb(em, "edit", "change", [])
    else:
        set_verb(em, "read", "read", [])


@register("awk", "gawk", "mawk", "nawk")
def _awk(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _spec("Ffv", ("field-separator", "file", "assign", "include", "load")))
    operands = list(parsed.operands)
    program = None
    prog_file = parsed.value("f", "file")
    if prog_file is not None:
        em.path("filesystem.read", prog_file)
    elif operands:
        program = operands.pop(0)
    if program is not None:
        text = program.text
        for m in _AWK_SYSTEM.finditer(text):
            em.shell(m.group(1).replace('\\"', '"'), via="awk system()")
        if "system(" in text and not _AWK_SYSTEM.search(text) or _AWK_PIPE.search(text):
            em.opaque("awk runs a computed command")
    inplace = any(a.text in ("-i", "inplace") for a in inv.args)
    for w in operands:
        if "=" in w.text and not w.text.startswith(("/", ".")):
            continue  # var=value assignments
        em.path("filesystem.write" if inplace else "filesystem.read", w)
    set_verb(em, "read", "read", [])


# --------------------------------------------------------------------------- writers

@register("tee")
def _tee(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _spec("", ("output-error",)))
    append = parsed.has("a", "append")
    from bastion.analysis.derive import _remember_file
    from bastion.analysis.programs.shells import stdin_script

    text, _, known = stdin_script(em)
    for w in parsed.operands:
        path = em.path("filesystem.write", w, append=append)
        if path is not None:
            _remember_file(em.ctx, path, text if known else None, append)
    set_verb(em, "write", "change", [])


@register("touch")
def _touch(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _spec("drt", ("date", "reference")))
    for w in parsed.operands:
        em.path("filesystem.write", w, create=True)
    set_verb(em, "touch", "change", [])


@register("mkdir")
def _mkdir(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _spec("mZ", ("mode", "context")))
    for w in parsed.operands:
        em.path("filesystem.write", w, mkdir=True)
    set_verb(em, "mkdir", "change", [])


_TRUNCATE = _spec("sr", ("size", "reference", "io-blocks"))


@register("truncate")
def _truncate(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _TRUNCATE)
    if not parsed.has("s", "size", "r", "reference") and parsed.operands:
        # coreutils truncate needs -s or -r: `TRUNCATE users;` is SQL typed as a command
        from bastion.analysis.programs.databases import _sql_line

        _sql_line(inv, em)
        return
    size = parsed.value("s", "size") or ""
    zero = size.strip() in ("0", "0K", "0M", "0G", "0B", "0k")
    for w in parsed.operands:
        em.path("filesystem.write", w, truncate=True, emptied=zero)
    set_verb(em, "truncate", "destructive" if zero else "change", [])


_CP = _spec("tS", ("target-directory", "suffix", "backup", "reflink", "sparse", "preserve", "no-preserve", "context"))
_CP_ALIASES = {"r": "recursive", "R": "recursive", "a": "archive", "f": "force", "n": "no-clobber", "i": "interactive", "u": "update", "l": "link", "s": "symbolic-link", "b": "backup", "v": "verbose"}


def _copy_like(inv: Invocation, em: Emitter, move: bool) -> None:
    spec = OptionSpec.make(short_values="tS", long_values=_CP.long_values, aliases=_CP_ALIASES)
    parsed = parse_args(inv.args, spec)
    operands = list(parsed.operands)
    target_dir = parsed.value("t", "target-directory")
    if target_dir is not None:
        dest: Word | None = Word(target_dir)
    elif len(operands) >= 2:
        dest = operands.pop()
    else:
        dest = None
    recursive = parsed.has("recursive", "archive")
    force = parsed.has("force")
    no_clobber = parsed.has("no-clobber", "interactive", "update")
    dest_null = dest is not None and dest.text in ("/dev/null",)
    for src in operands:
        if move:
            path = em.path("filesystem.move", src, destination=dest.text if dest is not None else None, recursive=True)
            if dest_null and path:
                em.path("filesystem.delete", src, via_move=True)
        else:
            em.path("filesystem.read", src, recursive=recursive)
    if dest is not None and not dest_null:
        written = em.path("filesystem.write", dest, recursive=recursive or move, overwrite=not no_clobber, force=force, copy_from=[s.text for s in operands][:8])
        if len(operands) == 1 and written is not None:
            from bastion.analysis.derive import _remember_file, remember_alias

            remember_alias(em, operands[0], dest.text)  # `cp /bin/rm x; ./x -rf /`
            known, content = em.written_script(operands[0])
            if known:
                _remember_file(em.ctx, written, content, False)
    _flags(em, parsed)
    if move:
        set_verb(em, "move", "destructive" if dest_null else "change", [])
        if dest_null:
            em.spawn["destructive"] = True
    else:
        set_verb(em, "copy", "change", [])


@register("cp", "gcp", "install", "ditto")
def _cp(inv: Invocation, em: Emitter) -> None:
    _copy_like(inv, em, move=False)


@register("mv", "gmv")
def _mv(inv: Invocation, em: Emitter) -> None:
    _copy_like(inv, em, move=True)


@register("ln", "gln")
def _ln(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _spec("tS", ("target-directory", "suffix", "backup")))
    operands = list(parsed.operands)
    if len(operands) >= 2:
        link = operands.pop()
        em.path("filesystem.write", link, link=True, link_to=[o.text for o in operands][:4], force=parsed.has("f", "force"))
        if len(operands) == 1:
            from bastion.analysis.derive import remember_alias

            remember_alias(em, operands[0], link.text)  # `ln -s /bin/rm x; ./x -rf /`
    set_verb(em, "link", "change", [])


# --------------------------------------------------------------------------- delete

_RM = OptionSpec.make(aliases={"r": "recursive", "R": "recursive", "f": "force", "i": "interactive", "I": "interactive", "d": "dir", "v": "verbose"})


@register("rm", "grm", "srm", "trash", "trash-put", "rimraf", "del")
def _rm(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _RM)
    if parsed.has("help", "version"):
        set_verb(em, "help", "read", [])
        return
    name = inv.program.lower()
    recursive = parsed.has("recursive") or name == "rimraf"
    force = parsed.has("force") or name == "rimraf"
    for w in parsed.operands:
        em.path("filesystem.delete", w, recursive=recursive, force=force, trash=name.startswith("trash"))
    if not parsed.operands and inv.stdin_args:
        em.emit("filesystem.delete", None, {"recursive": recursive, "force": force, "dynamic": True, "stdin_args": True})
    _flags(em, parsed)
    em.spawn["recursive"] = recursive
    em.spawn["force"] = force
    set_verb(em, "delete", "destructive" if recursive or parsed.dynamic else "change", [])
    if not parsed.operands and not inv.stdin_args and not recursive:
        em.spawn.pop("destructive", None)


@register("rmdir", "unlink")
def _rmdir(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args)
    for w in parsed.operands:
        em.path("filesystem.delete", w, recursive=False, empty_only=inv.program.lower() == "rmdir")
    set_verb(em, "delete", "change", [])


@register("shred", "wipe", "srm-secure")
def _shred(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _spec("ns", ("iterations", "size", "random-source", "remove")))
    for w in parsed.operands:
        em.path("filesystem.delete", w, recursive=parsed.has("r", "recursive"), force=parsed.has("f", "force"), secure=True)
        em.path("filesystem.write", w, overwrite=True, secure=True)
    set_verb(em, "shred", "destructive", [])


# --------------------------------------------------------------------------- permissions

_MODE = re.compile(r"(?:[0-7]{3,4}|[ugoa]*[-+=][rwxXstugo]*(?:,[ugoa]*[-+=][rwxXstugo]*)*)\Z")


def _mode_facts(mode: str) -> dict[str, object]:
    facts: dict[str, object] = {"mode": mode}
    if mode.isascii() and mode.isdigit():
        digits = mode[-3:]
        other = int(digits[-1])
        facts["world_writable"] = bool(other & 2)
        facts["world_readable"] = bool(other & 4)
        facts["no_access"] = digits == "000"
        facts["setuid"] = len(mode) == 4 and bool(int(mode[0]) & 6)
    else:
        facts["world_writable"] = bool(re.search(r"(?:^|,)[ugo]*[ao][ugo]*\+[rwxXst]*w|(?:^|,)\+[rwxXst]*w|(?:^|,)[ugo]*o[ugo]*=[rwxXst]*w", mode)) or mode.startswith("+w") or "a+w" in mode
        facts["setuid"] = "+s" in mode or "=s" in mode
        facts["no_access"] = False
    return facts


@register("chmod", "gchmod")
def _chmod(inv: Invocation, em: Emitter) -> None:
    words = list(inv.args)
    recursive = False
    mode: str | None = None
    files: list[Word] = []
    for w in words:
        t = w.text
        if t in ("-R", "--recursive"):
            recursive = True
        elif mode is None and _MODE.match(t):
            mode = t
        elif t.startswith("--reference"):
            mode = "reference"
        elif t.startswith("-") and len(t) > 1 and not _MODE.match(t):
            recursive = recursive or "R" in t[1:]
        else:
            files.append(w)
    facts = _mode_facts(mode or "")
    facts["risky"] = bool(recursive or facts.get("world_writable") or facts.get("no_access") or facts.get("setuid"))
    for w in files:
        em.path("filesystem.chmod", w, recursive=recursive, **facts)
    em.spawn["recursive"] = recursive
    set_verb(em, "chmod", "change", [])


@register("chown", "chgrp", "gchown")
def _chown(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _spec("", ("from", "reference")), )
    operands = list(parsed.operands)
    owner = operands.pop(0).text if operands and not parsed.value("reference") else None
    recursive = parsed.has("R", "recursive")
    for w in operands:
        em.path("filesystem.chmod", w, recursive=recursive, owner=owner, chown=True, risky=recursive or owner in ("root", "root:root", "0", "0:0"))
    em.spawn["recursive"] = recursive
    set_verb(em, "chown", "change", [])


# --------------------------------------------------------------------------- find

_FIND_VALUE = frozenset(
    {
        "-name", "-iname", "-path", "-ipath", "-regex", "-iregex", "-type", "-xtype", "-size", "-mtime", "-mmin",
        "-atime", "-amin", "-ctime", "-cmin", "-newer", "-user", "-group", "-perm", "-maxdepth", "-mindepth",
        "-printf", "-fprintf", "-wholename", "-iwholename", "-lname", "-ilname", "-inum", "-links", "-uid",
        "-gid", "-samefile", "-used", "-context", "-fstype", "-regextype", "-files0-from", "-newermt",
    }
)  # fmt: skip


@register("find", "gfind", "bfs")
def _find(inv: Invocation, em: Emitter) -> None:
    from bastion.analysis.derive import process_command
    from bastion.analysis.shell import SimpleCommand

    args = list(inv.args)
    roots: list[Word] = []
    i = 0
    while i < len(args) and not args[i].text.startswith(("-", "(", "!")) :
        roots.append(args[i])
        i += 1
    if not roots:
        roots = [Word(".")]
    delete = False
    while i < len(args):
        t = args[i].text
        if t in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            inner: list[Word] = []
            while j < len(args) and args[j].text not in (";", "+"):
                w = args[j]
                inner.append(Word(w.text, True) if "{}" in w.text else w)
                j += 1
            if inner:
                cmd = SimpleCommand(tuple(inner), " ".join(x.text for x in inner), cwd=em.cmd.cwd)
                facts = process_command(em.ctx, cmd, depth=em.depth, remote=em.remote, via=em.via + ("find -exec",))
                if facts and facts.get("destructive"):
                    em.spawn["destructive"] = True
            i = j + 1
            continue
        if t == "-delete":
            delete = True
        elif t in ("-fprint", "-fprint0", "-fls", "-fprintf") and i + 1 < len(args):
            em.path("filesystem.write", args[i + 1])
            i += 1
        elif t in _FIND_VALUE:
            i += 1
        i += 1
    for root in roots:
        if delete:
            em.path("filesystem.delete", root, recursive=True, selective=True)
        else:
            em.path("filesystem.read", root, recursive=True, list_only=True)
    if delete:
        set_verb(em, "delete", "destructive", [])
    elif "verb" not in em.spawn:
        set_verb(em, "find", "read", [])


# --------------------------------------------------------------------------- dd, tar, zip

@register("dd")
def _dd(inv: Invocation, em: Emitter) -> None:
    for w in inv.args:
        key, eq, value = w.text.partition("=")
        if not eq:
            continue
        if key == "if":
            em.path("filesystem.read", value)
        elif key == "of":
            device = value.startswith("/dev/") and value not in ("/dev/null", "/dev/stdout", "/dev/stderr")
            em.path("filesystem.write", value, overwrite=True, device=device)
            if device:
                em.spawn["destructive"] = True
                set_verb(em, "overwrite", "destructive", [])
    em.spawn.setdefault("verb", "copy")
    em.spawn.setdefault("verb_class", "change")


@register("tar", "gtar", "bsdtar")
def _tar(inv: Invocation, em: Emitter) -> None:
    args = list(inv.args)
    mode = ""
    archive: str | None = None
    directory: str | None = None
    operands: list[Word] = []
    i = 0
    first = True
    while i < len(args):
        t = args[i].text
        if first and not t.startswith("-") and t and t.isalpha():  # old style: tar czf out.tgz dir
            t = "-" + t
        first = False
        if t.startswith("--"):
            name, eq, value = t[2:].partition("=")
            if name in ("create", "extract", "get", "list", "append", "update", "delete", "diff", "compare"):
                mode = {"get": "extract", "compare": "diff"}.get(name, name)
            elif name == "file":
                archive = value if eq else (args[i + 1].text if i + 1 < len(args) else None)
                i += 0 if eq else 1
            elif name == "directory":
                directory = value if eq else (args[i + 1].text if i + 1 < len(args) else None)
                i += 0 if eq else 1
            i += 1
            continue
        if t.startswith("-") and len(t) > 1:
            letters = t[1:]
            for k, ch in enumerate(letters):
                if ch in "cxtrud":
                    mode = {"c": "create", "x": "extract", "t": "list", "r": "append", "u": "update", "d": "diff"}[ch]
                elif ch in "fC":
                    value = letters[k + 1 :] or (args[i + 1].text if i + 1 < len(args) else "")
                    if not letters[k + 1 :]:
                        i += 1
                    if ch == "f":
                        archive = value
                    else:
                        directory = value
                    break
            i += 1
            continue
        operands.append(args[i])
        i += 1
    if mode in ("create", "append", "update"):
        for w in operands:
            em.path("filesystem.read", w, recursive=True)
        if archive:
            em.path("filesystem.write", archive)
        set_verb(em, "archive", "change", [])
    elif mode == "extract":
        if archive:
            em.path("filesystem.read", archive)
        em.path("filesystem.write", directory or ".", recursive=True, extract=True, overwrite=True)
        set_verb(em, "extract", "change", [])
    elif mode == "delete":
        if archive:
            em.path("filesystem.write", archive)
        set_verb(em, "delete", "change", [])
    else:
        if archive:
            em.path("filesystem.read", archive)
        set_verb(em, "list", "read", [])


@register("zip")
def _zip(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _spec("btnxiP", ("password",)))
    operands = list(parsed.operands)
    if operands:
        em.path("filesystem.write", operands.pop(0))
    for w in operands:
        em.path("filesystem.read", w, recursive=parsed.has("r"))
    set_verb(em, "archive", "change", [])


@register("unzip")
def _unzip(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _spec("dxP", ()))
    operands = list(parsed.operands)
    if operands:
        em.path("filesystem.read", operands[0])
    if parsed.has("l", "v", "t", "Z", "z"):
        set_verb(em, "list", "read", [])
        return
    em.path("filesystem.write", parsed.value("d") or ".", recursive=True, extract=True, overwrite=parsed.has("o"))
    set_verb(em, "extract", "change", [])


@register("gzip", "gunzip", "bzip2", "bunzip2", "xz", "unxz", "zstd", "unzstd", "lz4", "compress", "uncompress")
def _gzip(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _spec("S", ("suffix",)))
    to_stdout = parsed.has("c", "stdout", "to-stdout", "l", "list", "t", "test")
    for w in parsed.operands:
        em.path("filesystem.read", w)
        if not to_stdout:
            em.path("filesystem.write", w, replace=True)
    set_verb(em, "compress", "read" if to_stdout else "change", [])


# --------------------------------------------------------------------------- harmless builtins and info tools

_HARMLESS = (
    "echo", "printf", "true", "false", ":", "test", "[", "[[", "pwd", "cd", "pushd", "popd", "dirs", "date", "sleep",
    "yes", "seq", "expr", "id", "whoami", "groups", "uname", "arch", "uptime", "tty", "basename", "dirname", "realpath",
    "readlink", "which", "whereis", "type", "hash", "command-v", "ls", "ll", "la", "dir", "vdir", "tree", "du", "df", "stat",
    "wait", "jobs", "fg", "bg", "disown", "umask", "unalias", "shopt", "set", "read", "let", "local",
    "declare", "typeset", "readonly", "export", "unset", "return", "exit", "break", "continue", "shift", "getopts",
    "clear", "reset", "tput", "stty", "history", "fc", "times", "ulimit", "caller", "complete", "compgen",
    "bind", "help", "man", "info", "apropos", "whatis", "tldr", "cal", "bc", "dc", "factor", "numfmt", "nproc",
    "free", "vm_stat", "lscpu", "lsblk", "lsusb", "lspci", "lsof", "ps", "pgrep", "pidof", "top", "htop", "btop",
    "w", "who", "last", "users", "locale", "getconf", "logname", "mktemp", "tempfile", "cowsay", "figlet", "say",
    "notify-send", "terminal-notifier", "sw_vers", "system_profiler", "ioreg", "sysctl-a", "printenv", "env-print",
    "sync", "watchman", "fd", "fdfind", "locate", "mlocate", "plocate", "env",
)  # fmt: skip


_OPENSSL_IN = frozenset({"-in", "-key", "-inkey", "-signkey", "-CAkey", "-CA", "-cert", "-passin", "-kfile", "-pass"})
_OPENSSL_OUT = frozenset({"-out", "-keyout"})


@register("openssl")
def _openssl(inv: Invocation, em: Emitter) -> None:
    """`openssl rsa -in key.pem -out plain.pem` reads a key and writes one.

    Sub-commands of public material (x509 certificates, requests, CRLs, verify) read no
    secret, so only key-handling ones derive a read of their input."""
    args = list(inv.args)
    public = bool(args) and args[0].text in ("x509", "req", "crl", "verify", "s_client", "version", "list", "help", "ciphers", "errstr", "rand", "prime")
    for i, w in enumerate(args[:-1]):
        value = args[i + 1]
        if public and w.text == "-in":
            continue
        if w.text in _OPENSSL_IN and not value.text.startswith(("pass:", "env:", "fd:", "stdin")):
            em.path("filesystem.read", value.text[5:] if value.text.startswith("file:") else value, key_material=True)
        elif w.text in _OPENSSL_OUT:
            em.path("filesystem.write", value, key_material=w.text == "-keyout")
    set_verb(em, args[0].text if args else "version", "read" if args and args[0].text in ("version", "x509", "s_client", "list", "help") else "change", [])


@register("command", "type", "hash", "which", "whereis")
def _lookup(inv: Invocation, em: Emitter) -> None:
    """`command -v rm`, `type rm`, `which rm`: look a name up, run nothing."""
    set_verb(em, "lookup", "read", [])


@register(*_HARMLESS)
def _harmless(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    if name == "printenv" or (name == "env" and not inv.args):
        em.emit("env.read", inv.args[0].text if inv.args else "*", {"all": not inv.args})
    if name in ("fd", "fdfind", "ls", "tree", "du", "locate"):
        set_verb(em, "list", "read", [])
    else:
        set_verb(em, name if name.isalpha() else "builtin", "read", [])
