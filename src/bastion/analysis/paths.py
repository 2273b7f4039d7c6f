"""Path normalisation and path facts.

Rules are written against clean paths (`/etc/**`, `**/.env`), but agents hand us
`./config/../.env`, `~//.ssh/id_rsa` or `$HOME/.aws/credentials`. Everything is
normalised lexically (no file-system access: the hot path does no I/O) before it
is matched, and the facts a policy most often needs are computed once here.

`~` stays a symbolic root (we do not know the agent's home directory); `$HOME`
becomes `~`. Secret-file names are compared case-insensitively, because the file
systems of macOS and Windows are, and a rule must not be bypassed by `.ENV`.
"""

from __future__ import annotations

from typing import Any

_HOME_VARS = ("$HOME", "${HOME}")
_TEMP_ROOTS = ("/tmp", "/var/tmp", "/private/tmp", "/private/var/tmp", "/dev/shm")
_TEMP_VARS = ("$TMPDIR", "${TMPDIR}", "$TMP", "${TMP}", "$TEMP", "${TEMP}")
_SYSTEM_ROOTS = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc", "/root",
    "/sbin", "/srv", "/sys", "/usr", "/var", "/System", "/Library", "/Applications", "/private/etc",
    "/private/var", "/snap", "/mnt", "/media",
)  # fmt: skip
#: system roots where projects commonly live (/srv/app, /opt/tool, /var/www/site): inside the
#: action's working directory they are project files; the others are never exempt
_SOFT_SYSTEM_ROOTS = ("/opt", "/srv", "/var", "/mnt", "/media", "/snap", "/Applications", "/private/var")
_DYNAMIC_CHARS = frozenset("$`")
_GLOB_CHARS = frozenset("*?[")


def normalize(raw: str, cwd: str | None = None) -> str:
    """Lexically normalise `raw`: `.`/`..`, repeated slashes, `$HOME` -> `~`, relative to `cwd`.

    A relative path stays relative when no usable `cwd` is given. `..` never climbs
    above `/`; above `~` or the start of a relative path it is kept (`../x`, `~/../x`).
    """
    if not raw:
        return raw
    path = raw
    for var in _HOME_VARS:
        if path == var or path.startswith(var + "/"):
            path = "~" + path[len(var) :]
            break
    if cwd and not path.startswith(("/", "~")) and not path.startswith(_TEMP_VARS):
        base = normalize(cwd) if cwd.startswith(("/", "~", "$")) else None
        if base:
            path = base.rstrip("/") + "/" + path if base != "/" else "/" + path
    if path.startswith("/"):
        root, rest = "/", path[1:]
    elif path == "~" or path.startswith("~/"):
        root, rest = "~/", path[2:]
    elif path.startswith("~"):  # ~user/...
        head, _, rest = path.partition("/")
        root = head + "/"
    else:
        root, rest = "", path
    out: list[str] = []
    for part in rest.split("/"):
        if part == "" or part == ".":
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif root == "/":
                continue  # /.. is /
            else:
                out.append("..")
            continue
        out.append(part)
    body = "/".join(out)
    if root == "/":
        return "/" + body
    if root:
        return root.rstrip("/") + ("/" + body if body else "")
    return body or "."


def basename(path: str) -> str:
    stripped = path.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else path


def _under(path: str, roots: tuple[str, ...]) -> bool:
    for root in roots:
        if path == root or path.startswith(root + "/"):
            return True
    return False


# --------------------------------------------------------------------------- secret files

#: exact basenames (lower case) that hold credentials
_SECRET_NAMES: dict[str, str] = {
    ".env": "dotenv",
    ".envrc": "dotenv",
    ".netrc": "netrc",
    "_netrc": "netrc",
    ".npmrc": "package_token",
    ".pypirc": "package_token",
    ".yarnrc.yml": "package_token",
    ".gem/credentials": "package_token",
    ".pgpass": "database_password",
    ".my.cnf": "database_password",
    ".git-credentials": "git_credentials",
    ".htpasswd": "password_file",
    "id_rsa": "ssh_key",
    "id_dsa": "ssh_key",
    "id_ecdsa": "ssh_key",
    "id_ed25519": "ssh_key",
    "id_ecdsa_sk": "ssh_key",
    "id_ed25519_sk": "ssh_key",
    "credentials.json": "cloud_credentials",
    "client_secret.json": "cloud_credentials",
    "application_default_credentials.json": "cloud_credentials",
    "secrets.json": "secrets_file",
    "secrets.yaml": "secrets_file",
    "secrets.yml": "secrets_file",
    "secrets.toml": "secrets_file",
    "secret.json": "secrets_file",
    "vault.json": "secrets_file",
    "master.key": "secrets_file",
    "credentials.yml.enc": "secrets_file",
    "terraform.tfstate": "terraform_state",
    "terraform.tfstate.backup": "terraform_state",
    "shadow": "system_password",
    "gshadow": "system_password",
    "sudoers": "system_auth",
    ".bash_history": "shell_history",
    ".zsh_history": "shell_history",
    ".python_history": "shell_history",
    ".psql_history": "shell_history",
    ".mysql_history": "shell_history",
    "keychain-2.db": "keychain",
    "login.keychain-db": "keychain",
    "login data": "browser_data",
}
#: path suffixes (lower case) that hold credentials
_SECRET_SUFFIX_PATHS: tuple[tuple[str, str], ...] = (
    (".aws/credentials", "cloud_credentials"),
    (".aws/config", "cloud_credentials"),
    (".azure/accesstokens.json", "cloud_credentials"),
    (".config/gcloud/credentials.db", "cloud_credentials"),
    (".config/gcloud/access_tokens.db", "cloud_credentials"),
    (".docker/config.json", "registry_credentials"),
    (".kube/config", "kube_config"),
    (".ssh/authorized_keys", "ssh_authorized_keys"),
    (".config/gh/hosts.yml", "git_credentials"),
    (".terraform.d/credentials.tfrc.json", "cloud_credentials"),
    ("/etc/ssl/private", "tls_key"),
)
#: path components (lower case) whose whole subtree is sensitive
_SECRET_DIRS: dict[str, str] = {
    ".ssh": "ssh_config",
    ".gnupg": "gpg_keyring",
    ".aws": "cloud_credentials",
    ".password-store": "password_store",
    "keychains": "keychain",
}
#: file extensions (lower case) of key material
_SECRET_EXTENSIONS: dict[str, str] = {
    ".pem": "private_key",
    ".key": "private_key",
    ".p12": "private_key",
    ".pfx": "private_key",
    ".jks": "private_key",
    ".keystore": "private_key",
    ".ppk": "private_key",
    ".asc": "private_key",
    ".gpg": "private_key",
    ".kdbx": "password_store",
    ".tfvars": "terraform_vars",
    ".ovpn": "vpn_config",
}
#: suffixes of harmless look-alikes (templates committed on purpose)
_TEMPLATE_SUFFIXES = (".example", ".sample", ".template", ".dist", ".tmpl", ".defaults", ".schema", ".md")


#: files inside secret directories that hold no credential
_PUBLIC_IN_SECRET_DIRS = frozenset({"known_hosts", "known_hosts.old", "config", "environment", "rc"})


def secret_kind(path: str) -> str | None:
    """The kind of credential file `path` names, or None. Case-insensitive."""
    low = path.lower()
    name = basename(low)
    if name in _SECRET_DIRS:
        return _SECRET_DIRS[name]
    if name.endswith(_TEMPLATE_SUFFIXES) or name.endswith(".pub"):
        return None
    kind = _SECRET_NAMES.get(name)
    if kind:
        return kind
    if name.startswith(".env.") or name.endswith(".env"):
        return "dotenv"
    for suffix, k in _SECRET_SUFFIX_PATHS:
        if low.endswith(suffix) and (len(low) == len(suffix) or low[-len(suffix) - 1] == "/" or suffix[0] == "/"):
            return k
    dot = name.rfind(".")
    if dot > 0:
        k = _SECRET_EXTENSIONS.get(name[dot:])
        if k:
            return k
    if name.startswith("id_") and "." not in name:
        return "ssh_key"
    if name.startswith(("service-account", "service_account")) and name.endswith(".json"):
        return "cloud_credentials"
    parts = low.split("/")[:-1]
    for part in parts:
        k = _SECRET_DIRS.get(part)
        if k and not (part == ".ssh" and name in _PUBLIC_IN_SECRET_DIRS):
            return k
    return None


#: folders of a person's own documents and private app data, relative to the home directory
_PERSONAL_DIRS = frozenset({"desktop", "documents", "downloads", "music", "pictures", "movies", "videos", "photos", "icloud drive"})
_PERSONAL_PREFIXES = (
    "library/mobile documents", "library/messages", "library/mail", "library/safari", "library/cookies",
    "library/application support/addressbook", "library/calendars", "library/photos", "library/notes",
    "library/group containers/group.com.apple.notes", "library/containers/com.apple.mail",
    "library/application support/google/chrome", "library/application support/firefox",
    "library/application support/com.apple.tcc", "library/keychains", "library/reminders",
    ".mozilla", ".config/google-chrome", ".config/chromium", ".thunderbird", ".local/share/keyrings",
)  # fmt: skip


def home_relative(path: str) -> str | None:
    """`~/x`, `/Users/dana/x`, `/home/dana/x` -> `x`; None when not in a home directory."""
    if path == "~":
        return ""
    if path.startswith("~/"):
        return path[2:]
    for root in ("/Users/", "/home/"):
        if path.startswith(root):
            rest = path[len(root) :]
            user, _, rel = rest.partition("/")
            if user and user != "Shared":
                return rel
    return None


def is_personal(path: str) -> bool:
    """A person's own files (Desktop, Documents, Messages, browser data), case-insensitively."""
    rel = home_relative(path)
    if not rel:
        return False
    low = rel.lower()
    if low.split("/", 1)[0] in _PERSONAL_DIRS:
        return True
    return any(low == p or low.startswith(p + "/") for p in _PERSONAL_PREFIXES)


def within(path: str, directory: str) -> bool:
    d = directory.rstrip("/") or "/"
    return path == d or path.startswith(d + "/") or d == "/"


def path_facts(raw: str, cwd: str | None = None, *, dynamic: bool = False, project: str | None = None) -> dict[str, Any]:
    """Facts about one path operand. `dynamic` when part of it is computed at run time.

    `project` is the working directory the agent was given (the action's `args.cwd`): a
    path inside it is `in_project`, and a project that lives under ~/Documents does not
    make every file of it `personal`.
    """
    norm = normalize(raw, cwd)
    facts: dict[str, Any] = {
        "path": norm,
        "raw": raw,
        "basename": basename(norm),
        "absolute": norm.startswith("/"),
        "home": norm == "~" or norm.startswith("~"),
        "root": norm == "/",
        "temp": _under(norm, _TEMP_ROOTS) or norm.startswith(_TEMP_VARS),
        "system": norm == "/" or (_under(norm, _SYSTEM_ROOTS) and not _under(norm, _TEMP_ROOTS)),
        "escapes_cwd": norm == ".." or norm.startswith("../"),
        "dynamic": dynamic or any(ch in _DYNAMIC_CHARS for ch in norm),
        "glob": any(ch in _GLOB_CHARS for ch in norm),
    }
    facts["shallow"] = norm in ("/", "~") or (norm.startswith("/") and norm.count("/") == 1) or (
        norm.startswith("~/") and norm.count("/") == 1
    )
    depth = norm.count("/") if norm.startswith("/") else None
    if norm == "/":
        depth = 0
    if depth is not None:
        facts["depth"] = depth
    base = normalize(project) if project and project.startswith(("/", "~")) else None
    facts["in_project"] = bool(base) and base not in ("/", "~") and within(norm, base)  # type: ignore[arg-type]
    facts["personal"] = is_personal(norm) and not facts["in_project"]
    if facts["system"] and facts["in_project"] and _under(norm, _SOFT_SYSTEM_ROOTS) and not _under(norm, ("/var/log", "/var/lib", "/var/db", "/var/spool", "/var/run", "/var/mail")):
        facts["system"] = False
    kind = secret_kind(norm)
    facts["sensitive"] = kind is not None
    if kind:
        facts["sensitive_kind"] = kind
    return facts
