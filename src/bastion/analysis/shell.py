"""Shell command lines -> every simple command they run.

A real parser (tree-sitter with tree-sitter-bash) finds each simple command inside
lists, pipelines, `&&`/`||`/`;`, subshells, braces, `if`/`for`/`while`/`case`,
function bodies, `$( )`, backticks and process substitutions; redirections and
here-documents are attached to the command they belong to. Words are unquoted the
way bash does it (words.py), and simple variables assigned earlier in the same line
are substituted (`DIR=/; rm -rf $DIR` runs `rm -rf /`), including bash's word
splitting of unquoted expansions (`CMD="rm -rf"; $CMD /`).

This module is purely syntactic: which program a command really runs (wrappers,
`bash -c` strings) is decided in wrappers.py and derive.py. It never raises; bad
input sets `parse_error`, and limits (length, nesting, count) set `limit`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from bastion.analysis.words import Word, decode_ansi_c, unescape_double, unescape_unquoted

MAX_COMMAND_CHARS = 100_000
MAX_NESTING = 120
MAX_COMMANDS = 2_000
MAX_LOOP_VALUES = 8

#: A line made only of these characters has an unambiguous parse: split on blanks.
_PLAIN = re.compile(r"[A-Za-z0-9_./:@%+,=~ \t-]*\Z")
_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
#: reserved words: a plain line that starts with one needs the real parser
_RESERVED = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "in", "function", "select", "coproc"})
_REDIRECT_OPS = frozenset({"<", ">", ">>", "&>", "&>>", ">&", "<&", ">|", "<>", "<<", "<<-", "<<<", "&>|"})
_STATEMENTS = frozenset(
    {
        "program", "compound_statement", "do_group", "subshell", "list", "pipeline", "if_statement",
        "elif_clause", "else_clause", "while_statement", "case_statement", "case_item",
        "function_definition", "negated_command", "for_statement", "c_style_for_statement",
        "redirected_statement", "command", "variable_assignment", "variable_assignments",
        "declaration_command", "unset_command", "test_command", "ERROR",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Redirect:
    """A redirection. `target` is the file (None for here-documents and fd duplication)."""

    op: str
    fd: int | None = None
    target: Word | None = None
    #: the text fed on stdin by a here-document or here-string
    body: str | None = None
    body_dynamic: bool = False

    @property
    def writes(self) -> bool:
        return self.target is not None and self.op in (">", ">>", "&>", "&>>", ">|", "<>", "&>|")

    @property
    def reads(self) -> bool:
        return self.target is not None and self.op in ("<", "<>")


@dataclass(slots=True)
class SimpleCommand:
    """One simple command as written: words after quote removal, its redirections."""

    argv: tuple[Word, ...]
    text: str = ""
    redirects: list[Redirect] = field(default_factory=list)
    #: prefix assignments `X=1 cmd` (exported to the command's environment only)
    assignments: tuple[tuple[str, Word], ...] = ()
    #: the previous stage of its pipeline, whose output is this command's stdin
    upstream: "SimpleCommand | None" = None
    #: runs inside $( ), backticks or <( ) (its output becomes part of another word)
    in_substitution: bool = False
    #: working directory set by an earlier `cd` in the line (None: the action's cwd)
    cwd: str | None = None
    #: an earlier `cd` went to a directory computed at run time
    cwd_dynamic: bool = False

    @property
    def stdin_text(self) -> str | None:
        """The literal text a here-document or here-string feeds this command, if any."""
        for r in self.redirects:
            if r.body is not None and not r.body_dynamic:
                return r.body
        return None

    @property
    def stdin_redirected(self) -> bool:
        return any(r.body is not None or r.op in ("<", "<&") for r in self.redirects)


@dataclass(slots=True)
class ParseResult:
    commands: list[SimpleCommand]
    parse_error: bool = False
    #: a size or nesting limit was hit; the rest of the line was not examined
    limit: bool = False
    #: names assigned at top level (for diagnostics and tests)
    env: dict[str, Word | None] = field(default_factory=dict)
    #: functions that call themselves and are invoked (`:(){ :|:& };:`, a fork bomb)
    recursive_functions: list[str] = field(default_factory=list)


_local = threading.local()
_language: Any = None


def _get_parser() -> Any:
    """One tree-sitter parser per thread: a Parser must not parse in two threads at once."""
    global _language
    parser = getattr(_local, "parser", None)
    if parser is None:
        import tree_sitter
        import tree_sitter_bash

        if _language is None:
            _language = tree_sitter.Language(tree_sitter_bash.language())
        parser = _local.parser = tree_sitter.Parser(_language)
    return parser


class _Limit(Exception):
    pass


class _Alt:
    """A variable that holds one of several values (`X=/tmp || X=/`): each is analysed."""

    __slots__ = ("values",)

    def __init__(self, values: tuple[Word | None, ...]) -> None:
        self.values = values


MAX_ALTERNATIVES = 4
_MISSING = object()


def _plain_split(line: str, env: dict[str, Word | None]) -> ParseResult:
    """Fast path for lines without any shell syntax beyond blanks."""
    tokens = line.split()
    assigns: list[tuple[str, Word]] = []
    i = 0
    while i < len(tokens) and _ASSIGN.match(tokens[i]):
        name, _, value = tokens[i].partition("=")
        assigns.append((name, Word(value)))
        i += 1
    if i == len(tokens):
        for name, value in assigns:
            env[name] = value
        return ParseResult([], env=env)
    argv = tuple(Word(t) for t in tokens[i:])
    return ParseResult([SimpleCommand(argv, line.strip(), assignments=tuple(assigns))], env=env)


def _ascii_shadow(line: str) -> bytes:
    """The line with every non-ASCII character replaced by as many `a` bytes as its UTF-8 encoding.

    tree-sitter-bash 0.25 crashes the process (SIGSEGV) on some inputs such as `{` followed
    by a code point beyond the BMP's planes, so it only ever sees ASCII. Bash treats every
    non-ASCII byte as a word character, like `a`, so the tree is the same, and because the
    byte lengths are equal its node offsets still index the original UTF-8 text.
    """
    out = bytearray()
    for ch in line:
        if ch.isascii():
            out.append(ord(ch))
        else:
            out.extend(b"a" * len(ch.encode("utf-8", "surrogatepass")))
    return bytes(out)


def parse(line: str, env: dict[str, Word | None] | None = None) -> ParseResult:
    """Every simple command of `line`. `env` holds variables known before the line runs."""
    env = dict(env or {})
    if not isinstance(line, str):
        return ParseResult([], parse_error=True, env=env)
    if len(line) > MAX_COMMAND_CHARS:
        return ParseResult([], limit=True, env=env)
    if _PLAIN.match(line) and not line.lstrip().startswith("#") and line.split(None, 1)[:1] != [] and line.split(None, 1)[0] not in _RESERVED:
        return _plain_split(line, env)
    if not line.strip():
        return ParseResult([], env=env)
    if line.isascii():
        src = ascii_src = line.encode()
    else:
        src = line.encode("utf-8", "surrogatepass")
        ascii_src = _ascii_shadow(line)
    try:
        tree = _get_parser().parse(ascii_src)
    except Exception:  # tree-sitter does not raise on bad input; this guards its bindings
        return ParseResult([], parse_error=True, env=env)
    walker = _Walker(src, env)
    root = tree.root_node
    try:
        walker.stmt(root)
    except _Limit:
        walker.limit = True
    except RecursionError:
        walker.limit = True
    recursive = []
    for fname, (first, end, calls_self) in walker.functions.items():
        if calls_self and any(c.argv and c.argv[0].text == fname for i, c in enumerate(walker.commands) if not first <= i < end):
            recursive.append(fname)
    return ParseResult(walker.commands, parse_error=root.has_error, limit=walker.limit, env=walker.env, recursive_functions=recursive)


class _Walker:
    __slots__ = ("src", "commands", "env", "depth", "limit", "in_sub", "cwd", "cwd_dynamic", "functions", "alt_used")

    def __init__(self, src: bytes, env: dict[str, Word | None]) -> None:
        self.src = src
        self.commands: list[SimpleCommand] = []
        self.env = env
        self.depth = 0
        self.limit = False
        self.in_sub = False
        self.cwd: str | None = None
        self.cwd_dynamic = False
        #: function name -> (first, end) indexes of its body's commands, and whether it calls itself
        self.functions: dict[str, tuple[int, int, bool]] = {}
        #: variables with alternative values read while evaluating the current command
        self.alt_used: dict[str, _Alt] = {}

    # ------------------------------------------------------------------ helpers

    def text(self, node: Any) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _Limit()

    # ------------------------------------------------------------------ statements

    def stmt(self, node: Any, upstream: SimpleCommand | None = None) -> SimpleCommand | None:
        """Walk a statement; return the last simple command it produced (for redirects)."""
        t = node.type
        self._enter()
        try:
            if t == "command":
                return self.command(node, upstream)
            if t == "redirected_statement":
                return self.redirected(node, upstream)
            if t == "pipeline":
                prev = upstream
                for child in node.children:
                    if child.is_named and child.type != "comment":
                        prev = self.stmt(child, prev)
                return prev
            if t == "list":
                return self.conditional_list(node, upstream)
            if t == "subshell":
                saved = dict(self.env), self.cwd, self.cwd_dynamic
                try:
                    return self.block(node, upstream)
                finally:
                    self.env, self.cwd, self.cwd_dynamic = saved
            if t in ("variable_assignment", "variable_assignments"):
                self.assign(node)
                return None
            if t == "declaration_command":
                for child in node.children:
                    if child.type == "variable_assignment":
                        self.assign(child)
                    elif child.is_named:
                        self.word(child)
                return None
            if t == "unset_command":
                for child in node.children:
                    if child.is_named:
                        self.env.pop(self.text(child), None)
                return None
            if t == "for_statement":
                return self.for_loop(node)
            if t == "function_definition":
                body = node.child_by_field_name("body")
                name_node = node.child_by_field_name("name")
                first = len(self.commands)
                if body is not None:
                    self.stmt(body)
                if name_node is not None:
                    fname = self.text(name_node)
                    calls_self = any(c.argv and c.argv[0].text == fname for c in self.commands[first:])
                    self.functions[fname] = (first, len(self.commands), calls_self)
                return None
            if t in _STATEMENTS or t in ("comment",):
                return self.block(node, upstream)
            # a word or expression in statement position: only its substitutions run
            self.word(node)
            return None
        finally:
            self.depth -= 1

    def conditional_list(self, node: Any, upstream: SimpleCommand | None) -> SimpleCommand | None:
        """`a && b || c`: what runs after && or || may not run, so its assignments are alternatives."""
        last = None
        conditional = False
        for child in node.children:
            if not child.is_named:
                if child.type in ("&&", "||"):
                    conditional = True
                continue
            if child.type == "comment":
                continue
            if not conditional:
                produced = self.stmt(child, upstream) if child.type in _STATEMENTS else self.word(child) and None
                upstream = None
            else:
                before = dict(self.env)
                produced = self.stmt(child) if child.type in _STATEMENTS else self.word(child) and None
                for name, value in list(self.env.items()):
                    old = before.get(name, _MISSING)
                    if value is old:
                        continue
                    olds = old.values if isinstance(old, _Alt) else (() if old is _MISSING else (old,))
                    news = value.values if isinstance(value, _Alt) else (value,)
                    merged: list[Word | None] = []
                    for v in olds + news:
                        if v not in merged:
                            merged.append(v)
                    self.env[name] = _Alt(tuple(merged[:MAX_ALTERNATIVES])) if len(merged) > 1 else merged[0]
            if produced is not None:
                last = produced
        return last

    def block(self, node: Any, upstream: SimpleCommand | None = None) -> SimpleCommand | None:
        last = None
        for child in node.children:
            if not child.is_named or child.type == "comment":
                continue
            if child.type in _STATEMENTS:
                produced = self.stmt(child, upstream)
                upstream = None
                if produced is not None:
                    last = produced
            else:  # conditions' words, case values, for-loop values: run their substitutions
                self.word(child)
        return last

    def for_loop(self, node: Any) -> SimpleCommand | None:
        var = node.child_by_field_name("variable")
        name = self.text(var) if var is not None else None
        values: list[Word] = []
        body = node.child_by_field_name("body")
        for i, child in enumerate(node.children):
            if node.field_name_for_child(i) == "value":
                values.extend(self.words(child))
        if body is None:
            return None
        literal = name and values and len(values) <= MAX_LOOP_VALUES and not any(v.dynamic or v.glob for v in values)
        last = None
        if literal:
            for value in values:
                self.env[name] = value  # type: ignore[index]
                last = self.stmt(body) or last
        else:
            if name:
                self.env[name] = None
            last = self.stmt(body)
        return last

    def assign(self, node: Any) -> None:
        if node.type == "variable_assignments":
            for child in node.children:
                if child.type == "variable_assignment":
                    self.assign(child)
            return
        name_node = node.child_by_field_name("name")
        value_node = node.child_by_field_name("value")
        name = self.text(name_node) if name_node is not None else ""
        if name_node is not None and name_node.type == "subscript":
            if value_node is not None:
                self.word(value_node)
            return
        if value_node is None:
            value: Word | None = Word("")
        elif value_node.type == "array":
            for child in value_node.children:
                if child.is_named:
                    self.word(child)
            value = None
        else:
            value = self.word(value_node)
            if value.dynamic or value.glob:
                value = None
        if self.text(node).find("+=") == len(name):  # X+=y appends
            old = self.env.get(name)
            value = Word(old.text + value.text) if old is not None and value is not None else None
        self.env[name] = value

    def command(self, node: Any, upstream: SimpleCommand | None) -> SimpleCommand | None:
        self.alt_used = {}
        cmd = self._command(node, upstream)
        if self.alt_used:
            used = dict(self.alt_used)
            name, alt = next(iter(used.items()))  # one variable's alternatives (bounded)
            saved = self.env.get(name, _MISSING)
            for value in alt.values[1:]:
                self.env[name] = value
                self.alt_used = {}
                cmd = self._command(node, upstream) or cmd
            if saved is _MISSING:
                self.env.pop(name, None)
            else:
                self.env[name] = saved  # type: ignore[assignment]
            self.alt_used = {}
        return cmd

    def _command(self, node: Any, upstream: SimpleCommand | None) -> SimpleCommand | None:
        argv: list[Word] = []
        assigns: list[tuple[str, Word]] = []
        redirect_nodes: list[Any] = []
        for child in node.children:
            t = child.type
            if t == "variable_assignment":
                name_node = child.child_by_field_name("name")
                value_node = child.child_by_field_name("value")
                value = self.word(value_node) if value_node is not None else Word("")
                assigns.append((self.text(name_node) if name_node is not None else "", value))
            elif t == "command_name":
                for sub in child.children:
                    if sub.is_named:
                        argv.extend(self.words(sub))
            elif t in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                redirect_nodes.append(child)
            elif child.is_named and t != "comment":
                argv.extend(self.words(child))
        if len(self.commands) >= MAX_COMMANDS:
            raise _Limit()
        cmd = SimpleCommand(
            tuple(argv),
            self.text(node),
            assignments=tuple(assigns),
            upstream=upstream,
            in_substitution=self.in_sub,
            cwd=self.cwd,
            cwd_dynamic=self.cwd_dynamic,
        )
        if argv and argv[0].text in ("cd", "pushd") and upstream is None:
            self.change_dir(argv[1:])
        if (argv and (argv[0].text or len(argv) > 1)) or redirect_nodes:
            self.commands.append(cmd)
        elif assigns:
            for name, value in assigns:
                self.env[name] = None if value.dynamic or value.glob else value
            return None
        for r in redirect_nodes:
            self.redirect(r, cmd)
        return cmd

    def change_dir(self, args: tuple[Word, ...] | list[Word]) -> None:
        operands = [a for a in args if not a.text.startswith("-") or a.text == "-"]
        if not operands:
            self.cwd, self.cwd_dynamic = "~", False
            return
        target = operands[0]
        if target.dynamic or target.glob or target.text == "-":
            self.cwd_dynamic = True
            return
        if target.text.startswith(("/", "~")) or self.cwd is None:
            self.cwd = target.text
        else:
            self.cwd = self.cwd.rstrip("/") + "/" + target.text

    def redirected(self, node: Any, upstream: SimpleCommand | None) -> SimpleCommand | None:
        body = node.child_by_field_name("body")
        owner = self.stmt(body, upstream) if body is not None else None
        if owner is None:
            owner = SimpleCommand((), self.text(node), upstream=upstream, in_substitution=self.in_sub)
            self.commands.append(owner)
        for child in node.children:
            if child.type in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                self.redirect(child, owner)
        return owner

    def redirect(self, node: Any, owner: SimpleCommand) -> None:
        t = node.type
        if t == "herestring_redirect":
            for child in node.children:
                if child.is_named:
                    w = self.word(child)
                    owner.redirects.append(Redirect("<<<", 0, None, w.text + "\n", w.dynamic))
            return
        if t == "heredoc_redirect":
            self.heredoc(node, owner)
            return
        fd: int | None = None
        op = ""
        dest: Any = None
        for child in node.children:
            ct = child.type
            if ct == "file_descriptor":
                txt = self.text(child)
                fd = int(txt) if txt.isascii() and txt.isdigit() else None
            elif not child.is_named and ct in _REDIRECT_OPS:
                op = ct
            elif child.is_named and dest is None:
                dest = child
        if dest is None:
            return
        target = self.word(dest)
        if op in (">&", "<&") and (target.text.isdigit() or target.text == "-"):
            owner.redirects.append(Redirect(op, fd, None))  # fd duplication, not a file
            return
        owner.redirects.append(Redirect(op or ">", fd, target))

    def heredoc(self, node: Any, owner: SimpleCommand) -> None:
        quoted = False
        body_text: str | None = None
        dynamic = False
        after_pipe = False
        for child in node.children:
            ct = child.type
            if ct == "heredoc_start":
                delim = self.text(child)
                quoted = any(q in delim for q in "'\"\\")
            elif ct == "heredoc_body":
                body_text = self.text(child)
                if not quoted:
                    for sub in child.children:
                        if sub.type in ("simple_expansion", "expansion", "command_substitution", "arithmetic_expansion"):
                            dynamic = True
                            self.word(sub)  # substitutions in an unquoted here-document run
            elif ct == "file_redirect":
                self.redirect(child, owner)
            elif ct == "|":
                after_pipe = True
            elif ct == "pipeline":  # `cmd <<EOF | next`: tree-sitter-bash nests `| next` here
                self.stmt(child, owner)
            elif child.is_named and ct in _STATEMENTS:
                self.stmt(child, owner if after_pipe else None)
        owner.redirects.append(Redirect("<<", 0, None, body_text if body_text is not None else "", dynamic))

    # ------------------------------------------------------------------ words

    def words(self, node: Any) -> list[Word]:
        """Argument words; an unquoted expansion is split on $IFS (blanks unless the line sets it)."""
        t = node.type
        if t in ("simple_expansion", "expansion"):
            w = self.word(node)
            if w.dynamic:
                return [w]
            if "IFS" in self.env:
                ifs = self.env["IFS"]
                if not isinstance(ifs, Word):
                    return [Word(w.text, dynamic=True)]  # IFS computed at run time: splitting unknown
                text = w.text
                for ch in ifs.text:
                    text = text.replace(ch, " ")
                return [Word(p) for p in text.split()]
            return [Word(p) for p in w.text.split()]
        return [self.word(node)]

    def lookup(self, name: str, written: str) -> Word:
        if name in self.env:
            value = self.env[name]
            if isinstance(value, _Alt):
                self.alt_used.setdefault(name, value)
                value = value.values[0]
            return value if value is not None else Word(written, dynamic=True)
        if name == "HOME":
            return Word("~")
        return Word(written, dynamic=True)

    def word(self, node: Any) -> Word:
        t = node.type
        if t == "word":
            value, glob = unescape_unquoted(self.text(node))
            return Word(value, False, glob)
        if t == "number":
            return Word(self.text(node))
        if t == "raw_string":
            return Word(self.text(node)[1:-1])
        if t == "ansi_c_string":
            return Word(decode_ansi_c(self.text(node)[2:-1]))
        if t in ("string", "translated_string"):
            return self.string(node)
        if t == "concatenation":
            parts = [self.word(c) if c.is_named else Word(self.text(c)) for c in node.children]
            return Word("".join(p.text for p in parts), any(p.dynamic for p in parts), any(p.glob for p in parts))
        if t == "simple_expansion":
            text = self.text(node).lstrip()
            name = text[1:]
            if name and (name[0].isalpha() or name[0] == "_"):
                return self.lookup(name, text)
            return Word(text, dynamic=True)
        if t == "expansion":
            return self.expansion(node)
        if t in ("command_substitution", "process_substitution"):
            saved = dict(self.env), self.in_sub, self.cwd, self.cwd_dynamic
            self.in_sub = True
            try:
                self.block(node)
            finally:
                self.env, self.in_sub, self.cwd, self.cwd_dynamic = saved
            return Word(self.text(node).strip(), dynamic=True)
        if t in ("arithmetic_expansion",):
            self.block(node)
            return Word(self.text(node).strip(), dynamic=True)
        if t == "brace_expression":
            return Word(self.text(node), glob=True)
        if t in ("extglob_pattern", "regex", "variable_name", "test_operator", "special_variable_name", "heredoc_start"):
            return Word(self.text(node))
        # anything else (ERROR nodes, test expressions): run nested substitutions, keep text
        for child in node.children:
            if child.is_named:
                if child.type in _STATEMENTS:
                    self.stmt(child)
                else:
                    self.word(child)
        return Word(self.text(node), dynamic=True)

    def expansion(self, node: Any) -> Word:
        text = self.text(node).lstrip()
        names = [c for c in node.children if c.is_named]
        if len(names) == 1 and names[0].type == "variable_name" and text == "${" + self.text(names[0]) + "}":
            return self.lookup(self.text(names[0]), text)
        for child in names:  # ${X:-$(cmd)} runs cmd
            if child.type not in ("variable_name", "word"):
                self.word(child)
        return Word(text, dynamic=True)

    def string(self, node: Any) -> Word:
        out: list[str] = []
        dynamic = False
        children = node.children
        pos = node.start_byte + (2 if node.type == "translated_string" else 1)
        end = node.end_byte - 1
        for child in children:
            if not child.is_named:
                continue
            if child.start_byte > pos:
                out.append(unescape_double(self.src[pos : child.start_byte].decode("utf-8", "replace")))
            ct = child.type
            if ct == "string_content":
                out.append(unescape_double(self.text(child)))
            else:
                raw = self.text(child)
                lead = raw[: len(raw) - len(raw.lstrip())]
                out.append(lead)
                w = self.word(child)
                out.append(w.text)
                dynamic = dynamic or w.dynamic
            pos = child.end_byte
        if end > pos:
            out.append(unescape_double(self.src[pos:end].decode("utf-8", "replace")))
        return Word("".join(out), dynamic)


def split_plain(line: str) -> list[str] | None:
    """Words of a line with no shell syntax, or None when it needs the parser (for tests)."""
    if _PLAIN.match(line):
        return line.split()
    return None
