"""URL parsing and network facts.

A rule "no requests to internal addresses" must hold for `http://127.0.0.1`,
`http://2130706433`, `http://0x7f.1`, `http://[::ffff:127.0.0.1]` and
`http://LOCALHOST.` alike, so hosts are canonicalised (lower case, IDNA, trailing
dot removed) and every legacy IPv4 spelling that `inet_aton` accepts is decoded.
Passwords in URLs are never copied into facts; only whether one was present.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PORTS = {
    "http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21, "ftps": 990, "sftp": 22, "ssh": 22,
    "scp": 22, "rsync": 873, "git": 9418, "smtp": 25, "smtps": 465, "imap": 143, "imaps": 993,
    "ldap": 389, "ldaps": 636, "redis": 6379, "rediss": 6380, "postgres": 5432, "postgresql": 5432,
    "mysql": 3306, "mongodb": 27017, "amqp": 5672, "amqps": 5671, "telnet": 23, "gopher": 70,
    "s3": 443, "gs": 443,
}  # fmt: skip

#: hostnames that always mean "this machine" or the cloud metadata service
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "metadata.azure.internal", "instance-data"})
_METADATA_IPS = frozenset({"169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"})
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".intranet", ".lan", ".home.arpa", ".corp")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_IPV4_CHARS = frozenset("0123456789abcdefx.")
_STORAGE_SCHEMES = frozenset({"s3", "s3a", "gs", "az", "abfs", "abfss", "wasb", "wasbs", "r2", "oss", "cos"})


def parse_legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Decode the inet_aton spellings: `2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`."""
    if not host or not set(host) <= _IPV4_CHARS:
        return None
    parts = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if len(parts) > 4:
        return None
    nums: list[int] = []
    for part in parts:
        if not part:
            return None
        try:
            if part.startswith(("0x", "0X")):
                value = int(part[2:] or "0", 16)
            elif len(part) > 1 and part.startswith("0"):
                value = int(part, 8)
            else:
                value = int(part, 10)
        except ValueError:
            return None
        nums.append(value)
    *head, last = nums
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for n in head:
        value = value * 256 + n
    value = value * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(value)


def parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP literal in any spelling, or None for a host name."""
    h = host.strip("[]")
    if "%" in h:  # IPv6 zone id
        h = h.split("%", 1)[0]
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    return parse_legacy_ipv4(h.lower())


def ip_facts(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> dict[str, Any]:
    """Range facts; IPv4 embedded in IPv6 (mapped, NAT64, 6to4) is judged as IPv4."""
    inner: ipaddress.IPv4Address | ipaddress.IPv6Address = ip
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            inner = ip.ipv4_mapped
        elif ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:
            inner = ip.sixtofour
    loopback = inner.is_loopback
    link_local = inner.is_link_local
    unspecified = inner.is_unspecified
    private = inner.is_private or (isinstance(inner, ipaddress.IPv4Address) and inner in _CGNAT)
    metadata = str(inner) in _METADATA_IPS or str(ip) in _METADATA_IPS
    return {
        "ip": str(inner),
        "ip_version": inner.version,
        "loopback": loopback,
        "private": private and not loopback and not link_local and not unspecified,
        "link_local": link_local,
        "multicast": inner.is_multicast,
        "unspecified": unspecified,
        "metadata": metadata,
        "internal": loopback or private or link_local or unspecified or metadata,
    }


def canonical_host(host: str) -> tuple[str, bool]:
    """Lower-case, strip the trailing dot, IDNA-encode. Returns (host, ok)."""
    h = host.strip().rstrip(".").lower()
    if not h or h.isascii():
        return h, True
    try:
        import idna

        return idna.encode(h, uts46=True).decode("ascii"), True
    except Exception:  # idna raises several types; any failure is "not a valid name"
        return h, False


def host_facts(host: str) -> dict[str, Any]:
    """Facts about a bare host (for `network.connect host:port` and URLs)."""
    canonical, ok = canonical_host(host)
    facts: dict[str, Any] = {"host": canonical}
    if not ok:
        facts["idna_error"] = True
    ip = parse_ip(canonical)
    if ip is not None:
        facts.update(ip_facts(ip))
        facts["host"] = facts["ip"]  # the canonical spelling (IPv4 when embedded in IPv6)
        facts["ip_literal"] = True
    else:
        facts["ip_literal"] = False
        local = canonical in _LOCAL_NAMES or canonical.endswith(".localhost")
        metadata = canonical in _METADATA_NAMES
        facts.update(
            {
                "loopback": local,
                "private": False,
                "link_local": False,
                "metadata": metadata,
                "internal": local or metadata or canonical.endswith(_INTERNAL_SUFFIXES) or "." not in canonical,
            }
        )
    return facts


def _with_scheme(raw: str) -> str:
    """Scheme-less `host:port/path` is read as http (as curl does); `:9200/x` is localhost (httpie)."""
    text = raw.strip()
    if text.startswith(":") and text[1:2].isdigit():
        text = "localhost" + text
    if "://" not in text:
        if text.startswith("//"):
            text = "http:" + text
        elif ":" in text.split("/", 1)[0] and not text.split(":", 1)[1][:1].isdigit():
            pass  # mailto:x, s3:bucket... keep as given
        else:
            text = "http://" + text
    return text


def canonical_url(raw: str) -> str | None:
    """The URL rules should match: scheme added, host canonical (lower case, IDNA, IP spelled
    normally), default port and fragment dropped, password replaced by `***`. None if unparsable."""
    try:
        parts = urlsplit(_with_scheme(raw))
        port = parts.port
        hostname = parts.hostname or ""
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not hostname:
        return None
    host, _ = canonical_host(hostname)
    ip = parse_ip(host)
    if ip is not None:
        host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    if parts.username is not None:
        netloc = parts.username + (":***" if parts.password is not None else "") + "@" + netloc
    out = f"{scheme}://{netloc}{parts.path or '/'}"
    return out + ("?" + parts.query if parts.query else "")


def url_facts(raw: str, method: str | None = None, body_size: int | None = None) -> dict[str, Any]:
    """Parse a URL into facts. Scheme-less `host:port/path` is read as http (as curl does)."""
    facts: dict[str, Any] = {}
    if not raw.strip():
        facts["opaque"] = True
        return facts
    text = _with_scheme(raw)
    try:
        parts = urlsplit(text)
        port = parts.port
        hostname = parts.hostname or ""
    except ValueError:
        facts["opaque"] = True
        facts["parse_error"] = True
        return facts
    scheme = parts.scheme.lower()
    facts["scheme"] = scheme
    if hostname:
        facts.update(host_facts(hostname))
        if scheme in _STORAGE_SCHEMES:  # a bucket name, not a network host
            facts["internal"] = False
    else:
        facts["host"] = ""
    if port is None:
        port = DEFAULT_PORTS.get(scheme)
    if port is not None:
        facts["port"] = port
    facts["path"] = parts.path or "/"
    facts["has_query"] = bool(parts.query)
    if parts.username:
        facts["user"] = parts.username
    facts["has_userinfo"] = parts.username is not None or parts.password is not None
    facts["has_password"] = parts.password is not None
    facts["tls"] = scheme in ("https", "wss", "ftps", "smtps", "imaps", "ldaps", "rediss", "amqps")
    if method:
        m = method.upper()
        facts["method"] = m
        if m == "DELETE":
            facts["destructive"] = True
        elif m not in ("GET", "HEAD", "OPTIONS"):
            verb = path_verb(facts["path"])
            if verb is not None:
                facts["path_verb"] = verb
                facts["destructive"] = True
    if body_size is not None:
        facts["body_size"] = body_size
    return facts


def path_verb(path: str) -> str | None:
    """A destructive verb in a URL path (`/_delete_by_query`, `/job/x/doDelete`, `/_close`)."""
    from bastion.analysis.verbs import classify_token, tokens

    for segment in path.split("/")[-4:]:
        for tok in tokens(segment)[:4]:
            if classify_token(tok) == "destructive":
                return tok
    return None


def split_host_port(text: str) -> tuple[str, int | None]:
    """`host:port`, `[v6]:port`, `user@host` -> (host, port)."""
    t = text.strip()
    if "@" in t:
        t = t.rsplit("@", 1)[1]
    if t.startswith("["):
        host, _, rest = t[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif t.count(":") == 1:
        host, _, port = t.partition(":")
    else:
        host, port = t, ""
    return host, int(port) if port.isascii() and port.isdigit() and len(port) <= 5 else None


def redact_userinfo(url: str) -> str:
    """`https://user:pw@host/x` -> `https://user:***@host/x` (for targets and explanations)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" not in authority:
        return url
    userinfo, _, hostport = authority.rpartition("@")
    if ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hostport}{slash}{tail}"
