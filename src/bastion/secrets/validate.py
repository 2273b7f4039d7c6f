"""Validators that cut false positives after a pattern matched.

A pattern says "this looks like a token"; a validator says "and it is not a
placeholder, a variable reference or a low-entropy accident". Validators run only
on candidate matches, never on the whole text, so they may be written in plain
Python. Detectors name them by string (``validator: jwt``) so policy YAML can use
them too; `VALIDATORS` is the registry.

Every function here receives the candidate secret (and, for context-aware ones,
the key or line it came with) and returns True to keep the finding.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import math
import re
import zlib
from collections import Counter
from functools import lru_cache
from typing import Callable

# --------------------------------------------------------------------------- entropy


def shannon_entropy(value: str) -> float:
    """Bits per character of `value` (0.0 for an empty string)."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


# --------------------------------------------------------------------------- placeholders

#: Characters people type to mean "put the real value here".
MASK_CHARS = frozenset("xX*#•0")
_SEPARATORS = frozenset("-_.:/+=~ ")

#: Values that name what belongs there instead of being it. Compared lowercase, with
#: separators removed. Kept short on purpose: "password" or "secret" are real (bad)
#: passwords often enough that they are not listed.
PLACEHOLDER_WORDS = frozenset(
    {
        "",
        "none",
        "null",
        "nil",
        "undefined",
        "true",
        "false",
        "yes",
        "no",
        "todo",
        "tbd",
        "fixme",
        "changeme",
        "changethis",
        "redacted",
        "removed",
        "hidden",
        "masked",
        "secretvalue",
        "yoursecret",
        "yourpassword",
        "yourtoken",
        "yourapikey",
        "yourkey",
        "mytoken",
        "myapikey",
        "apikey",
        "apitoken",
        "accesstoken",
        "authtoken",
        "notset",
        "empty",
        "example",
        "sample",
        "dummy",
        "placeholder",
        "insertkeyhere",
        "insertyourkeyhere",
        "replaceme",
        "xxx",
        "yyy",
        "zzz",
        "abc",
        "abc123",
        "foo",
        "bar",
        "foobar",
        "string",
        "value",
        "default",
        "test",
        "testing",
        "token",
        "pass",
        "passwd",
        "pwd",
        "user",
        "username",
        "login",
    }
)

#: "your-api-key", "ADD_YOUR_TOKEN_HERE", "<insert key>": words that describe a value.
_PLACEHOLDER_PHRASE = re.compile(
    r"(?i)(?:^|[^a-z])(?:your|insert|replace|put|enter|paste|add)[ _\-](?:[a-z]+[ _\-])*?(?:api|access|secret|token|key|password|pass|own|here|credentials?|value)"
    r"|(?:^|[^a-z])(?:goes|go)[ _\-]here(?:$|[^a-z])|[ _\-]here$"
)

_TEMPLATE_MARKERS = ("${", "{{", "}}", "#{", "$(", "<%", "%>", "%(", "{%", "@@", "[[")


def is_masked(value: str, min_run: int = 4) -> bool:
    """True when the variable part of `value` is only a mask character (xxxx, ****, 0000).

    Separators are ignored, so ``XXXX-XXXX`` and ``glpat-xxxxxxxxxxxxxxxxxxxx`` count:
    the prefix before the first separator-delimited run of mask characters is allowed
    to be anything (it is the token's fixed prefix).
    """
    body = "".join(ch for ch in value if ch not in _SEPARATORS)
    if not body:
        return True
    # the longest suffix made only of mask characters
    tail = 0
    for ch in reversed(body):
        if ch in MASK_CHARS:
            tail += 1
        else:
            break
    if tail < min_run:
        return False
    masked = body[len(body) - tail :].lower()
    if len(set(masked)) != 1:
        # "0x0#" style mixes are not a convention; "xxxx" and "0000" are
        return False
    # a mask that fills at least 3/5 of the value: the rest is a fixed prefix
    return tail * 5 >= len(body) * 3


def looks_like_reference(value: str) -> bool:
    """True for values that point at a secret instead of holding one.

    ``$VAR``, ``${VAR}``, ``%VAR%``, ``{{ var }}``, ``<your-token>``, ``[PASSWORD]``,
    ``os.environ["X"]``, ``process.env.X``, ``settings.API_KEY``, function calls.
    """
    v = value.strip()
    if not v:
        return True
    if "&" in v and ";" in v:
        v = html.unescape(v)
    if v[0] in "$%@" and len(v) > 1 and (v[1].isalnum() or v[1] in "{(_"):
        return True
    if v.endswith(("...", "\u2026")) or v.startswith(("...", "\u2026")):
        return True  # elided: "ops_eyJzaWdu..." in documentation
    if v.startswith(_TEMPLATE_MARKERS) or v.endswith(("}}", "%>", "%}")):
        return True
    if (v[0], v[-1]) in {("<", ">"), ("[", "]"), ("{", "}"), ("(", ")")}:
        # <your-token>, {password}, [PASSWORD] name what goes there; a generated value
        # merely wrapped in braces ("{ZqL5kVrX1n8tA2}", a {GUID}) is still the value
        inner = v[1:-1].strip()
        return not (random_token(inner) and inner[:1] not in "{<[($%")
    if v.endswith(")") and "(" in v:
        return True
    low = v.lower()
    if low.startswith(("process.env", "os.environ", "os.getenv", "env.", "env[", "environ[", "secrets.", "vars.", "var.", "settings.", "config.", "self.", "this.", "params.", "args.", "props.")):
        return True
    return False


_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|->|::)[A-Za-z_][A-Za-z0-9_]*)+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED_NUMBER = re.compile(r"v?[0-9]+(?:\.[0-9]+)+")


#: Words that, standing as a word of a value (``a-fake-api-key``, ``dummy_token_1``), say
#: it is not a real one. Only as separated words: ``12fakehij`` inside a random token is chance.
FAKE_WORDS = frozenset({"fake", "dummy", "bogus", "notreal", "nonexistent"})
_WORD_SPLIT = re.compile(r"[\s\-_.:/+=,;|]+")


def says_fake(value: str) -> bool:
    """A separated word of `value` is one of `FAKE_WORDS`, or it says "not a real ..."."""
    words = _WORD_SPLIT.split(value.lower())
    if any(w in FAKE_WORDS for w in words):
        return True
    folded = "".join(words)
    return "notreal" in folded or "notareal" in folded


def is_placeholder(value: str) -> bool:
    """The checks every detector applies unless it opts out."""
    if looks_like_reference(value):
        return True
    if is_masked(value):
        return True
    folded = "".join(ch for ch in value.lower() if ch not in _SEPARATORS)
    if folded in PLACEHOLDER_WORDS or "redacted" in folded:
        return True  # also keeps our own [REDACTED:...] markers from being found again
    if says_fake(value):
        return True
    return bool(_PLACEHOLDER_PHRASE.search(value))


# --------------------------------------------------------------------------- key names

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

#: Components that make a key name secret-bearing on their own.
SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "pass",
        "pw",
        "secret",
        "token",
        "apikey",
        "apitoken",
        "authtoken",
        "accesstoken",
        "secretkey",
        "privatekey",
        "credential",
        "credentials",
        "creds",
        "cred",
        "auth",
        "bearer",
        "licensekey",
        "pat",
    }
)
#: "key" counts only after one of these (api key, access key, secret key, ...).
KEY_QUALIFIERS = frozenset(
    {
        "api",
        "access",
        "secret",
        "private",
        "priv",
        "auth",
        "encryption",
        "encrypt",
        "signing",
        "sign",
        "master",
        "account",
        "client",
        "app",
        "application",
        "service",
        "server",
        "license",
        "licence",
        "consumer",
        "shared",
        "storage",
        "subscription",
        "deploy",
        "deployment",
        "admin",
        "session",
        "hmac",
        "cipher",
        "crypt",
        "root",
        "user",
        "dev",
        "developer",
        "prod",
        "production",
        "write",
        "read",
        "ingest",
        "insert",
        "query",
        "rest",
        "personal",
        "integration",
        "webhook",
        "unseal",
        "recovery",
        "pre",
        "preshared",
        "jwt",
        "mac",
        "sl",
        "ibm",
        "cos",
        "iam",
    }
)
#: A last component from this list names metadata about a secret, not the secret.
NON_SECRET_SUFFIXES = frozenset(
    {
        "id",
        "ids",
        "name",
        "names",
        "file",
        "files",
        "filename",
        "path",
        "paths",
        "dir",
        "url",
        "uri",
        "urls",
        "endpoint",
        "host",
        "type",
        "types",
        "length",
        "len",
        "size",
        "field",
        "fields",
        "label",
        "prompt",
        "hint",
        "policy",
        "format",
        "version",
        "mode",
        "count",
        "regex",
        "pattern",
        "header",
        "param",
        "env",
        "var",
        "variable",
        "ref",
        "arn",
        "location",
        "expiry",
        "expires",
        "expiration",
        "ttl",
        "timeout",
        "algorithm",
        "alg",
        "enabled",
        "required",
        "placeholder",
        "description",
        "help",
        "error",
        "errors",
        "message",
        "link",
        "route",
        "key_id",
        "keyid",
        "kid",
        "index",
        "store",
        "storage",
        "provider",
        "manager",
        "service",
        "class",
        "method",
        "hash",
        "salt",
        "rounds",
        "strength",
        "rotation",
        "usage",
        "scope",
        "scopes",
        "user",
        "username",
        "email",
        "owner",
        "prefix",
        "suffix",
        "template",
        "chars",
        "charset",
        "separator",
        "selector",
    }
)
#: A first component from this list names something public.
NON_SECRET_PREFIXES = frozenset(
    {
        "public", "pub", "csrf", "xsrf", "publishable", "non", "no", "not", "is", "has", "use", "show", "forgot",
        "reset", "confirm", "new", "old", "verify", "check", "validate", "get", "set", "min", "max",
        # names that say the value is not a real credential
        "fake", "dummy", "mock", "bogus",
    }
)


def key_components(key: str) -> list[str]:
    """Split an identifier into lowercase words: ``AWS_secretAccessKey`` -> aws, secret, access, key."""
    out: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", key):
        if not part:
            continue
        out.extend(m.group(0).lower() for m in _CAMEL.finditer(part))
    return out


_PASSWORD_WORDS = frozenset({"password", "passwd", "passwords", "passphrase", "pwd", "pass", "pw"})
_STRONG_SUFFIXES = ("token", "secret", "password", "passwd", "apikey", "secretkey", "accesskey", "privatekey", "authkey", "pwd")


@lru_cache(maxsize=8192)
def key_strength(key: str) -> int:
    """How strongly a key name says "credential": 2 strong, 1 weak, 0 not at all.

    Strong: ``password``, ``api_key``, ``clientSecret``, ``AUTH_TOKEN``, ``slapikey``.
    Weak: ``<something>_key`` / ``hubspotKey`` / ``HEROKU_KEY``: a key of *something*,
    which is a credential only if the value looks random (the caller checks).
    Not: ``public_key``, ``csrf_token``, ``token_url``, ``password_length``, ``schemaKey``.
    """
    words = key_components(key)
    if not words:
        return 0
    if words[-1] in NON_SECRET_SUFFIXES:
        return 0
    if words[0] in NON_SECRET_PREFIXES:
        return 0
    weak = False
    for i, w in enumerate(words):
        if w in SECRET_WORDS:
            return 2
        if w == "key":
            if i > 0 and words[i - 1] in KEY_QUALIFIERS:
                return 2
            if i > 0 and i == len(words) - 1 and words[i - 1] not in _WEAK_KEY_STOP:
                weak = True  # "<vendor>_key" / "hubspotKey": a key of something, last word
        elif w.endswith("key") and w[:-3] in KEY_QUALIFIERS:  # "apikey", "secretkey"
            return 2
        elif w.endswith(_STRONG_SUFFIXES) and len(w) > 5:  # "apitoken", "clientsecret", "slapikey"
            return 2
    return 1 if weak else 0


#: "<x> key" names that are about data structures, not credentials.
_WEAK_KEY_STOP = frozenset(
    {
        "primary", "foreign", "sort", "partition", "cache", "map", "dict", "hash", "lookup", "index", "row",
        "column", "table", "object", "hot", "short", "shortcut", "keyboard", "translation", "i18n", "locale",
        "message", "bucket", "schema", "sequence", "idempotency", "dedup", "unique", "natural", "composite",
        "group", "route", "list", "item", "entity", "node", "config", "setting", "settings", "registry",
        "field", "attribute", "property", "react", "redis", "s3", "object", "storage", "query", "search",
        "sort", "json", "yaml", "dictionary", "lang", "language", "i18", "public", "pub", "sequence",
        "select", "selection", "tab", "unique", "my", "the", "this", "some", "any", "a", "valid", "data",
        "meta", "metadata", "kms", "ssh", "gpg", "pgp", "host", "known", "trusted", "ca", "cert", "certificate",
    }
)


def is_secret_key(key: str) -> bool:
    """Does this key name (variable, field, header, flag) strongly say credential?"""
    return key_strength(key) == 2


@lru_cache(maxsize=8192)
def is_password_key(key: str) -> bool:
    """Names that hold a password rather than a token (reported as ``generic_password``)."""
    words = key_components(key)
    return any(w in _PASSWORD_WORDS or w.endswith(("password", "passwd")) for w in words)


#: shortest value a free-text ``<token or key name> = <value>`` is reported for (gitleaks'
#: generic rule uses the same bound); passwords have none, people choose short ones
GENERIC_TOKEN_MIN_LENGTH = 10

_RANDOM_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-.~]{12,}")


def random_token(value: str) -> bool:
    """Shaped like a generated credential: one run of token characters, letters and digits, entropy >= 3."""
    value = value.strip().strip("'\"`")
    return (
        bool(_RANDOM_TOKEN.fullmatch(value))
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and shannon_entropy(value) >= 3.0
    )


# --------------------------------------------------------------------------- named validators


def _b64decode_loose(segment: str) -> bytes | None:
    pad = "=" * (-len(segment) % 4)
    try:
        return base64.urlsafe_b64decode(segment + pad)
    except (binascii.Error, ValueError):
        return None


def valid_jwt(token: str) -> bool:
    """Header decodes to a JSON object with "alg" or "typ" (payload may be JWE-opaque)."""
    parts = token.split(".")
    if len(parts) < 2:
        return False
    raw = _b64decode_loose(parts[0])
    if raw is None:
        return False
    try:
        header = json.loads(raw.decode("utf-8", "strict"))
    except (UnicodeDecodeError, ValueError):
        # a header that starts as JSON but was edited (fixtures do this): accept if it
        # still opens an object with a known field
        text = raw.decode("latin-1").strip()
        return text.startswith("{") and text.endswith("}") and ('"alg"' in text or '"typ"' in text or '"kid"' in text)
    return isinstance(header, dict) and bool({"alg", "typ", "kid", "enc", "x5t"} & header.keys())


def valid_basic_auth(value: str) -> bool:
    """``Authorization: Basic <b64>``: decodes to ``user:password`` with a non-empty password."""
    raw = _b64decode_loose(value.replace("+", "-").replace("/", "_").rstrip("="))
    if raw is None:
        return False
    # readable text; a byte or two lost in copying (a corrupted character) still reads as
    # user:password, while random bytes are mostly unprintable
    text = raw.decode("utf-8", "replace")
    if ":" not in text or sum(1 for c in text if c.isprintable() and c != "\ufffd") < max(len(text) - 2, 0.9 * len(text)):
        return False
    user, _, password = text.partition(":")
    if user.startswith("{"):
        return False  # JSON (a JWT header sent as "Basic"), not user:password
    return bool(user or password) and not is_placeholder(password or user)


def valid_luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed([c for c in digits if c.isdigit()])):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def crc32_base62(token: str) -> bool:
    """GitHub (``ghp_`` ... 2021 format) and npm (``npm_``) tokens: the last 6 characters are the
    CRC32 of the 30 random ones before them, in base62 (zero-padded). A real token always
    passes; documentation stubs and generated test values almost never do.
    """
    prefix, sep, rest = token.rpartition("_")
    if not sep or len(rest) != 36 or prefix not in ("ghp", "gho", "ghu", "ghs", "ghr", "npm"):
        return False
    n = zlib.crc32(rest[:30].encode("ascii", "replace"))
    digits = []
    while n:
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    return "".join(reversed(digits)).rjust(6, "0") == rest[30:]


def mixed_charset(value: str) -> bool:
    """At least two of: lowercase, uppercase, digits. Cuts words and plain numbers."""
    classes = sum((any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value)))
    return classes >= 2


def has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


def not_hex_only(value: str) -> bool:
    return not all(c in "0123456789abcdefABCDEF-" for c in value)


_PHP_ACCESS = re.compile(r"\$[A-Za-z_]\w*\[")

#: Prefixes of formats with a dedicated detector. A value under a credential name that
#: starts with one of these but that detector rejected (too short, wrong alphabet, a
#: documentation stub like "xoxp-1234567890") is not re-reported as a generic secret.
STRUCTURED_PREFIXES = ("xoxb-", "xoxp-", "xoxa-", "xoxs-", "xoxe-", "xoxe.", "xoxr-", "xoxo-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "AKIA", "ASIA", "AIza", "npm_", "hf_")


def name_like(value: str, key: str) -> bool:
    """The value spells the key (``ID_GOST_KEY = "id-gost-key"``, ``password=password``)."""
    v = "".join(c for c in value.lower() if c.isalnum())
    k = "".join(c for c in key.lower() if c.isalnum())
    return len(v) >= 6 and v in k


def generic_value(value: str) -> bool:
    """The value side of ``password = ...``: a literal, not code.

    Rejects references, placeholders, numbers-only of fewer than 6 digits, code
    expressions (operators, brackets, attribute access), and single lowercase words
    shorter than 6 characters (``pass``, ``foo``).
    """
    v = value.strip()
    if "&" in v and ";" in v:
        v = html.unescape(v)
    v = v.strip("'\"`")
    if len(v) < 4 or is_placeholder(v):
        return False
    if len(set(v)) == 1:  # "aaaaaaaa", "--------"
        return False
    if len(v) >= 12 and shannon_entropy(v) < 1.5:  # "aaaaaaaaaaaaend", "00000000000aa"
        return False
    if v[0] in "+." or v[-1] in "+" or _PHP_ACCESS.search(v):
        return False  # string concatenation or array access: code, not a literal
    if v.startswith(STRUCTURED_PREFIXES):
        return False  # a vendor format its own detector rejected (wrong length or alphabet)
    if v.isdigit() and len(v) < 6:
        return False
    if _DOTTED_NUMBER.fullmatch(v):
        return False  # a version, an address or an OID ("1.3.6.1.5.5.7.3.1")
    if _DOTTED_NAME.fullmatch(v) and not any(c.isdigit() for c in v.split(".")[-1][:1]):
        return False  # settings.API_KEY, var.db_password, kVK_Return.u16
    if v[0] == "<":
        return False  # markup or a <placeholder>
    if any(tok in v.rstrip("=") for tok in (" + ", "+ ", " +", "||", "&&", "==", "->", "=>", "::", " = ")):  # not base64 padding
        return False
    if v.startswith(("http://", "https://", "file://", "/", "./", "../", "~/")):
        return False  # a URL or a path is where the secret lives, not the secret
    return True


def not_blank(value: str) -> bool:
    return bool(value.strip().strip("\\n\\r\"'+ \t"))


def has_slash_or_plus(value: str) -> bool:
    return "/" in value or "+" in value


def not_path(value: str) -> bool:
    """Reject path-like values: several "/"-separated parts that are words."""
    parts = [p for p in value.split("/") if p]
    if len(parts) >= 3 and sum(1 for p in parts if p.isalpha() and p.islower()) >= 2:
        return False
    return True


def has_upper_and_lower(value: str) -> bool:
    return any(c.isupper() for c in value) and any(c.islower() for c in value)


#: a word inside an identifier: "Capacity", "policy", "aws" (3+ lowercase letters, maybe capitalised)
_WORDISH = re.compile(r"[A-Z]?[a-z]{3,}")


def not_words(value: str) -> bool:
    """Reject values mostly spelled in words: identifiers and names, not generated keys.

    ``AWSEC2CapacityReservationFleetRolePolicy`` and ``policy/AmazonRoute53AutoNamingFullAccess``
    are 85-93% word characters; in 40 random base64 characters such runs cover less than
    68% of the value 9,999 times in 10,000 (simulated), so the bound is 70%.
    """
    return sum(len(w) for w in _WORDISH.findall(value)) < 0.7 * len(value)


def not_encoded_text(value: str) -> bool:
    """Reject base64 that decodes to printable text (``YWJjZGVm...``, a JWT header alone):
    encoded words, not key material. A generated key decodes to random bytes, of which
    about 37% are printable."""
    raw = _b64decode_loose(value.rstrip("="))
    if not raw or len(raw) < 8:
        return True
    printable = sum(1 for b in raw if 32 <= b < 127 or b in (9, 10, 13))
    return printable < 0.9 * len(raw)


def url_password(value: str) -> bool:
    """The password part of ``scheme://user:password@host``."""
    if is_placeholder(value):
        return False
    if value.startswith(("$", "%", "{", "<")) and len(value) > 1:
        return False
    return not value.isdigit() or len(value) >= 6  # "host:8080@..." is a port, not a password


_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")


def bare_value_ok(value: str, key: str) -> bool:
    """An unquoted value after a secret-looking name: a literal, not a variable.

    ``password=password`` (keyword arguments), ``token = auth_token``,
    ``PASSWORD=DB_PASSWORD`` and ``api_key: API_KEY`` pass a variable along.
    """
    if value.endswith(":") and len(value) > 1:
        value = value[:-1]  # "if token != current_token:": the colon is the statement's
    low = value.lower()
    if low == key.lower() or low in key_components(key):
        return False
    if _IDENT.fullmatch(value) and len(key_components(value)) > 1 and key_strength(value) > 0:
        return False  # db_password, smtpPassword: a variable named after the secret
    if _ENV_NAME.fullmatch(value):
        return False
    return True


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "jwt": valid_jwt,
    "basic_auth": valid_basic_auth,
    "luhn": valid_luhn,
    "mixed_charset": mixed_charset,
    "has_digit": has_digit,
    "not_hex_only": not_hex_only,
    "generic_value": generic_value,
    "not_placeholder": lambda v: not is_placeholder(v),
    "not_blank": not_blank,
    "has_slash_or_plus": has_slash_or_plus,
    "not_path": not_path,
    "has_upper_and_lower": has_upper_and_lower,
    "not_words": not_words,
    "not_encoded_text": not_encoded_text,
    "url_password": url_password,
    "length_40": lambda v: len(v) == 40,
    "random_token": random_token,
    "crc32_base62": crc32_base62,
}


def get_validator(name: str) -> Callable[[str], bool]:
    try:
        return VALIDATORS[name]
    except KeyError:
        raise ValueError(f"unknown validator {name!r} (expected one of {', '.join(sorted(VALIDATORS))})") from None
