"""Database clients: the SQL (or commands) they send becomes `database.query` / `database.command`.

`psql -c "DROP DATABASE x"`, `mysql -e "..."`, `sqlite3 app.db "DELETE FROM t"`,
`echo "TRUNCATE t" | psql` and `psql <<EOF ... EOF` give `database.query` with the
SQL facts of sql.py (statement kinds, where-less writes, drops). Clients of other
stores give `database.command` with `engine`, `command`, `verb` and `destructive`:
`redis-cli FLUSHALL`, `mongosh --eval "db.users.drop()"`, `dropdb`, `mysqladmin
drop`, `pg_restore --clean`, `mongorestore --drop`. SQL from a file is `sql_file`
(its statements are unknown, so it is never `read_only`).
"""

from __future__ import annotations

import re

from bastion.analysis.emit import Emitter
from bastion.analysis.flags import OptionSpec, parse_args
from bastion.analysis.programs import register
from bastion.analysis.programs.generic import classify_command, destructive_option, set_verb
from bastion.analysis.programs.shells import stdin_script
from bastion.analysis.verbs import classify_word
from bastion.analysis.words import Word
from bastion.analysis.wrappers import Invocation


def _all(args: list[Word], shorts: tuple[str, ...], longs: tuple[str, ...]) -> list[Word]:
    """Every value of repeatable options (`psql -c A -c B`)."""
    out: list[Word] = []
    i = 0
    while i < len(args):
        t = args[i].text
        if t in shorts or t in longs:
            if i + 1 < len(args):
                out.append(args[i + 1])
            i += 2
            continue
        for lng in longs:
            if t.startswith(lng + "="):
                out.append(Word(t.split("=", 1)[1], args[i].dynamic))
        for s in shorts:
            if len(s) == 2 and t.startswith(s) and len(t) > 2 and not t.startswith("--"):
                out.append(Word(t[2:], args[i].dynamic))
        i += 1
    return out


def _sql_facts_to_spawn(em: Emitter) -> None:
    """The command is destructive when any SQL it sends is (unless the connection is read-only)."""
    if em.spawn.get("read_only_connection"):
        return
    for d in em.ctx.derived[-8:]:
        if d.capability == "database.query" and d.origin == em.origin and d.facts.get("destructive"):
            em.spawn["destructive"] = True
            em.spawn["verb"] = "drop" if d.facts.get("drops") else "delete"
            em.spawn["verb_class"] = "destructive"


def _client(inv: Invocation, em: Emitter, *, dialect: str, spec: OptionSpec, sql_shorts: tuple[str, ...], sql_longs: tuple[str, ...], file_opts: tuple[str, ...], positional_sql: int | None = None) -> None:
    args = list(inv.args)
    sqls = _all(args, sql_shorts, sql_longs)
    files = _all(args, tuple(f for f in file_opts if not f.startswith("--")), tuple(f for f in file_opts if f.startswith("--")))
    parsed = parse_args(args, spec)
    client = inv.program.lower()
    for w in sqls:
        if client in ("psql", "pgcli") and w.text.lstrip().startswith("\\"):
            _psql_meta(em, w.text.strip())
            continue
        em.sql(w.text, dialect, client, dynamic=w.dynamic)
    for f in files:
        em.path("filesystem.read", f, sql_file=True)
        known, content = em.written_script(f)
        if known and content is not None:  # `echo 'DROP TABLE t' > q.sql && psql -f q.sql`
            em.sql(content, dialect, client, sql_file=f.text)
        else:
            em.emit("database.query", None, {"client": client, "sql_file": f.text, "read_only": False, "statement_kinds": ["unknown"], "dialect": dialect})
    if positional_sql is not None and len(parsed.operands) > positional_sql:
        text = " ".join(w.text for w in parsed.operands[positional_sql:])
        if text.lstrip().startswith("."):
            _sqlite_dot(em, text)
        else:
            em.sql(text, dialect, client, dynamic=any(w.dynamic for w in parsed.operands[positional_sql:]))
        sqls.append(Word(text))
    if not sqls and not files:
        text, producer, known = stdin_script(em)
        if known and text is not None:
            em.sql(text, dialect, client)
        elif producer is not None:
            em.emit("database.query", None, {"client": client, "stdin": producer, "read_only": False, "statement_kinds": ["unknown"], "dialect": dialect})
        else:
            set_verb(em, "connect", "change", [])
    _sql_facts_to_spawn(em)
    em.spawn.setdefault("verb", "query")
    em.spawn.setdefault("verb_class", "change")


def _psql_meta(em: Emitter, text: str) -> None:
    """psql backslash commands: `\\dt` reads the catalogue, `\\! cmd` runs a shell, `\\copy` moves files."""
    head, _, rest = text[1:].partition(" ")
    cmd = head.lower()
    rest = rest.strip()
    if cmd == "!":
        em.shell(rest, via="psql \\!")
    elif cmd in ("i", "ir", "include", "include_relative") and rest:
        em.path("filesystem.read", rest.split()[0], sql_file=True)
        em.emit("database.query", None, {"client": "psql", "sql_file": rest.split()[0], "read_only": False, "statement_kinds": ["unknown"], "dialect": "postgres"})
    elif cmd in ("o", "out", "g", "w", "write", "gx") and rest:
        em.path("filesystem.write", rest.split()[0])
    elif cmd == "copy":
        low = rest.lower()
        m = re.search(r"\b(from|to)\s+program\s+'([^']{0,2000})'", rest, re.IGNORECASE)
        if m:
            em.shell(m.group(2), via="psql \\copy program")
        else:
            m2 = re.search(r"\b(from|to)\s+'?([^'\s]{1,500})'?", rest, re.IGNORECASE)
            if m2 and m2.group(2).lower() not in ("stdin", "stdout", "pstdin", "pstdout"):
                em.path("filesystem.read" if m2.group(1).lower() == "from" else "filesystem.write", m2.group(2))
            em.emit("database.query", text[:200], {"client": "psql", "statement_kinds": ["write" if " from " in f" {low} " else "read"], "read_only": " to " in f" {low} ", "dialect": "postgres", "meta_command": "copy"})
    else:
        em.emit("database.query", text[:200], {"client": "psql", "statement_kinds": ["read"], "read_only": True, "dialect": "postgres", "meta_command": cmd})
    set_verb(em, "query", "read" if cmd not in ("!", "copy", "i", "include") else "change", [])


_PSQL = OptionSpec.make(short_values="cdfhpUvoLFRPTsW", long_values=["command", "dbname", "file", "host", "port", "username", "variable", "set", "output", "log-file", "field-separator", "record-separator", "pset", "table-attr"])


@register("psql", "pgcli")
def _psql(inv: Invocation, em: Emitter) -> None:
    _client(inv, em, dialect="postgres", spec=_PSQL, sql_shorts=("-c",), sql_longs=("--command",), file_opts=("-f", "--file"))


_MYSQL = OptionSpec.make(short_values="eDhPuSO", long_values=["execute", "database", "host", "port", "user", "socket", "defaults-file", "init-command", "default-character-set"])


@register("mysql", "mariadb")
def _mysql(inv: Invocation, em: Emitter) -> None:
    _client(inv, em, dialect="mysql", spec=_MYSQL, sql_shorts=("-e",), sql_longs=("--execute",), file_opts=())


_SQLITE = OptionSpec.make(short_values="", long_values=["cmd", "init", "separator", "nullvalue", "newline", "vfs", "lookaside", "pagecache", "mmap", "heap", "maxsize", "cmd"], single_dash_long=True)
_SQLITE_TWO = frozenset({"-lookaside", "--lookaside", "-pagecache", "--pagecache"})


@register("sqlite3", "sqlite", "duckdb")
def _sqlite(inv: Invocation, em: Emitter) -> None:
    args = list(inv.args)
    for i, w in enumerate(list(args)):
        if w.text in _SQLITE_TWO and i + 2 < len(args):
            del args[i + 1 : i + 3]  # -lookaside SIZE COUNT
            break
    inv = Invocation(inv.program, inv.written, tuple(args), inv.wrappers, inv.dynamic_program, inv.stdin_args, inv.privileged, inv.run_as, inv.remote, inv.env)
    parsed = parse_args(inv.args, _SQLITE)
    if parsed.has("readonly", "safe"):
        em.spawn["read_only_connection"] = True
    if parsed.operands:
        db = parsed.operands[0]
        if db.text != ":memory:":
            em.path("filesystem.read", db, database_file=True)
    dialect = "duckdb" if inv.program.lower() == "duckdb" else "sqlite"
    _client(inv, em, dialect=dialect, spec=_SQLITE, sql_shorts=(), sql_longs=("-cmd", "--cmd", "-c") if dialect == "duckdb" else ("-cmd", "--cmd"), file_opts=("-init", "--init"), positional_sql=1)


def _sqlite_dot(em: Emitter, text: str) -> None:
    words = text.strip().split()
    cmd = words[0][1:].lower() if words else ""
    if cmd in ("shell", "system"):
        em.shell(text.strip().split(None, 1)[1] if len(words) > 1 else "", via="sqlite3 .shell")
        return
    if cmd in ("read",) and len(words) > 1:
        em.path("filesystem.read", words[1])
    if cmd in ("output", "once", "save", "backup", "excel") and len(words) > 1:
        em.path("filesystem.write", words[-1])
    verb, cls = classify_word(cmd)
    facts = {"engine": "sqlite", "command": cmd, "verb": verb or cmd, "destructive": cls == "destructive"}
    em.emit("database.command", text.strip()[:200], facts)
    if cls == "destructive":
        em.spawn["destructive"] = True
        set_verb(em, verb, cls, [])


@register("cockroach")
def _cockroach(inv: Invocation, em: Emitter) -> None:
    if inv.args and inv.args[0].text == "sql":
        _client(Invocation(inv.program, inv.written, inv.args[1:]), em, dialect="postgres", spec=_PSQL, sql_shorts=("-e",), sql_longs=("--execute",), file_opts=("-f", "--file"))
    else:
        classify_command(inv, em)


@register("clickhouse-client", "clickhouse")
def _clickhouse(inv: Invocation, em: Emitter) -> None:
    _client(inv, em, dialect="clickhouse", spec=OptionSpec.make(short_values="qhudp", long_values=["query", "host", "user", "database", "port", "password"]), sql_shorts=("-q",), sql_longs=("--query",), file_opts=("--queries-file",))


@register("sqlcmd", "usql", "snowsql", "trino", "presto")
def _other_sql(inv: Invocation, em: Emitter) -> None:
    dialect = {"sqlcmd": "tsql", "snowsql": "snowflake", "trino": "trino", "presto": "presto"}.get(inv.program.lower(), "postgres")
    _client(inv, em, dialect=dialect, spec=OptionSpec.make(short_values="QqcSdUPiof", long_values=["query", "execute", "server", "database", "user", "filename", "file"]), sql_shorts=("-Q", "-q", "-c"), sql_longs=("--query", "--execute"), file_opts=("-i", "-f", "--filename", "--file"))


@register("bq")
def _bq(inv: Invocation, em: Emitter) -> None:
    parsed = classify_command(inv, em)
    ops = [w for w in parsed.operands]
    if ops and ops[0].text == "query" and len(ops) > 1:
        em.sql(" ".join(w.text for w in ops[1:]), "bigquery", "bq")
        _sql_facts_to_spawn(em)


# --------------------------------------------------------------------------- admin tools


def _admin(em: Emitter, engine: str, command: str, verb: str | None, destructive: bool, target: str | None = None, drops: tuple[str, ...] = ()) -> None:
    facts = {"engine": engine, "command": command, "verb": verb or command, "destructive": destructive, "drops": list(drops)}
    em.emit("database.command", target, facts)
    set_verb(em, verb or command, "destructive" if destructive else "change", [command])
    if destructive:
        em.spawn["destructive"] = True


@register("dropdb", "dropuser", "droplang")
def _dropdb(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, OptionSpec.make(short_values="hpUd", long_values=["host", "port", "username", "maintenance-db"]))
    name = inv.program.lower()
    drops = {"dropdb": ("database",), "dropuser": ("role",), "droplang": ("language",)}[name]
    _admin(em, "postgres", name, "drop", True, " ".join(w.text for w in parsed.operands) or None, drops)


@register("createdb", "createuser")
def _createdb(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, OptionSpec.make(short_values="hpUODElT", long_values=["host", "port", "username", "owner"]))
    _admin(em, "postgres", inv.program.lower(), "create", False, " ".join(w.text for w in parsed.operands) or None)


@register("pg_restore", "pg_dump", "pg_dumpall", "mysqldump", "mongodump", "mongorestore", "mongoimport", "mongoexport", "pg_ctl", "pg_ctlcluster", "initdb")
def _dump_restore(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    parsed = parse_args(inv.args, OptionSpec.make(short_values="fdhpUFjnNtTSIZoWc" if name.startswith("pg_") else "dhpuocf", long_values=["file", "dbname", "host", "port", "username", "format", "jobs", "schema", "table", "out", "db", "collection", "uri", "archive"]))
    out = parsed.value("f", "file", "out")
    if name in ("pg_dump", "pg_dumpall", "mysqldump", "mongodump", "mongoexport"):
        if out:
            em.path("filesystem.write", out)
        set_verb(em, "dump", "read", [name])
        em.emit("database.command", None, {"engine": "postgres" if name.startswith("pg") else "mysql" if name.startswith("mysql") else "mongodb", "command": name, "verb": "dump", "destructive": False, "clean": parsed.has("c", "clean")})
        return
    if name in ("pg_ctl", "pg_ctlcluster"):
        ops = [w.text.lower() for w in parsed.operands]
        verb, cls = classify_word(ops[-1]) if ops else (None, None)
        _admin(em, "postgres", name, verb, cls == "destructive")
        return
    if name == "initdb":
        _admin(em, "postgres", name, "init", False)
        return
    for w in parsed.operands:
        em.path("filesystem.read", w)
    clean = parsed.has("c", "clean", "drop") or destructive_option(parsed) is not None
    engine = "postgres" if name.startswith("pg") else "mongodb"
    _admin(em, engine, name, "restore" if not clean else "drop", clean)


@register("mysqladmin")
def _mysqladmin(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, OptionSpec.make(short_values="hPuSpcio", long_values=["host", "port", "user", "socket", "count", "sleep"]))
    ops = [w.text.lower() for w in parsed.operands]
    if not ops:
        set_verb(em, "status", "read", [])
        return
    command = ops[0]
    verb, cls = classify_word(command)
    destructive = cls == "destructive" or command in ("drop", "shutdown", "kill", "purge")
    _admin(em, "mysql", command, verb or command, destructive, " ".join(ops[1:]) or None, ("database",) if command == "drop" else ())


_REDIS_DESTRUCTIVE = frozenset({"flushall", "flushdb", "del", "unlink", "shutdown", "debug", "swapdb", "replicaof", "slaveof", "migrate", "failover"})
_REDIS_SUB_DESTRUCTIVE = {"config": {"set", "resetstat", "rewrite"}, "client": {"kill", "pause"}, "cluster": {"reset", "forget", "flushslots", "delslots", "failover"}, "script": {"flush", "kill"}, "function": {"flush", "delete"}, "module": {"unload"}, "acl": {"deluser", "setuser"}}
_REDIS_READ = frozenset({"get", "mget", "keys", "scan", "info", "ping", "ttl", "pttl", "type", "exists", "hget", "hgetall", "hkeys", "hvals", "lrange", "llen", "smembers", "scard", "zrange", "zcard", "strlen", "dbsize", "monitor", "subscribe", "psubscribe", "echo", "time", "lastsave", "memory", "object", "slowlog", "latency", "xrange", "xlen", "xread", "getrange", "randomkey", "hlen", "sismember", "zscore"})


@register("redis-cli", "valkey-cli", "keydb-cli")
def _redis(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, OptionSpec.make(short_values="hpasnurdiR", long_values=["user", "pass", "tls", "cacert", "cert", "key", "sni"], posix=True))
    words = [w.text for w in parsed.rest]
    if not words:
        text, producer, known = stdin_script(em)
        if known and text:
            words = text.split()
        elif producer is not None:
            em.emit("database.command", None, {"engine": "redis", "command": "(stdin)", "verb": "unknown", "destructive": False, "stdin": producer})
            return
        else:
            set_verb(em, "connect", "change", [])
            return
    command = words[0].lower()
    sub = words[1].lower() if len(words) > 1 else ""
    if command in _REDIS_DESTRUCTIVE or sub in _REDIS_SUB_DESTRUCTIVE.get(command, ()):
        destructive, verb = True, command
    elif command in _REDIS_READ or sub in ("get", "list", "info", "help"):
        destructive, verb = False, "get"
    else:
        verb, cls = classify_word(command)
        destructive = cls == "destructive"
    _admin(em, "redis", command + (" " + sub if sub and command in _REDIS_SUB_DESTRUCTIVE else ""), verb or command, destructive, " ".join(words[1:3]) or None)
    if not destructive and command in _REDIS_READ:
        set_verb(em, "get", "read", [command])


_MONGO_CALL = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]{1,40})\s*\(\s*(\{\s*\})?")


def _mongo_js(em: Emitter, code: str) -> None:
    found = False
    for m in _MONGO_CALL.finditer(code[:50_000]):
        method = m.group(1)
        verb, cls = classify_word(method)
        if cls is None:
            continue
        empty_filter = m.group(2) is not None
        destructive = cls == "destructive"
        facts = {"engine": "mongodb", "command": method, "verb": verb, "destructive": destructive, "where_less": empty_filter and verb in ("delete", "remove", "update"), "drops": ["database"] if method == "dropDatabase" else (["collection"] if method == "drop" else [])}
        em.emit("database.command", method, facts)
        if destructive:
            em.spawn["destructive"] = True
            set_verb(em, verb, "destructive", [method])
        found = True
    if re.search(r"\beval\s*\(|\bFunction\s*\(", code):
        em.opaque("mongo shell runs computed code")
    if not found:
        set_verb(em, "eval", "change", [])


@register("mongosh", "mongo", "mongos")
def _mongosh(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, OptionSpec.make(short_values="uphf", long_values=["eval", "username", "password", "host", "port", "file", "authenticationDatabase", "tlsCAFile"]))
    evals = _all(list(inv.args), (), ("--eval",))
    for w in evals:
        _mongo_js(em, w.text)
    for f in _all(list(inv.args), ("-f",), ("--file",)):
        em.path("filesystem.read", f, script=True)
    for w in parsed.operands:
        if w.text.endswith(".js"):
            em.path("filesystem.read", w, script=True)
    if not evals:
        text, producer, known = stdin_script(em)
        if known and text:
            _mongo_js(em, text)
        elif producer is not None:
            em.emit("database.command", None, {"engine": "mongodb", "command": "(stdin)", "verb": "unknown", "destructive": False, "stdin": producer})


# --------------------------------------------------------------------------- SQL typed as a command line

_SQL_KEYWORDS = ("select", "insert", "update", "delete", "drop", "truncate", "alter", "create", "grant", "revoke", "show", "describe", "with", "merge", "replace", "upsert", "explain", "vacuum")


@register(*_SQL_KEYWORDS)
def _sql_line(inv: Invocation, em: Emitter) -> None:
    """`DROP DATABASE x;` typed as a shell command: judge it as the SQL it is."""
    text = em.cmd.text or " ".join([inv.written] + [w.text for w in inv.args])
    em.sql(text, None, "shell")
    _sql_facts_to_spawn(em)
    em.spawn["sql_as_command"] = True
    em.spawn.setdefault("verb", inv.program.lower())
    em.spawn.setdefault("verb_class", "read" if inv.program.lower() in ("select", "show", "describe", "explain") else "change")
