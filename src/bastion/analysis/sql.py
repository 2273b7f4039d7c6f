"""SQL analysis with sqlglot: what each statement of a text does.

String matching fails both ways on SQL (`DROP/**/DATABASE` slips through, `SELECT
'DROP DATABASE'` is blocked), so the text is tokenised and parsed. Every statement
of a multi-statement text is classified into a *kind*:

  read         SELECT, SHOW, DESCRIBE, EXPLAIN (without ANALYZE), VALUES, FETCH
  write        INSERT, UPDATE, MERGE, COPY ... FROM, SELECT ... INTO, CREATE TABLE AS
  delete       DELETE, TRUNCATE
  ddl          CREATE, ALTER, DROP, COMMENT
  dcl          GRANT, REVOKE, CREATE/ALTER/DROP ROLE|USER
  admin        VACUUM, ANALYZE, REINDEX, COPY to/from a server file or PROGRAM, ALTER SYSTEM, ...
  session      SET, RESET, USE
  transaction  BEGIN, COMMIT, ROLLBACK, SAVEPOINT
  execute      CALL, EXECUTE, DO, PREPARE (runs stored code whose effects are unknown)
  opaque       anything that does not parse, or parses to something that is not a statement

Parse failures never raise: they give `opaque: true, parse_error: true`. Error
messages are not kept, because sqlglot quotes the statement (which may hold secrets).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

MAX_SQL_CHARS = 200_000
MAX_LISTED = 32

_DIALECTS = {
    "postgres": "postgres", "postgresql": "postgres", "pg": "postgres", "psql": "postgres",
    "redshift": "redshift", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite", "sqlite3": "sqlite",
    "tsql": "tsql", "mssql": "tsql", "sqlserver": "tsql", "oracle": "oracle", "bigquery": "bigquery",
    "snowflake": "snowflake", "duckdb": "duckdb", "clickhouse": "clickhouse", "trino": "trino",
    "presto": "presto", "athena": "athena", "spark": "spark", "databricks": "databricks", "hive": "hive",
    "teradata": "teradata", "materialize": "materialize", "risingwave": "risingwave", "doris": "doris",
    "starrocks": "starrocks", "drill": "drill", "exasol": "exasol", "dremio": "dremio", "fabric": "fabric",
}  # fmt: skip

#: first keyword -> kind, for statements sqlglot keeps as an opaque `Command`
_KEYWORD_KINDS: dict[str, str] = {
    "SHOW": "read", "DESCRIBE": "read", "DESC": "read", "FETCH": "read", "MOVE": "read", "VALUES": "read",
    "TABLE": "read", "CLOSE": "read", "DECLARE": "read", "WITH": "read",
    "SET": "session", "RESET": "session", "USE": "session",
    "BEGIN": "transaction", "START": "transaction", "COMMIT": "transaction", "ROLLBACK": "transaction",
    "SAVEPOINT": "transaction", "RELEASE": "transaction", "END": "transaction", "ABORT": "transaction",
    "CALL": "execute", "EXECUTE": "execute", "EXEC": "execute", "DO": "execute", "PREPARE": "execute",
    "VACUUM": "admin", "ANALYZE": "admin", "ANALYSE": "admin", "REINDEX": "admin", "CLUSTER": "admin",
    "CHECKPOINT": "admin", "LOAD": "admin", "LOCK": "admin", "REFRESH": "admin", "DISCARD": "admin",
    "LISTEN": "admin", "NOTIFY": "admin", "UNLISTEN": "admin", "ATTACH": "admin", "DETACH": "admin",
    "OPTIMIZE": "admin", "FLUSH": "admin", "KILL": "admin", "SHUTDOWN": "admin", "MSCK": "admin",
    "UNLOAD": "admin", "IMPORT": "admin", "EXPORT": "admin", "INSTALL": "admin", "PURGE": "admin",
    "COPY": "admin",
    "GRANT": "dcl", "REVOKE": "dcl", "REASSIGN": "dcl", "SECURITY": "dcl",
    "CREATE": "ddl", "ALTER": "ddl", "DROP": "ddl", "COMMENT": "ddl", "RENAME": "ddl",
    "TRUNCATE": "delete", "DELETE": "delete", "INSERT": "write", "UPDATE": "write", "MERGE": "write",
    "REPLACE": "write", "UPSERT": "write",
}  # fmt: skip
_DCL_OBJECTS = frozenset({"ROLE", "USER", "GROUP", "LOGIN"})

#: functions with effects beyond reading rows: file access, sleeping, signalling backends, writes
UNSAFE_FUNCTIONS = frozenset(
    {
        "pg_sleep", "pg_sleep_for", "pg_sleep_until", "pg_read_file", "pg_read_binary_file", "pg_ls_dir",
        "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir", "pg_ls_tmpdir", "pg_ls_archive_statusdir",
        "pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_logdir_ls", "lo_import", "lo_export",
        "lo_unlink", "lo_create", "lo_creat", "lo_open", "lo_put", "lo_from_bytea", "lo_truncate",
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "set_config",
        "setval", "nextval", "pg_advisory_lock", "pg_advisory_xact_lock", "pg_try_advisory_lock",
        "pg_advisory_lock_shared", "pg_switch_wal", "pg_create_restore_point", "pg_promote",
        "pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
        "pg_drop_replication_slot", "pg_logical_emit_message", "pg_stat_reset", "pg_stat_reset_shared",
        "pg_import_system_collations", "dblink", "dblink_exec", "dblink_connect", "query_to_xml",
        "query_to_xml_and_xmlschema", "table_to_xml", "cursor_to_xml", "ts_stat", "txid_current",
        "pg_current_xact_id", "load_file", "sys_exec", "sys_eval", "xp_cmdshell", "benchmark", "sleep",
        "waitfor", "load_extension", "writefile", "readfile", "edit",
    }
)  # fmt: skip
_READ_PRAGMAS = frozenset(
    {
        "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
        "database_list", "collation_list", "function_list", "module_list", "pragma_list", "table_list",
        "compile_options", "schema_version", "user_version", "page_count", "page_size", "encoding",
        "freelist_count", "data_version", "application_id", "integrity_check", "quick_check",
        "foreign_key_check",
    }
)  # fmt: skip

for _name in ("sqlglot", "sqlglot.parser", "sqlglot.generator"):
    # sqlglot logs unsupported statements verbatim; statements may hold secrets.
    logging.getLogger(_name).setLevel(logging.ERROR)


def dialect_name(name: str | None) -> tuple[str, bool]:
    """Map a user-given dialect to sqlglot's name. Returns (name, known)."""
    if not name:
        return "postgres", True
    key = str(name).strip().lower()
    if key in _DIALECTS:
        return _DIALECTS[key], True
    return "postgres", False


@lru_cache(maxsize=None)
def _dialect(name: str) -> Any:
    from sqlglot.dialects.dialect import Dialect

    return Dialect.get_or_raise(name)


class _Acc:
    """Facts accumulated over the statements of one text."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.statements: list[str] = []
        self.tables: list[str] = []
        self.functions: list[str] = []
        self.drops: list[str] = []
        self.flags: dict[str, bool] = {
            "where_less": False,
            "where_trivial": False,
            "truncate": False,
            "copy_program": False,
            "copy_file": False,
            "grant_all": False,
            "grant_global": False,
            "locking": False,
            "select_into": False,
            "explain_analyze": False,
            "alter_drop": False,
            "opaque": False,
            "parse_error": False,
        }

    def kind(self, k: str) -> None:
        if k not in self.kinds:
            self.kinds.append(k)

    def add(self, seq: list[str], value: str) -> None:
        if value and value not in seq and len(seq) < MAX_LISTED:
            seq.append(value)


def _chunks(tokens: list[Any], semicolon: Any) -> list[list[Any]]:
    out: list[list[Any]] = [[]]
    for tok in tokens:
        if tok.token_type is semicolon:
            out.append([])
        else:
            out[-1].append(tok)
    return [c for c in out if c]


def _is_true_literal(node: Any, exp: Any) -> bool:
    """WHERE 1=1, WHERE true, WHERE 'a'='a': conditions that filter nothing."""
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Paren):
        return _is_true_literal(node.this, exp)
    if isinstance(node, exp.EQ):
        left, right = node.this, node.expression
        if isinstance(left, exp.Literal) and isinstance(right, exp.Literal):
            return left.this == right.this
    if isinstance(node, exp.Or):
        return _is_true_literal(node.this, exp) or _is_true_literal(node.expression, exp)
    return False


def _func_name(node: Any, exp: Any) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    try:
        return node.sql_name().lower()
    except Exception:  # some function classes have no SQL name
        return type(node).__name__.lower()


def _walk_tree(tree: Any, acc: _Acc, exp: Any) -> None:
    """Facts found anywhere in a statement: nested writes (CTEs), tables, functions."""
    cte_names = {str(c.alias).lower() for c in tree.find_all(exp.CTE)}
    for node in tree.walk():
        if isinstance(node, (exp.Delete, exp.Update)):
            acc.kind("delete" if isinstance(node, exp.Delete) else "write")
            where = node.args.get("where")
            if where is None:
                acc.flags["where_less"] = True
            elif _is_true_literal(where.this, exp):
                acc.flags["where_trivial"] = True
        elif isinstance(node, (exp.Insert, exp.Merge)):
            acc.kind("write")
        elif isinstance(node, exp.Table):
            if isinstance(node.this, exp.Identifier):
                name = ".".join(p.name for p in node.parts).lower()
                if name not in cte_names:
                    acc.add(acc.tables, name)
        elif isinstance(node, exp.Func):
            name = _func_name(node, exp)
            acc.add(acc.functions, name)
        elif isinstance(node, exp.Into):
            acc.flags["select_into"] = True
            acc.kind("write")


def _explain(rest: str, acc: _Acc, dialect: str, depth: int) -> None:
    """EXPLAIN [ANALYZE] [VERBOSE] [(options)] stmt: ANALYZE executes the statement."""
    text = rest.strip()
    analyze = False
    if text.startswith("("):
        close = text.find(")")
        opts = text[1:close].upper() if close > 0 else ""
        for opt in opts.split(","):
            words = opt.split()
            if words and words[0] in ("ANALYZE", "ANALYSE") and (len(words) == 1 or words[1] not in ("FALSE", "OFF", "0")):
                analyze = True
        text = text[close + 1 :].strip() if close > 0 else ""
    while True:
        head = text.split(None, 1)
        word = head[0].upper() if head else ""
        if word in ("ANALYZE", "ANALYSE"):
            analyze = True
        elif word not in ("VERBOSE", "QUERY", "PLAN", "FOR", "EXTENDED", "FORMATTED", "CODEGEN", "COST", "COSTS"):
            break
        text = head[1] if len(head) > 1 else ""
    acc.add(acc.statements, "explain")
    if not analyze:
        acc.kind("read")
        inner = analyze_sql(text, dialect, _depth=depth + 1) if text else {"opaque": False}
        if inner.get("opaque"):
            acc.flags["opaque"] = True
            acc.flags["parse_error"] = acc.flags["parse_error"] or bool(inner.get("parse_error"))
        for t in inner.get("tables", ()):
            acc.add(acc.tables, t)
        return
    acc.flags["explain_analyze"] = True
    inner = analyze_sql(text, dialect, _depth=depth + 1)
    _merge(acc, inner)


def _merge(acc: _Acc, inner: dict[str, Any]) -> None:
    for k in inner.get("statement_kinds", ()):
        acc.kind(k)
    for s in inner.get("statements", ()):
        acc.add(acc.statements, s)
    for t in inner.get("tables", ()):
        acc.add(acc.tables, t)
    for f in inner.get("functions", ()):
        acc.add(acc.functions, f)
    for d in inner.get("drops", ()):
        acc.add(acc.drops, d)
    for flag in acc.flags:
        if inner.get(flag):
            acc.flags[flag] = True


def _command(expr: Any, first: str, acc: _Acc, dialect: str, depth: int) -> None:
    keyword = str(expr.this).upper() if expr.this else first
    raw = expr.args.get("expression")
    rest = raw.name if hasattr(raw, "name") else str(raw or "")
    acc.add(acc.statements, keyword.lower())
    if keyword == "EXPLAIN":
        _explain(rest, acc, dialect, depth)
        return
    words = rest.upper().split()
    if keyword in ("CREATE", "ALTER", "DROP") and words:
        obj = words[1] if words[0] in ("OR", "TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL") and len(words) > 1 else words[0]
        if obj in _DCL_OBJECTS:
            acc.kind("dcl")
            return
        if keyword == "ALTER" and obj == "SYSTEM":
            acc.kind("admin")
            return
        if keyword == "ALTER" and obj == "DEFAULT":
            acc.kind("dcl")
            return
        if keyword == "DROP":
            acc.add(acc.drops, obj.lower())
        if keyword == "ALTER" and "DROP" in words:
            acc.flags["alter_drop"] = True
        acc.kind("ddl")
        return
    if keyword == "GRANT":
        acc.kind("dcl")
        _grant_scope(words, acc)
        return
    if keyword == "COPY":
        _copy_tokens(words, acc)
        return
    kind = _KEYWORD_KINDS.get(keyword)
    if kind is None:
        acc.kind("opaque")
        acc.flags["opaque"] = True
        return
    acc.kind(kind)


def _grant_scope(words: list[str], acc: _Acc) -> None:
    """GRANT ALL ...; on *.*, a whole database or schema, every table, or role membership of a superuser."""
    if words and words[0] == "ALL":
        acc.flags["grant_all"] = True
    text = " ".join(words)
    if "*.*" in text.replace(" ", "") or " ON DATABASE " in f" {text} " or " ON ALL " in f" {text} " or " ON SCHEMA " in f" {text} " or "SUPERUSER" in text or " WITH GRANT OPTION" in f" {text}" or " WITH ADMIN OPTION" in f" {text}":
        acc.flags["grant_global"] = True


def _copy_tokens(words: list[str], acc: _Acc) -> None:
    if "PROGRAM" in words:
        acc.flags["copy_program"] = True
        acc.kind("admin")
    elif "STDIN" in words or "STDOUT" in words:
        acc.kind("write" if "FROM" in words else "read")
    else:
        acc.flags["copy_file"] = True
        acc.kind("admin")


def _statement(expr: Any, tokens: list[Any], sql: str, acc: _Acc, dialect: str, depth: int) -> None:
    from sqlglot import exp

    first = tokens[0].text.upper() if tokens else ""
    upper_words = [t.text.upper() for t in tokens]
    # sqlglot drops locking clauses with a warning; find them in the tokens
    for i, w in enumerate(upper_words[:-1]):
        if w == "FOR" and upper_words[i + 1] in ("UPDATE", "SHARE", "NO", "KEY"):
            acc.flags["locking"] = True
    if isinstance(expr, exp.Command):
        _command(expr, first, acc, dialect, depth)
        return
    name = type(expr).__name__.lower()
    if isinstance(expr, (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)):
        acc.add(acc.statements, "select")
        acc.kind("read")
    elif isinstance(expr, exp.Insert):
        acc.add(acc.statements, "insert")
    elif isinstance(expr, exp.Update):
        acc.add(acc.statements, "update")
    elif isinstance(expr, exp.Delete):
        acc.add(acc.statements, "delete")
    elif isinstance(expr, exp.Merge):
        acc.add(acc.statements, "merge")
    elif isinstance(expr, exp.TruncateTable):
        acc.add(acc.statements, "truncate")
        acc.kind("delete")
        acc.flags["truncate"] = True
    elif isinstance(expr, exp.Drop):
        acc.add(acc.statements, "drop")
        acc.kind("ddl")
        acc.add(acc.drops, str(expr.args.get("kind") or "").lower())
    elif isinstance(expr, exp.Create):
        acc.add(acc.statements, "create")
        acc.kind("ddl")
        if expr.args.get("expression") is not None and str(expr.args.get("kind") or "").upper() == "TABLE":
            acc.kind("write")
    elif isinstance(expr, exp.Alter):
        acc.add(acc.statements, "alter")
        acc.kind("ddl")
        if any(isinstance(a, exp.Drop) for a in expr.args.get("actions") or ()):
            acc.flags["alter_drop"] = True
    elif isinstance(expr, exp.Copy):
        acc.add(acc.statements, "copy")
        _copy_tokens(upper_words, acc)
    elif isinstance(expr, (exp.Grant, exp.Revoke)):
        acc.add(acc.statements, name)
        acc.kind("dcl")
        if isinstance(expr, exp.Grant):
            _grant_scope(upper_words[1:], acc)
    elif isinstance(expr, (exp.Set, exp.Use)):
        acc.add(acc.statements, name)
        acc.kind("session")
    elif isinstance(expr, (exp.Transaction, exp.Commit, exp.Rollback)):
        acc.add(acc.statements, name)
        acc.kind("transaction")
    elif isinstance(expr, exp.Describe) or type(expr).__name__ == "Show":
        acc.add(acc.statements, "describe" if isinstance(expr, exp.Describe) else "show")
        acc.kind("read")
    elif type(expr).__name__ in ("Kill", "Detach", "Attach", "Cache", "Uncache", "Refresh", "Install", "Load"):
        acc.add(acc.statements, name)
        acc.kind("admin")
    elif isinstance(expr, exp.Pragma):
        acc.add(acc.statements, "pragma")
        pragma = upper_words[1].lower() if len(upper_words) > 1 else ""
        acc.kind("read" if pragma in _READ_PRAGMAS and "=" not in upper_words else "admin")
    elif isinstance(expr, exp.Analyze):
        acc.add(acc.statements, "analyze")
        acc.kind("admin")
    elif isinstance(expr, exp.Comment):
        acc.add(acc.statements, "comment")
        acc.kind("ddl")
    else:
        # sqlglot reads unknown words as an expression ("LISTEN x" -> Alias): not a statement we know
        kind = _KEYWORD_KINDS.get(first)
        acc.add(acc.statements, first.lower() or name)
        if kind is None or kind in ("read", "write", "delete", "ddl"):
            acc.kind("opaque")
            acc.flags["opaque"] = True
        else:
            acc.kind(kind)
        return
    _walk_tree(expr, acc, exp)


def analyze_sql(text: str, dialect: str | None = None, *, _depth: int = 0) -> dict[str, Any]:
    """Facts about a SQL text. Never raises."""
    name, known = dialect_name(dialect)
    acc = _Acc()
    count = 0
    if not isinstance(text, str) or len(text) > MAX_SQL_CHARS or _depth > 3:
        acc.flags["opaque"] = True
        acc.kind("opaque")
    else:
        try:
            from sqlglot.tokens import TokenType

            d = _dialect(name)
            tokens = d.tokenize(text)
            for chunk in _chunks(tokens, TokenType.SEMICOLON):
                exprs = [e for e in d.parser().parse(chunk, text) if e is not None]
                for expr in exprs:
                    count += 1
                    _statement(expr, chunk, text, acc, name, _depth)
        except Exception:  # sqlglot raises ParseError, TokenError, and on deep input RecursionError
            acc.flags["opaque"] = True
            acc.flags["parse_error"] = True
            acc.kind("opaque")
    unsafe = [f for f in acc.functions if f in UNSAFE_FUNCTIONS]
    kinds = acc.kinds
    read_only = all(k == "read" for k in kinds) and not (
        unsafe or acc.flags["locking"] or acc.flags["select_into"] or acc.flags["opaque"]
    )
    destructive = (
        acc.flags["where_less"]
        or acc.flags["truncate"]
        or acc.flags["copy_program"]
        or acc.flags["alter_drop"]
        or (acc.flags["grant_all"] and acc.flags["grant_global"])
        or any(d in ("database", "schema", "table", "view", "materialized", "keyspace", "collection") for d in acc.drops)
    )
    facts: dict[str, Any] = {
        "dialect": name,
        "statement_count": count,
        "multi_statement": count > 1,
        "statement_kinds": sorted(kinds),
        "statements": list(acc.statements),
        "tables": list(acc.tables),
        "functions": list(acc.functions),
        "unsafe_functions": unsafe,
        "drops": list(acc.drops),
        "read_only": read_only,
        "destructive": bool(destructive),
        **acc.flags,
    }
    if not known:
        facts["dialect_unknown"] = True
    return facts
