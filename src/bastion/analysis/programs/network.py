"""Network tools: requests, uploads, downloads and remote shells.

`curl -d @.env https://x/up` reads `.env` and POSTs to `https://x/up` with
`upload: true`; `wget -O f URL` writes `f`; `scp f host:` connects with `upload`;
`ssh host 'rm -rf /tmp/x'` connects and runs a remote command line (analysed, with
`remote: host`); `rsync --delete` deletes at the destination.
"""

from __future__ import annotations

from bastion.analysis.emit import Emitter
from bastion.analysis.flags import OptionSpec, parse_args
from bastion.analysis.programs import register
from bastion.analysis.programs.generic import set_verb
from bastion.analysis.words import Word
from bastion.analysis.wrappers import Invocation

# --------------------------------------------------------------------------- curl

_CURL = OptionSpec.make(
    short_values="AbcCdDeEFHKmoPQrTtuUwxXyYz",
    long_values=[
        "request", "data", "data-raw", "data-binary", "data-ascii", "data-urlencode", "json", "form", "form-string",
        "upload-file", "output", "header", "user", "user-agent", "referer", "cookie", "cookie-jar", "config", "url",
        "proxy", "cacert", "capath", "cert", "key", "write-out", "max-time", "connect-timeout", "retry", "range",
        "continue-at", "resolve", "connect-to", "interface", "output-dir", "proxy-user", "oauth2-bearer", "aws-sigv4",
        "variable", "limit-rate", "max-filesize", "dns-servers", "unix-socket", "abstract-unix-socket", "local-port",
        "retry-delay", "retry-max-time", "cert-type", "key-type", "pass", "proxy-header", "request-target",
        "expect100-timeout", "happy-eyeballs-timeout-ms", "keepalive-time", "max-redirs", "trace", "trace-ascii",
        "stderr", "dump-header", "etag-save", "etag-compare", "hsts", "alt-svc", "netrc-file", "mail-from",
        "mail-rcpt", "ftp-port", "socks5", "socks5-hostname", "socks4", "tls-max", "ciphers", "pinnedpubkey",
    ],
    aliases={"X": "request", "d": "data", "F": "form", "T": "upload-file", "o": "output", "H": "header", "u": "user", "G": "get", "I": "head", "O": "remote-name", "K": "config", "b": "cookie", "c": "cookie-jar", "L": "location", "k": "insecure"},
)  # fmt: skip
_CURL_DATA = ("data", "data-raw", "data-binary", "data-ascii", "data-urlencode", "json")


def _curl_words(inv: Invocation) -> list[Word]:
    """curl accepts several -d/-F/-H; parse_args keeps the last, so collect them all here."""
    return list(inv.args)


def _all_values(args: list[Word], shorts: tuple[str, ...], longs: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(args):
        t = args[i].text
        if t in shorts or t in tuple("--" + x for x in longs):
            if i + 1 < len(args):
                out.append(args[i + 1].text)
            i += 2
            continue
        for s in shorts:
            if t.startswith(s) and len(t) > len(s) and not t.startswith("--"):
                out.append(t[len(s) :])
        for lng in longs:
            if t.startswith("--" + lng + "="):
                out.append(t.split("=", 1)[1])
        i += 1
    return out


@register("curl", "curlie")
def _curl(inv: Invocation, em: Emitter) -> None:
    args = _curl_words(inv)
    parsed = parse_args(args, _CURL)
    data = _all_values(args, ("-d",), _CURL_DATA)
    forms = _all_values(args, ("-F",), ("form", "form-string"))
    uploads = _all_values(args, ("-T",), ("upload-file",))
    files_read: list[str] = []
    for d in data:
        if d.startswith("@") and d not in ("@-",):
            files_read.append(d[1:])
    for f in forms:
        _, eq, value = f.partition("=")
        if eq and value.startswith(("@", "<")) and value[1:] not in ("-",):
            files_read.append(value[1:].split(";", 1)[0])
    files_read.extend(u for u in uploads if u not in ("-", "."))
    config = parsed.value("config")
    if config:
        em.path("filesystem.read", config)
        em.spawn["config_file"] = True
    for f in files_read:
        em.path("filesystem.read", f, upload=True)
    method = parsed.value("request")
    upload = bool(data or forms or uploads)
    if method is None:
        if parsed.has("head"):
            method = "HEAD"
        elif uploads:
            method = "PUT"
        elif (data or forms) and not parsed.has("get"):
            method = "POST"
        else:
            method = "GET"
    method = method.upper()
    urls = [w.text for w in parsed.operands]
    url_opt = parsed.value("url")
    if url_opt:
        urls.append(url_opt)
    body_stdin = any(d in ("@-",) for d in data) or "-" in uploads
    for u in urls[:16]:
        em.url(u, method=method, upload=upload, upload_files=files_read[:8], body_from_stdin=body_stdin)
    out = parsed.value("output")
    if out and out != "-":
        em.path("filesystem.write", out, download=True)
    jar = parsed.value("cookie-jar")
    if jar and jar != "-":
        em.path("filesystem.write", jar)
    em.spawn["method"] = method
    em.spawn["upload"] = upload
    cls = {"GET": "read", "HEAD": "read", "OPTIONS": "read", "DELETE": "destructive"}.get(method, "change")
    set_verb(em, method.lower(), cls, [])
    if any(d.startswith("@") for d in data) or forms or uploads:
        em.spawn["uploads_file"] = True


# --------------------------------------------------------------------------- wget

_WGET = OptionSpec.make(
    short_values="OoaiBetTwQUlDIXARPb",
    long_values=["output-document", "output-file", "append-output", "input-file", "base", "execute", "tries", "timeout", "wait", "quota", "user-agent", "level", "domains", "include-directories", "exclude-directories", "accept", "reject", "directory-prefix", "post-data", "post-file", "method", "body-data", "body-file", "header", "user", "password", "http-user", "http-password", "load-cookies", "save-cookies", "ca-certificate", "certificate", "private-key"],
    aliases={"O": "output-document", "P": "directory-prefix", "i": "input-file", "q": "quiet"},
)  # fmt: skip


@register("wget", "wget2")
def _wget(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _WGET)
    post_file = parsed.value("post-file") or parsed.value("body-file")
    if post_file:
        em.path("filesystem.read", post_file, upload=True)
    upload = bool(post_file or parsed.value("post-data") or parsed.value("body-data"))
    method = (parsed.value("method") or ("POST" if upload else "GET")).upper()
    inp = parsed.value("input-file")
    if inp and inp != "-":
        em.path("filesystem.read", inp)
    for w in parsed.operands[:16]:
        em.url(w.text, method=method, upload=upload)
    out = parsed.value("output-document")
    if out and out != "-":
        em.path("filesystem.write", out, download=True)
    elif parsed.operands and not parsed.has("spider"):
        em.path("filesystem.write", parsed.value("directory-prefix") or ".", download=True)
    em.spawn["method"] = method
    set_verb(em, method.lower(), "read" if method in ("GET", "HEAD") else "change", [])


# --------------------------------------------------------------------------- httpie / xh

_HTTPIE = OptionSpec.make(
    short_values="afpAo",
    long_values=["auth", "auth-type", "print", "output", "session", "session-read-only", "verify", "cert", "cert-key", "timeout", "pretty", "style", "format-options", "proxy", "max-redirects", "raw"],
)
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


@register("http", "https", "xh", "xhs", "httpie")
def _httpie(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _HTTPIE)
    ops = [w.text for w in parsed.operands]
    method = None
    if ops and ops[0].upper() in _METHODS and ops[0].isalpha():
        method = ops.pop(0).upper()
    url = ops.pop(0) if ops else None
    files = []
    data = False
    for item in ops:
        if "@" in item and ("=@" in item or item.startswith("@") or ":=@" in item):
            files.append(item.split("@", 1)[1])
            data = True
        elif "=" in item and ":" not in item.split("=", 1)[0]:
            data = True
        elif ":=" in item:
            data = True
    raw = parsed.value("raw")
    if raw is not None:
        data = True
    for f in files:
        em.path("filesystem.read", f, upload=True)
    if method is None:
        method = "POST" if data or parsed.has("form", "f") else "GET"
    if url:
        scheme = "https://" if inv.program.lower() in ("https", "xhs") and "://" not in url else ""
        em.url(scheme + url if scheme and not url.startswith(":") else url, method=method, upload=data)
    out = parsed.value("output")
    if out:
        em.path("filesystem.write", out, download=True)
    em.spawn["method"] = method
    set_verb(em, method.lower(), {"GET": "read", "HEAD": "read", "OPTIONS": "read", "DELETE": "destructive"}.get(method, "change"), [])


# --------------------------------------------------------------------------- ssh, scp, sftp, rsync

_SSH = OptionSpec.make(short_values="bcDEeFIiJLlmOopQRSWwB", posix=True)


@register("ssh", "autossh", "mosh")
def _ssh(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _SSH)
    if not parsed.rest:
        set_verb(em, "help" if parsed.has("V", "help") else "connect", "read", [])
        return
    host = parsed.rest[0].text
    user = parsed.value("l")
    port = parsed.value("p")
    em.connect(host if "@" in host or not user else f"{user}@{host}", int(port) if port and port.isascii() and port.isdigit() else 22, protocol="ssh")
    command = parsed.rest[1:]
    if parsed.has("R", "L", "D"):
        em.spawn["tunnel"] = True
    if command:
        text = " ".join(w.text for w in command)
        em.spawn["remote_command"] = True
        em.shell(text, dynamic=any(w.dynamic for w in command), remote=host.split("@")[-1], via=f"ssh {host.split('@')[-1]}")
        set_verb(em, "exec", "change", [])
    else:
        set_verb(em, "connect", "change", [])


def _remote_spec(text: str) -> tuple[str, str] | None:
    """`user@host:path` -> (user@host, path); local paths (with `/` before `:`) -> None."""
    if text.startswith(("/", "./", "../", "~")):
        return None
    if text.startswith(("scp://", "sftp://", "rsync://")):
        rest = text.split("://", 1)[1]
        host, _, path = rest.partition("/")
        return host, "/" + path
    head, sep, path = text.partition(":")
    if not sep or "/" in head or not head:
        return None
    return head, path


_SCP = OptionSpec.make(short_values="cFiJloPSDX", aliases={"r": "recursive"})


@register("scp", "sftp", "pscp")
def _scp(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _SCP)
    ops = list(parsed.operands)
    port = parsed.value("P")
    port_n = int(port) if port and port.isascii() and port.isdigit() else 22
    recursive = parsed.has("recursive")
    if inv.program.lower() == "sftp":
        if ops:
            spec = _remote_spec(ops[0].text) or (ops[0].text, "")
            em.connect(spec[0], port_n, protocol="sftp")
        set_verb(em, "connect", "change", [])
        return
    if len(ops) < 2:
        set_verb(em, "help", "read", [])
        return
    dest = ops.pop()
    dest_remote = _remote_spec(dest.text)
    upload = False
    for src in ops:
        src_remote = _remote_spec(src.text)
        if src_remote is None:
            em.path("filesystem.read", src, recursive=recursive, upload=dest_remote is not None)
            upload = upload or dest_remote is not None
        else:
            em.connect(src_remote[0], port_n, protocol="scp", download=True)
    if dest_remote is not None:
        em.connect(dest_remote[0], port_n, protocol="scp", upload=upload, remote_path=dest_remote[1] or "~")
        rpath = dest_remote[1] or "~"
        em.emit(
            "filesystem.write",
            rpath,
            {**_remote_path_facts(rpath), "remote": dest_remote[0].split("@")[-1], "recursive": recursive, "upload": True},
        )
    else:
        em.path("filesystem.write", dest, recursive=recursive, download=True)
    set_verb(em, "copy", "change", [])
    em.spawn["upload"] = upload


def _remote_path_facts(path: str) -> dict[str, object]:
    from bastion.analysis.paths import path_facts

    p = path if path.startswith(("/", "~")) else "~/" + path
    return path_facts(p)


_RSYNC = OptionSpec.make(
    short_values="efBTM",
    long_values=["rsh", "rsync-path", "exclude", "include", "exclude-from", "include-from", "files-from", "filter", "backup-dir", "suffix", "temp-dir", "compare-dest", "copy-dest", "link-dest", "chmod", "chown", "usermap", "groupmap", "timeout", "contimeout", "port", "log-file", "log-file-format", "password-file", "bwlimit", "max-size", "min-size", "max-delete", "partial-dir", "info", "debug", "out-format", "modify-window", "block-size", "checksum-choice", "compress-choice", "compress-level", "skip-compress", "sockopts", "outbuf", "iconv", "protocol", "write-batch", "only-write-batch", "read-batch", "stop-after", "stop-at"],
    aliases={"n": "dry-run", "r": "recursive", "a": "archive"},
)  # fmt: skip


@register("rsync")
def _rsync(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, _RSYNC)
    ops = list(parsed.operands)
    dry = parsed.has("dry-run", "list-only")
    deletes = [k for k in parsed.options if k.startswith("del") or k in ("remove-source-files", "remove-sent-files", "prune-empty-dirs")]
    if len(ops) < 2:
        for w in ops:
            spec = _remote_spec(w.text)
            if spec:
                em.connect(spec[0], 22, protocol="rsync")
        set_verb(em, "list", "read", [])
        return
    dest = ops.pop()
    dest_remote = _remote_spec(dest.text)
    for src in ops:
        remote = _remote_spec(src.text)
        if remote is None:
            em.path("filesystem.read", src, recursive=True, upload=dest_remote is not None)
            if "remove-source-files" in deletes and not dry:
                em.path("filesystem.delete", src, recursive=True, via_sync=True)
        else:
            em.connect(remote[0], 22, protocol="rsync", download=True)
    delete_dest = any(k.startswith("del") for k in deletes) and not dry
    if dest_remote is not None:
        em.connect(dest_remote[0], 22, protocol="rsync", upload=True)
        rpath = dest_remote[1] or "~"
        facts = {**_remote_path_facts(rpath), "remote": dest_remote[0].split("@")[-1], "recursive": True, "upload": True}
        em.emit("filesystem.write", rpath, facts)
        if delete_dest:
            em.emit("filesystem.delete", rpath, {**facts, "selective": True, "via_sync": True})
    else:
        if not dry:
            em.path("filesystem.write", dest, recursive=True)
        if delete_dest:
            em.path("filesystem.delete", dest, recursive=True, selective=True, via_sync=True)
    destructive = bool(deletes) and not dry
    set_verb(em, "sync", "destructive" if destructive else ("read" if dry else "change"), [])
    if deletes:
        em.spawn["delete_options"] = deletes[:4]


# --------------------------------------------------------------------------- raw sockets

@register("nc", "ncat", "netcat", "telnet", "socat", "openssl-s_client")
def _nc(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    parsed = parse_args(inv.args, OptionSpec.make(short_values="eciIopqsTwWxXPm"))
    execs = parsed.value("e") or parsed.value("c")
    if execs is not None or parsed.has("exec", "sh-exec", "lua-exec"):
        em.spawn["exec_on_connect"] = True
        em.spawn["destructive"] = True
        em.opaque(f"{name} hands a shell to a network peer")
    if parsed.has("l", "listen"):
        port = parsed.value("p") or (parsed.operands[-1].text if parsed.operands else "")
        em.emit("network.listen", port or None, {"port": int(port) if port.isascii() and port.isdigit() else None})
        set_verb(em, "listen", "change", [])
        return
    ops = [w.text for w in parsed.operands]
    if name == "socat":
        for addr in ops:
            kind, _, rest = addr.partition(":")
            if kind.upper() in ("TCP", "TCP4", "TCP6", "UDP", "OPENSSL", "SSL") and rest:
                em.connect(rest.split(",")[0], None, protocol=kind.lower())
            elif kind.upper() in ("EXEC", "SYSTEM"):
                em.shell(rest.split(",")[0], via="socat exec")
        set_verb(em, "connect", "change", [])
        return
    if ops:
        host = ops[0]
        port = ops[1] if len(ops) > 1 and ops[1].isascii() and ops[1].isdigit() else None
        em.connect(f"{host}:{port}" if port else host, None if port else (23 if name == "telnet" else None), protocol=name)
    set_verb(em, "connect", "change", [])


@register("ftp", "lftp", "tftp")
def _ftp(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, OptionSpec.make(short_values="pPeucfE"))
    for w in parsed.operands[:1]:
        em.connect(w.text.split("://")[-1].split("/")[0], 21, protocol=inv.program.lower())
    set_verb(em, "connect", "change", [])
