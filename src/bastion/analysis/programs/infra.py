"""Infrastructure, cloud, container and platform CLIs.

The sub-command verb (verbs.py) decides, after each tool's global options are
skipped correctly (`aws --profile prod elbv2 delete-target-group` -> delete). Tools
that change shared infrastructure (clusters, infrastructure-as-code, clouds) also
yield `infrastructure.change` with `tool`, `kind`, `verb`, `destructive`,
`unattended` (`-auto-approve`, `--yes`, `--force`) and `production` (an argument
names prod/production). Secret managers yield `secrets.read` / `secrets.write`.
"""

from __future__ import annotations

from bastion.analysis.emit import Emitter
from bastion.analysis.flags import OptionSpec, parse_args
from bastion.analysis.programs import register
from bastion.analysis.programs.generic import classify_command, set_verb
from bastion.analysis.verbs import classify_word
from bastion.analysis.words import Word
from bastion.analysis.wrappers import Invocation


def _spec(short: str = "", long: tuple[str, ...] = (), single_dash_long: bool = False) -> OptionSpec:
    return OptionSpec.make(short_values=short, long_values=long, single_dash_long=single_dash_long)


#: tool -> (kind, global option spec, verbs that only act locally and change nothing shared)
TOOLS: dict[str, tuple[str, OptionSpec, frozenset[str]]] = {
    "kubectl": ("cluster", _spec("nlcsfo", ("namespace", "context", "cluster", "kubeconfig", "user", "server", "selector", "output", "filename", "token", "as", "as-group", "field-selector", "container", "type", "template", "sort-by", "timeout", "since", "tail", "replicas", "image", "port", "for", "grace-period")), frozenset({"config", "completion", "plugin", "version", "explain", "api-resources", "api-versions", "cluster-info", "kustomize", "diff", "wait", "auth", "alpha", "certificate-read"})),
    "oc": ("cluster", _spec("nlcso", ("namespace", "context", "cluster", "kubeconfig", "user", "server", "selector", "output", "filename", "token")), frozenset({"config", "completion", "version", "explain", "login", "whoami", "project"})),
    "helm": ("cluster", _spec("n", ("namespace", "kube-context", "kubeconfig", "values", "set", "set-string", "set-file", "version", "repo", "output", "timeout", "description", "post-renderer")), frozenset({"repo", "dependency", "dep", "template", "lint", "package", "search", "show", "inspect", "pull", "fetch", "create", "env", "version", "completion", "plugin", "registry", "verify"})),
    "kustomize": ("cluster", _spec(), frozenset({"build", "create", "edit", "cfg", "version", "completion", "localize"})),
    "terraform": ("iac", _spec("", ("chdir", "var", "var-file", "target", "state", "state-out", "backup", "parallelism", "lock-timeout", "out", "replace", "generate-config-out"), single_dash_long=True), frozenset({"init", "validate", "fmt", "plan", "show", "output", "graph", "providers", "version", "console", "login", "logout", "get", "metadata", "modules", "test", "refresh"})),
    "tofu": ("iac", _spec("", ("chdir", "var", "var-file", "target", "state", "state-out", "backup", "parallelism", "lock-timeout", "out", "replace"), single_dash_long=True), frozenset({"init", "validate", "fmt", "plan", "show", "output", "graph", "providers", "version", "console", "login", "logout", "get", "test"})),
    "terragrunt": ("iac", _spec("", ("terragrunt-config", "terragrunt-working-dir", "var", "var-file", "target"), single_dash_long=True), frozenset({"init", "validate", "fmt", "plan", "show", "output", "graph", "providers", "version", "hclfmt", "render-json", "graph-dependencies"})),
    "pulumi": ("iac", _spec("sCm", ("stack", "cwd", "message", "config", "target", "parallel", "exec-kind", "color")), frozenset({"preview", "login", "logout", "whoami", "version", "about", "config", "plugin", "new", "convert", "gen-completion", "schema", "policy", "install", "env", "console", "logs", "watch-noop"})),
    "cdk": ("iac", _spec("ac", ("app", "context", "profile", "output", "toolkit-stack-name", "role-arn", "parameters", "exclusively")), frozenset({"synth", "synthesize", "diff", "list", "ls", "doctor", "init", "context", "docs", "version", "acknowledge", "notices", "metadata"})),
    "serverless": ("iac", _spec("sr", ("stage", "region", "config", "aws-profile", "param")), frozenset({"print", "info", "package", "invoke-local", "plugin", "create", "login", "logout", "config", "dashboard", "metrics", "logs", "help"})),
    "sls": ("iac", _spec("sr", ("stage", "region", "config", "aws-profile", "param")), frozenset({"print", "info", "package", "invoke-local", "plugin", "create", "login", "logout", "config", "logs", "help"})),
    "ansible-playbook": ("iac", _spec("iuefltkMC", ("inventory", "user", "extra-vars", "forks", "limit", "tags", "skip-tags", "vault-password-file", "private-key", "connection", "timeout", "become-user", "start-at-task", "module-path")), frozenset()),
    "aws": ("cloud", _spec("", ("profile", "region", "output", "endpoint-url", "query", "color", "ca-bundle", "cli-read-timeout", "cli-connect-timeout", "cli-binary-format")), frozenset({"configure", "help", "sso", "history", "login"})),
    "gcloud": ("cloud", _spec("", ("project", "account", "configuration", "format", "verbosity", "impersonate-service-account", "billing-project", "flags-file", "flatten", "trace-token", "region", "zone", "location")), frozenset({"config", "auth", "components", "help", "info", "init", "version", "topic", "survey", "feedback", "cheat-sheet"})),
    "az": ("cloud", _spec("o", ("subscription", "output", "query", "only-show-errors")), frozenset({"login", "logout", "account", "configure", "extension", "version", "upgrade", "find", "interactive", "feedback", "cloud", "config"})),
    "gsutil": ("cloud", _spec("ohu", ()), frozenset({"help", "version", "config"})),
    "azcopy": ("cloud", _spec(), frozenset({"login", "logout", "env", "jobs", "help"})),
    "doctl": ("cloud", _spec("tco", ("access-token", "context", "config", "output", "format")), frozenset({"auth", "version", "completion"})),
    "eksctl": ("cloud", _spec("rf", ("region", "profile", "config-file", "name")), frozenset({"version", "completion", "info"})),
    "flyctl": ("cloud", _spec("ac", ("app", "config", "org", "region")), frozenset({"auth", "version", "docs", "doctor", "launch-noop"})),
    "fly": ("cloud", _spec("ac", ("app", "config", "org", "region")), frozenset({"auth", "version", "docs", "doctor"})),
    "heroku": ("cloud", _spec("ar", ("app", "remote")), frozenset({"login", "logout", "auth", "version", "help", "plugins", "update", "autocomplete"})),
    "vercel": ("cloud", _spec("tAS", ("token", "scope", "local-config", "global-config")), frozenset({"login", "logout", "whoami", "help", "dev", "build", "pull", "link", "switch"})),
    "netlify": ("cloud", _spec(), frozenset({"login", "logout", "status", "help", "dev", "build", "link", "unlink", "switch", "open"})),
    "firebase": ("cloud", _spec("P", ("project", "token", "config")), frozenset({"login", "logout", "help", "init", "serve", "emulators", "use", "open", "setup"})),
    "wrangler": ("cloud", _spec("ce", ("config", "env", "account-id", "namespace-id", "binding")), frozenset({"login", "logout", "whoami", "dev", "init", "generate", "docs", "types", "version", "build"})),
    "fastly": ("cloud", _spec("s", ("service-id", "token", "profile", "version", "name")), frozenset({"profile", "version", "help", "update", "whoami"})),
    "ibmcloud": ("cloud", _spec(), frozenset({"login", "logout", "target", "config", "help", "version", "plugin"})),
    "oci": ("cloud", _spec("", ("profile", "region", "config-file", "output", "query", "auth")), frozenset({"setup", "session"})),
    "hcloud": ("cloud", _spec("o", ("context", "output")), frozenset({"context", "version", "completion"})),
    "linode-cli": ("cloud", _spec(), frozenset({"configure", "help", "version"})),
    "ansible": ("iac", _spec("iumaMtfkCeb", ("inventory", "user", "module-name", "args", "module-path", "tree", "forks", "extra-vars", "limit", "become-user", "private-key", "connection", "timeout", "vault-password-file")), frozenset()),
}

#: platform tools: destructive verbs matter, other changes (a PR, a release) are routine
PLATFORMS: dict[str, OptionSpec] = {
    "gh": _spec("RX", ("repo", "method", "hostname", "jq", "template", "field", "raw-field", "header", "input")),
    "glab": _spec("RX", ("repo", "method", "hostname", "field", "raw-field", "header")),
    "tea": _spec("r", ("repo", "login")),
    "circleci": _spec("", ("token", "host", "org-id")),
    "gitlab-runner": _spec("", ("config", "name", "url", "token")),
    "jenkins-cli": _spec("s", ()),
    "stripe": _spec("", ("api-key", "project-name", "stripe-account")),
    "datadog-ci": _spec(),
    "newrelic": _spec("", ("profile", "accountId")),
    "pd": _spec(),
    "sentry-cli": _spec("", ("org", "project", "auth-token", "url")),
    "algolia": _spec("", ("profile", "application-id", "api-key")),
    "deck": _spec("", ("kong-addr", "headers", "state", "select-tag", "output-file")),
    "kong": _spec("c", ("conf", "prefix")),
    "velero": _spec("n", ("namespace", "kubeconfig", "kubecontext")),
    "restic": _spec("r", ("repo", "password-file", "repository-file", "cache-dir", "tag", "host", "path", "keep-last", "keep-daily", "keep-weekly", "keep-monthly", "keep-hourly", "keep-yearly", "max-unused", "mode")),
    "borg": _spec("a", ("rsh", "remote-path", "glob-archives", "lock-wait", "keep-last", "keep-daily", "keep-weekly", "keep-monthly", "keep-hourly", "keep-yearly", "prefix", "match-archives")),
    "rclone": _spec("", ("config", "transfers", "checkers", "include", "exclude", "filter", "bwlimit", "log-file", "log-level", "max-age", "min-age", "backup-dir")),
    "mc": _spec("", ("config-dir",)),
    "nats": _spec("s", ("server", "creds", "context", "user", "password")),
    "rabbitmqadmin": _spec("HPuVp", ("host", "port", "username", "vhost", "password")),
    "rabbitmqctl": _spec("np", ("node", "vhost")),
    "rabbitmq-plugins": _spec("n", ("node",)),
    "doppler": _spec("pc", ("project", "config", "token", "scope")),
    "op": _spec("", ("account", "vault", "format", "session")),
    "vault": _spec("", ("address", "namespace", "format", "field", "mount")),
    "flipt": _spec("", ("namespace", "config", "address", "token")),
    "unleash": _spec(),
    "launchdarkly": _spec(),
    "ldcli": _spec(),
    "apigeecli": _spec("no", ("org", "env", "name", "token")),
    "square": _spec(),
    "twilio": _spec(),
    "splunk": _spec(),
    "promtool": _spec(),
    "amtool": _spec(),
    "consul": _spec("", ("http-addr", "token", "datacenter")),
    "nomad": _spec("", ("address", "token", "namespace", "region")),
    "etcdctl": _spec("", ("endpoints", "user", "password", "cacert", "cert", "key")),
    "zkcli": _spec(),
    "kafka-topics": _spec("", ("bootstrap-server", "topic", "partitions", "replication-factor", "config", "command-config", "zookeeper")),
    "kafka-consumer-groups": _spec("", ("bootstrap-server", "group", "topic", "command-config", "to-offset")),
    "kafka-configs": _spec("", ("bootstrap-server", "entity-type", "entity-name", "add-config", "delete-config", "command-config")),
    "kafka-acls": _spec("", ("bootstrap-server", "topic", "group", "allow-principal", "deny-principal", "operation", "command-config")),
}

#: secret stores: the verbs that read or write a secret's value
_SECRET_TOOLS = {"vault": "vault", "op": "1password", "doppler": "doppler", "infisical": "infisical", "bw": "bitwarden", "pass": "pass", "gopass": "gopass", "sops": "sops", "chamber": "chamber", "berglas": "berglas"}
_SECRET_CLOUD = {("aws", "secretsmanager"), ("aws", "ssm"), ("gcloud", "secrets"), ("az", "keyvault")}
_SECRET_READ_VERBS = frozenset({"get", "read", "show", "access", "download", "export", "reveal", "decrypt"})
_PRODUCTION = frozenset({"prod", "production", "prd", "live"})

#: (tool, service) pairs that manage identities and permissions
_ACCESS_CONTROL = frozenset({("aws", "iam"), ("aws", "sso-admin"), ("aws", "organizations"), ("aws", "kms"), ("aws", "identitystore"), ("aws", "cognito-idp"), ("gcloud", "iam"), ("gcloud", "kms"), ("gcloud", "organizations"), ("az", "role"), ("az", "ad"), ("az", "identity")})
_ANSIBLE_SHELL_MODULES = frozenset({"shell", "command", "raw", "script", "ansible.builtin.shell", "ansible.builtin.command", "ansible.builtin.raw"})


def _production(words: list[Word]) -> bool:
    for w in words:
        low = w.text.lower()
        for part in low.replace("=", "/").replace(":", "/").replace(".", "/").replace("_", "-").split("/"):
            if part in _PRODUCTION or any(p in _PRODUCTION for p in part.split("-")):
                return True
    return False


#: (tool, sub-command words) that reveal a secret's value; other reads only show metadata
_REVEALS = {
    ("aws", "secretsmanager", "get-secret-value"), ("aws", "secretsmanager", "batch-get-secret-value"),
    ("gcloud", "secrets", "versions"), ("az", "keyvault", "secret"),
    ("vault", "kv", "get"), ("vault", "read", ""), ("vault", "kv", "patch-noop"),
    ("op", "read", ""), ("op", "item", "get"), ("op", "document", "get"), ("op", "inject", ""),
    ("doppler", "secrets", "get"), ("doppler", "secrets", "download"), ("doppler", "secrets", ""),
    ("infisical", "secrets", "get"), ("bw", "get", ""), ("pass", "show", ""), ("gopass", "show", ""),
    ("sops", "decrypt", ""), ("sops", "-d", ""), ("chamber", "read", ""), ("chamber", "export", ""), ("berglas", "access", ""),
}  # fmt: skip
_SSM_PARAMETER_GETS = frozenset({"get-parameter", "get-parameters", "get-parameters-by-path", "get-parameter-history"})


def _secret_facts(inv: Invocation, em: Emitter, store: str) -> None:
    """secrets.read when the command reveals a secret's value, secrets.write when it changes one."""
    verb = em.spawn.get("verb")
    cls = em.spawn.get("verb_class")
    ops = [w.text.lower() for w in inv.args if not w.text.startswith("-")]
    target = " ".join(w.text for w in inv.args if not w.text.startswith("-"))[:200] or None
    words = [w.text for w in inv.args]
    first, second = (ops + ["", ""])[:2]
    tool = inv.program.lower()
    reveals = (tool, first, second) in _REVEALS or (tool, first, "") in _REVEALS
    if tool == "aws" and first == "ssm" and second in _SSM_PARAMETER_GETS:
        reveals = "--with-decryption" in words
    if tool == "az" and first == "keyvault":
        reveals = second == "secret" and len(ops) > 2 and ops[2] in ("show", "download")
    if tool == "gcloud" and first == "secrets":
        reveals = second == "versions" and len(ops) > 2 and ops[2] == "access"
    if reveals and cls in ("read", None) or reveals and verb in _SECRET_READ_VERBS:
        em.emit("secrets.read", target, {"store": store, "verb": verb, "reveals_value": True})
    elif cls in ("change", "destructive") and verb not in ("login", "logout", "list", "run", "setup", "configure", "auth", "signin", "unlock", "lock"):
        em.emit("secrets.write", target, {"store": store, "verb": verb, "destructive": cls == "destructive"})


def _infra(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    kind, spec, local = TOOLS[name]
    parsed = classify_command(inv, em, spec, limit=5)
    if em.spawn.get("verb") == "help" or em.spawn.get("dry_run"):
        return
    if name in ("ansible", "ansible-playbook") and parsed.has("list-hosts", "list-tags", "list-tasks", "syntax-check", "check", "C", "version"):
        set_verb(em, "check", "read", [])
        return
    verb = em.spawn.get("verb")
    cls = em.spawn.get("verb_class")
    sub = em.spawn.get("subcommand") or []
    ops = [w.text.lower() for w in parsed.operands]
    if name in ("terraform", "tofu", "terragrunt") and ops:
        head = ops[0]
        if head == "apply" and parsed.has("destroy"):
            set_verb(em, "destroy", "destructive", ["apply"])
        elif head == "state" and len(ops) > 1:
            v, c = classify_word(ops[1])
            set_verb(em, v or ops[1], c or "change", ["state", ops[1]])
        elif head == "workspace" and len(ops) > 1:
            v, c = classify_word(ops[1])
            if c == "destructive":
                set_verb(em, v, c, ["workspace", ops[1]])
            else:
                set_verb(em, ops[1], "read", ["workspace", ops[1]])
                return
        elif head in ("apply", "import", "taint", "untaint", "force-unlock"):
            set_verb(em, head, "change" if head != "force-unlock" else "destructive", [head])
        verb, cls = em.spawn.get("verb"), em.spawn.get("verb_class")
    if name == "pulumi" and ops and ops[0] == "stack" and len(ops) > 1 and ops[1] in ("rm", "remove"):
        set_verb(em, "rm", "destructive", ["stack", "rm"])
        verb, cls = "rm", "destructive"
    if name == "ansible":
        module = parsed.value("m", "module-name") or "command"
        margs = parsed.value("a", "args") or ""
        hosts = parsed.operands[0].text if parsed.operands else "all"
        if "state=absent" in margs.replace(" ", ""):
            set_verb(em, "absent", "destructive", [module])
        elif module in _ANSIBLE_SHELL_MODULES and margs:
            em.shell(margs, remote=f"ansible:{hosts}", via=f"ansible -m {module}")
            set_verb(em, "exec", "change", [module])
        elif module in ("ping", "setup", "gather_facts", "debug", "ansible.builtin.ping", "ansible.builtin.setup"):
            set_verb(em, "get", "read", [module])
        else:
            set_verb(em, module, "change", [module])
        verb, cls = em.spawn.get("verb"), em.spawn.get("verb_class")
    if name == "ansible-playbook":
        playbooks = [w for w in parsed.operands]
        for pb in playbooks:
            em.path("filesystem.read", pb, script=True)
        check = parsed.has("check", "C", "syntax-check", "list-tasks", "list-hosts")
        set_verb(em, "check" if check else "apply", "read" if check else "change", ["playbook"])
        verb, cls = em.spawn.get("verb"), em.spawn.get("verb_class")
    if name in ("kubectl", "oc") and len(ops) > 1 and ops[0] == "get" and ops[1].split("/")[0] in ("secret", "secrets") and (parsed.value("o", "output") or "").split("=")[0] in ("yaml", "json", "jsonpath", "go-template", "template"):
        em.emit("secrets.read", " ".join(ops[1:3]), {"store": "kubernetes", "verb": "get", "reveals_value": True})
    if (name, ops[0] if ops else "") in _ACCESS_CONTROL or (name in ("kubectl", "oc") and any(o in ("role", "clusterrole", "rolebinding", "clusterrolebinding", "serviceaccount") for o in ops[1:2])) or (name == "gcloud" and any(o.endswith("iam-policy-binding") or o == "set-iam-policy" for o in ops)):
        em.spawn["access_control"] = True
    if name == "helm" and ops and ops[0] == "rollback":
        set_verb(em, "rollback", "destructive", ["rollback"])
        verb, cls = "rollback", "destructive"
    if name in ("kubectl", "oc") and ops and ops[0] in ("drain",):
        set_verb(em, "drain", "destructive", ["drain"])
        verb, cls = "drain", "destructive"
    if name == "gsutil" and ops and ops[0] == "rsync" and parsed.has("d"):
        set_verb(em, "rsync", "destructive", ["rsync"])
        verb, cls = "rsync", "destructive"
    if name in ("aws", "gcloud", "az") and len(ops) >= 1:
        if (name, ops[0]) in _SECRET_CLOUD:
            _secret_facts(inv, em, name)
    first = sub[0].lower() if sub else (ops[0] if ops else "")
    dry_run = parsed.has("dry-run", "dryrun", "check") and parsed.value("dry-run") not in ("none", "false")
    if first in local or cls in (None, "read") or (dry_run and cls != "destructive"):
        return  # nothing shared changes (local config, reads, previews)
    unattended = parsed.has("auto-approve", "yes", "y", "force", "f", "quiet", "q", "non-interactive", "approve")
    facts = {
        "access_control": bool(em.spawn.get("access_control")),
        "tool": name,
        "kind": kind,
        "verb": verb,
        "verb_class": cls,
        "destructive": cls == "destructive",
        "subcommand": sub,
        "unattended": unattended,
        "production": _production(list(inv.args)),
    }
    for key, opts in (("namespace", ("n", "namespace")), ("context", ("context", "kube-context")), ("profile", ("profile",)), ("region", ("region",)), ("project", ("project",)), ("stack", ("stack", "s"))):
        v = parsed.value(*opts)
        if v:
            facts[key] = v
    em.emit("infrastructure.change", " ".join([name] + sub)[:200], facts)


for _tool in TOOLS:
    register(_tool)(_infra)


def _platform(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    spec = PLATFORMS.get(name, OptionSpec())
    parsed = classify_command(inv, em, spec, limit=5)
    ops = [w.text.lower() for w in parsed.operands]
    if name in ("gh", "glab") and ops and ops[0] == "api":
        method = (parsed.value("X", "method") or ("POST" if parsed.has("f", "F", "field", "raw-field", "input") else "GET")).upper()
        cls = {"GET": "read", "HEAD": "read", "DELETE": "destructive"}.get(method, "change")
        set_verb(em, method.lower(), cls, ["api"])
    if name in _SECRET_TOOLS:
        _secret_facts(inv, em, _SECRET_TOOLS[name])
    if name == "restic" and ops and ops[0] == "unlock" and parsed.has("remove-all"):
        set_verb(em, "unlock", "destructive", ["unlock"])
    if name == "rclone" and ops and ops[0] in ("sync", "move", "moveto") and not parsed.has("dry-run", "n"):
        set_verb(em, ops[0], "destructive", [ops[0]])  # sync deletes extra files at the destination
    if name == "mc" and ops and ops[0] == "mirror" and parsed.has("remove", "overwrite"):
        set_verb(em, "mirror", "destructive", ["mirror"])
    if name == "velero" and ops and ops[0] in ("uninstall",):
        set_verb(em, "uninstall", "destructive", ["uninstall"])


for _tool in PLATFORMS:
    register(_tool)(_platform)
register("bw", "pass", "gopass", "sops", "chamber", "berglas", "infisical")(_platform)


_DOCKER = _spec("HcDl", ("host", "context", "config", "log-level", "tlscacert", "tlscert", "tlskey"))
_DOCKER_RUN = OptionSpec.make(
    short_values="vewpuhlcmaN",
    long_values=["volume", "env", "env-file", "workdir", "publish", "user", "hostname", "label", "cpu-shares", "memory", "attach", "name",
                 "network", "entrypoint", "mount", "platform", "restart", "pull", "add-host", "cpus", "device", "dns", "gpus", "ipc", "pid",
                 "label-file", "log-driver", "log-opt", "network-alias", "runtime", "security-opt", "shm-size", "stop-signal", "stop-timeout",
                 "tmpfs", "ulimit", "userns", "uts", "volumes-from", "cap-add", "cap-drop", "cgroupns", "health-cmd", "ip", "mac-address"],
    posix=True,
)  # fmt: skip


def _container_run(inv: Invocation, em: Emitter) -> None:
    """`docker run [opts] IMAGE [CMD...]`: host mounts are writes; CMD runs in the container."""
    from bastion.analysis.derive import process_command
    from bastion.analysis.shell import SimpleCommand

    args = list(inv.args)
    idx = next((i for i, w in enumerate(args) if w.text in ("run", "create")), None)
    if idx is None:
        return
    parsed = parse_args(args[idx + 1 :], _DOCKER_RUN)
    i = idx + 1
    while i < len(args):  # every -v/--volume and --mount, not only the last one
        t = args[i].text
        value = None
        if t in ("-v", "--volume") and i + 1 < len(args):
            value = args[i + 1].text
        elif t.startswith("--volume="):
            value = t.split("=", 1)[1]
        elif t == "--mount" and i + 1 < len(args):
            src = [kv.split("=", 1)[1] for kv in args[i + 1].text.split(",") if kv.startswith(("source=", "src="))]
            value = src[0] + ":" if src else None
        if value and ":" in value and value.split(":", 1)[0].startswith(("/", "~", ".", "$")):
            em.path("filesystem.write", value.split(":", 1)[0], mount=True)
        if parsed.rest and args[i] is parsed.rest[0]:
            break
        i += 1
    if parsed.has("privileged"):
        em.spawn["privileged_container"] = True
    entry = parsed.value("entrypoint")
    if len(parsed.rest) > 1 or entry:
        image = parsed.rest[0].text if parsed.rest else "?"
        words = ([Word(entry)] if entry else []) + list(parsed.rest[1:])
        cmd = SimpleCommand(tuple(words), " ".join(w.text for w in words), cwd=em.cmd.cwd)
        facts = process_command(em.ctx, cmd, depth=em.depth, remote=f"container:{image}", via=em.via + (f"docker run {image}",))
        if facts and facts.get("destructive"):
            em.spawn["destructive"] = True
_DOCKER_LOCAL_READ = frozenset({"ps", "images", "inspect", "logs", "version", "info", "stats", "top", "history", "diff", "events", "port", "search", "ls"})


@register("docker", "podman", "nerdctl", "docker-compose", "podman-compose", "colima", "lima", "finch")
def _docker(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    args = list(inv.args)
    parsed = parse_args(args, _DOCKER)
    ops = [w.text.lower() for w in parsed.operands]
    compose = name.endswith("compose") or (ops[:1] == ["compose"])
    if ops[:1] == ["compose"]:
        ops = ops[1:]
    inner = parse_args(args, OptionSpec.make(short_values="HcDlfpveuwm", long_values=["file", "project-name", "env-file", "profile", "host", "context", "name", "volume", "env", "user", "workdir", "network", "entrypoint", "mount", "publish", "label", "platform", "memory", "cpus", "restart", "pull", "hostname", "add-host", "tag", "build-arg", "target", "cache-from", "filter", "format"]))
    classify_command(inv, em, _DOCKER, limit=3, skip=1 if compose and name in ("docker", "podman", "nerdctl") else 0)
    cls = em.spawn.get("verb_class")
    if compose and ops and ops[0] == "down":
        removes_volumes = inner.has("v", "volumes") or inner.value("rmi") is not None
        set_verb(em, "down", "destructive" if removes_volumes else "change", ["compose", "down"])
        if removes_volumes:
            em.spawn["removes_volumes"] = True
        else:
            em.spawn.pop("destructive", None)
    elif ops and ops[0] in ("run", "create") and cls == "destructive":
        set_verb(em, ops[0], "change", [ops[0]])  # `docker run --rm` removes its own container only
        em.spawn.pop("destructive", None)
    elif ops and ops[0] in ("rm", "rmi", "kill", "stop", "prune") or ops[:2] in (["system", "prune"], ["volume", "rm"], ["volume", "prune"], ["image", "prune"], ["container", "prune"], ["network", "prune"], ["builder", "prune"], ["image", "rm"], ["container", "rm"], ["network", "rm"]):
        set_verb(em, ops[1] if ops[0] in ("system", "volume", "image", "container", "network", "builder") else ops[0], "destructive", ops[:2])
    if ops and ops[0] in ("run", "create"):
        _container_run(inv, em)
    if ops and ops[0] in _DOCKER_LOCAL_READ:
        set_verb(em, ops[0], "read", [ops[0]])
    if ops and ops[0] == "push":
        set_verb(em, "push", "change", ["push"])
        em.spawn["publishes"] = True
