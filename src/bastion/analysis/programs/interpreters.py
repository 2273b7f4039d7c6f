"""Interpreters: `python -c`, `node -e`, `ruby -e`, `perl -e`, `php -r` one-liners.

When the code is a literal it is read for what it does: Python is parsed with `ast`
(calls to os/shutil/pathlib/subprocess/open with literal arguments); Node, Ruby,
Perl and PHP are scanned with fixed, linear patterns for the calls that delete,
read or write files and that run shell commands (whose strings are parsed again).
Code that executes computed code (`exec(x)`, `eval(y)`, a non-literal
`os.system`) is opaque. Scripts (`python manage.py flush`) are judged by their
sub-command verbs like any CLI.
"""

from __future__ import annotations

import ast
import re
from bastion.analysis.emit import Emitter
from bastion.analysis.flags import OptionSpec, parse_args
from bastion.analysis.programs import HANDLERS, register
from bastion.analysis.programs.generic import classify_command, set_verb
from bastion.analysis.verbs import classify_word, tokens
from bastion.analysis.words import Word
from bastion.analysis.wrappers import Invocation

MAX_CODE_CHARS = 50_000

# --------------------------------------------------------------------------- python


def _const_str(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return None
    return None


def _dotted(node: ast.AST, aliases: dict[str, str] | None = None) -> str:
    """`os.path.join` for an attribute chain; `__import__('os').system` is `os.system`,
    `getattr(os, 'system')` is `os.system`; names bound by imports are resolved."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append((aliases or {}).get(node.id, node.id))
    elif isinstance(node, ast.Call):
        fn = _dotted(node.func, aliases)
        first = _const_str(node.args[0]) if node.args else None
        if fn in ("__import__", "importlib.import_module", "builtins.__import__") and first:
            parts.append(first)
        elif fn == "getattr" and len(node.args) >= 2 and _const_str(node.args[1]):
            parts.append(_dotted(node.args[0], aliases) + "." + str(_const_str(node.args[1])))
        else:
            parts.append(fn + "()")
    return ".".join(reversed(parts))


def _import_aliases(tree: ast.AST) -> dict[str, str]:
    """`import os as o` -> {o: os}; `from os import system as s` -> {s: os.system}."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


_PY_DELETE = {"remove": False, "unlink": False, "rmdir": False, "removedirs": True, "rmtree": True}
_PY_SHELL = {"system", "popen", "getoutput", "getstatusoutput"}
_PY_SUBPROCESS = {"run", "call", "check_call", "check_output", "Popen", "spawn", "spawnl", "spawnlp", "spawnv", "spawnvp", "execl", "execlp", "execv", "execvp", "execve"}
_PY_HTTP = {"get": "GET", "post": "POST", "put": "PUT", "delete": "DELETE", "patch": "PATCH", "head": "HEAD", "request": None, "urlopen": "GET", "urlretrieve": "GET"}


def _py_path_arg(call: ast.Call) -> str | None:
    if call.args:
        return _const_str(call.args[0])
    for kw in call.keywords:
        if kw.arg in ("path", "file", "src", "name"):
            return _const_str(kw.value)
    return None


def _python(em: Emitter, code: str) -> None:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        em.opaque("python code does not parse")
        return
    from bastion.analysis.derive import process_command
    from bastion.analysis.shell import SimpleCommand

    aliases = _import_aliases(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func, aliases)
        if "()" in name and (name.startswith(("getattr()", "__import__()", "importlib.import_module()")) or ".__dict__" in name or "globals()" in name or "vars()" in name):
            em.opaque("python calls a function chosen at run time")
            continue
        if name in ("getattr", "__import__", "importlib.import_module") and node.args and (len(node.args) < 2 and name != "getattr" and _const_str(node.args[0]) is None or name == "getattr" and len(node.args) >= 2 and _const_str(node.args[1]) is None):
            em.opaque("python resolves a name at run time")
            continue
        last = name.rsplit(".", 1)[-1]
        head = name.split(".", 1)[0]
        if last in ("exec", "eval", "compile", "__import__") and head in ("exec", "eval", "compile", "__import__", "builtins"):
            text = _const_str(node.args[0]) if node.args else None
            if text is None:
                em.opaque("python runs computed code")
            elif last in ("exec", "eval"):
                em.code("python", text, via="python exec")
            continue
        if last in _PY_DELETE and (head in ("os", "shutil", "pathlib") or last == "rmtree"):
            path = _py_path_arg(node)
            recursive = _PY_DELETE[last]
            # rmtree neither prompts nor stops at write-protected files: it is forced
            if path is None:
                em.emit("filesystem.delete", None, {"dynamic": True, "recursive": recursive, "force": recursive, "language": "python"})
            else:
                em.path("filesystem.delete", path, recursive=recursive, force=recursive, language="python")
            if recursive:
                em.spawn["destructive"] = True
            continue
        if last in ("unlink", "rmdir") and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
            inner = node.func.value
            path = _py_path_arg(inner) if _dotted(inner.func).endswith("Path") else None
            if path:
                em.path("filesystem.delete", path, language="python")
            else:
                em.emit("filesystem.delete", None, {"dynamic": True, "language": "python"})
            continue
        if last in ("read_text", "read_bytes", "write_text", "write_bytes") and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
            path = _py_path_arg(node.func.value)
            if path:
                em.path("filesystem.read" if last.startswith("read") else "filesystem.write", path, language="python")
            continue
        if name in ("open", "io.open", "builtins.open"):
            path = _py_path_arg(node)
            mode = _const_str(node.args[1]) if len(node.args) > 1 else next((_const_str(k.value) for k in node.keywords if k.arg == "mode"), "r")
            if path:
                write = bool(mode) and any(c in mode for c in "wax+")
                em.path("filesystem.write" if write else "filesystem.read", path, language="python")
            continue
        if head in ("shutil", "os") and last in ("move", "rename", "replace", "copy", "copy2", "copyfile", "copytree", "chmod", "chown"):
            src = _py_path_arg(node)
            dst = _const_str(node.args[1]) if len(node.args) > 1 else None
            if last in ("chmod", "chown") and src:
                em.path("filesystem.chmod", src, language="python")
            elif last in ("move", "rename", "replace") and src:
                em.path("filesystem.move", src, destination=dst, language="python")
            elif src:
                em.path("filesystem.read", src, language="python")
                if dst:
                    em.path("filesystem.write", dst, language="python")
            continue
        if head in ("os", "commands", "subprocess") and last in _PY_SHELL:
            text = _const_str(node.args[0]) if node.args else None
            if text is None:
                em.opaque("python runs a computed shell command")
            else:
                em.shell(text, via="python " + last)
            continue
        if head in ("subprocess", "os") and last in _PY_SUBPROCESS:
            arg = node.args[0] if node.args else None
            shell = any(k.arg == "shell" and isinstance(k.value, ast.Constant) and k.value.value is True for k in node.keywords)
            text = _const_str(arg) if arg is not None else None
            if isinstance(arg, (ast.List, ast.Tuple)):
                items = [_const_str(e) for e in arg.elts]
                if items and all(i is not None for i in items):
                    words = tuple(Word(i) for i in items)  # type: ignore[arg-type]
                    facts = process_command(em.ctx, SimpleCommand(words, " ".join(items)), depth=em.depth + 1, remote=em.remote, via=em.via + ("python subprocess",))  # type: ignore[arg-type]
                    if facts and facts.get("destructive"):
                        em.spawn["destructive"] = True
                else:
                    em.opaque("python runs a computed command")
            elif text is not None:  # a string runs through a shell (shell=True) or is split by the OS
                em.shell(text, via="python subprocess" + (" shell=True" if shell else ""))
            else:
                em.opaque("python runs a computed command")
            continue
        if last in _PY_HTTP and head in ("requests", "httpx", "urllib", "urllib2", "session", "client", "aiohttp"):
            url = _const_str(node.args[0]) if node.args else None
            method = _PY_HTTP[last] or "GET"
            if last == "request" and node.args:
                method = (_const_str(node.args[0]) or "GET").upper()
                url = _const_str(node.args[1]) if len(node.args) > 1 else None
            if url:
                upload = any(k.arg in ("data", "json", "files", "content") for k in node.keywords)
                em.url(url, method=method, upload=upload, language="python")
            continue
    _destructive_calls(em, [(_dotted(n.func, aliases)) for n in ast.walk(tree) if isinstance(n, ast.Call)], strict=True)


# --------------------------------------------------------------------------- js / ruby / perl / php (pattern scans)

_STR = r"""(?:'((?:[^'\\]|\\.){0,2000})'|"((?:[^"\\]|\\.){0,2000})"|`((?:[^`\\$]|\\.){0,2000})`)"""
_JS_DELETE = re.compile(r"\b(?:rmSync|rmdirSync|unlinkSync|rm|rmdir|unlink|remove|removeSync|emptyDir|emptyDirSync)\s*\(\s*" + _STR + r"([^)]{0,200})")
_JS_READ = re.compile(r"\b(?:readFileSync|readFile|createReadStream)\s*\(\s*" + _STR)
_JS_WRITE = re.compile(r"\b(?:writeFileSync|writeFile|appendFileSync|appendFile|createWriteStream)\s*\(\s*" + _STR)
_JS_EXEC = re.compile(r"\b(?:execSync|exec|execFileSync|execFile|spawnSync|spawn|\$)\s*\(\s*" + _STR + r"(\s*,\s*\[[^\]]{0,500}\])?")
_JS_DYNAMIC = re.compile(r"\b(?:eval|Function|execSync|exec|spawnSync|spawn|execFileSync)\s*\(\s*(?!['\"`])")
_JS_COMPUTED_CALL = re.compile(r"\]\s*\(")  # obj['exec'](...): a member chosen by a string
_JS_FETCH = re.compile(r"\b(?:fetch|axios(?:\.(?:get|post|put|delete|patch))?|got)\s*\(\s*" + _STR)

_RB_DELETE = re.compile(r"\b(?:FileUtils\.(?:rm_rf|rm_r|rm|rm_f|remove_dir|remove_entry|remove_entry_secure|rmdir|remove)|File\.(?:delete|unlink)|Dir\.(?:delete|rmdir|unlink))\s*\(?\s*" + _STR)
_RB_READ = re.compile(r"\b(?:File\.(?:read|readlines|open|foreach)|IO\.read)\s*\(?\s*" + _STR)
_RB_EXEC = re.compile(r"\b(?:system|exec|spawn|IO\.popen|Open3\.\w+)\s*\(?\s*" + _STR + "|%x[({\\[]([^)}\\]]{0,2000})[)}\\]]|`([^`]{0,2000})`")
_RB_DYNAMIC = re.compile(r"\b(?:eval|instance_eval|class_eval|instance_exec|module_eval|send|public_send|__send__|const_get|system|exec)\s*\(?\s*(?!['\"`%])[A-Za-z_@$:]")

_PL_DELETE = re.compile(r"\b(?:unlink|rmdir|rmtree|remove_tree)\s*\(?\s*(?:glob\s*\(?\s*)?" + _STR)
_PL_EXEC = re.compile(r"\b(?:system|exec|qx)\s*[({]?\s*" + _STR + "|`([^`]{0,2000})`")
_PL_READ = re.compile(r"""\bopen\s*\(?\s*[\w$]+\s*,\s*(?:'<'\s*,\s*)?['"]<?\s*([^'"]{1,500})['"]""")
_PL_DYNAMIC = re.compile(r"\b(?:eval|system|exec)\s*\(?\s*\$")

_PHP_DELETE = re.compile(r"\b(?:unlink|rmdir)\s*\(\s*" + _STR)
_PHP_EXEC = re.compile(r"\b(?:shell_exec|system|exec|passthru|popen|proc_open)\s*\(\s*" + _STR + "|`([^`]{0,2000})`")
_PHP_DYNAMIC = re.compile(r"\b(?:eval|assert|shell_exec|system|exec|passthru)\s*\(\s*\$")

_METHOD_CALL = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]{1,60})\s*\(")
_RUBY_METHOD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]{1,60}[!?]?)")  # Ruby calls need no parentheses


def _first_group(m: re.Match[str]) -> str | None:
    for g in m.groups():
        if g is not None:
            return g
    return None


def _destructive_calls(em: Emitter, names: list[str], strict: bool = False) -> None:
    """Method names that are destructive verbs (`client.deleteIndex(`, `Project.destroy_all`)."""
    found: list[str] = []
    for name in names:
        last = name.rsplit(".", 1)[-1]
        toks = tokens(last)
        if not toks:
            continue
        if strict and toks[0] not in ("delete", "destroy", "drop", "purge", "truncate", "flush", "flushall", "flushdb", "wipe", "terminate"):
            continue
        if not strict and toks[0] not in ("delete", "destroy", "drop", "purge", "truncate", "flush", "flushall", "flushdb", "wipe", "terminate") and not (toks[0] in ("remove", "clear") and len(toks) > 1):
            continue
        verb, cls = classify_word(last)
        if cls == "destructive" and last not in found:
            found.append(last)
    if found:
        em.spawn["destructive"] = True
        em.spawn["destructive_calls"] = found[:8]
        em.spawn.setdefault("verb", tokens(found[0])[0])
        em.spawn.setdefault("verb_class", "destructive")


def _scan(em: Emitter, code: str, language: str) -> None:
    if language == "node":
        delete, read, write, execs, dynamic = _JS_DELETE, _JS_READ, _JS_WRITE, _JS_EXEC, _JS_DYNAMIC
    elif language == "ruby":
        delete, read, write, execs, dynamic = _RB_DELETE, _RB_READ, None, _RB_EXEC, _RB_DYNAMIC
    elif language == "perl":
        delete, read, write, execs, dynamic = _PL_DELETE, _PL_READ, None, _PL_EXEC, _PL_DYNAMIC
    else:
        delete, read, write, execs, dynamic = _PHP_DELETE, None, None, _PHP_EXEC, _PHP_DYNAMIC
    for m in delete.finditer(code):
        path = _first_group(m)
        tail = m.group(0)
        recursive = "recursive" in tail or "rm_rf" in tail or "rm_r" in tail or "rmtree" in tail or "remove_tree" in tail or "remove_dir" in tail
        force = "force" in tail or "rm_rf" in tail or "rmtree" in tail or "remove_tree" in tail or (language == "node" and recursive and "rmSync" not in tail)
        if path:
            em.path("filesystem.delete", path, recursive=recursive, force=force, language=language)
            if recursive:
                em.spawn["destructive"] = True
    if read is not None:
        for m in read.finditer(code):
            path = _first_group(m)
            if path:
                em.path("filesystem.read", path, language=language)
    if write is not None:
        for m in write.finditer(code):
            path = _first_group(m)
            if path:
                em.path("filesystem.write", path, language=language)
    for m in execs.finditer(code):
        groups = [g for g in m.groups() if g is not None]
        if not groups:
            continue
        text = groups[0]
        if len(groups) > 1 and groups[1].strip().startswith(","):  # spawn('cmd', ['a', 'b'])
            items = re.findall(r"""['"]([^'"]{0,500})['"]""", groups[1])
            text = " ".join([text] + items)
        em.shell(text, via=f"{language} exec")
    if dynamic.search(code):
        em.opaque(f"{language} runs computed code")
    if language == "node" and _JS_COMPUTED_CALL.search(code) and ("require(" in code or "import(" in code or "process." in code or "global" in code):
        em.opaque("node calls a member chosen at run time")
    if language == "node" and "child_process" in code and not execs.search(code):
        em.opaque("node runs a child process in a way that is not analysed")
    if language == "node":
        for m in _JS_FETCH.finditer(code):
            url = _first_group(m)
            if url:
                em.url(url, method="POST" if "method" in code and "POST" in code else "GET", language=language)
    _destructive_calls(em, (_RUBY_METHOD if language == "ruby" else _METHOD_CALL).findall(code))


def analyze_code(em: Emitter, language: str, text: str, *, dynamic: bool = False, via: str = "") -> None:
    """Derive what a literal program text does (called through Emitter.code)."""
    em.spawn["inline"] = True
    if len(text) > MAX_CODE_CHARS:
        em.opaque(f"{language} code too long to analyse")
        return
    if language == "python":
        _python(em, text)
    elif language in ("node", "ruby", "perl", "php"):
        _scan(em, text, language)
    else:
        em.opaque(f"{language} code is not analysed")
        return
    if dynamic:
        em.spawn["dynamic_code"] = True


# --------------------------------------------------------------------------- interpreter programs

_LANG = {
    "python": "python", "python2": "python", "python3": "python", "pypy": "python", "pypy3": "python", "py": "python",
    "node": "node", "nodejs": "node", "deno": "node", "bun": "node", "tsx": "node", "ts-node": "node",
    "ruby": "ruby", "jruby": "ruby", "irb": "ruby", "rails-runner": "ruby", "perl": "perl", "perl5": "perl", "php": "php",
}  # fmt: skip
_CODE_FLAGS = {
    "python": ("-c",),
    "node": ("-e", "--eval", "-p", "--print", "eval"),
    "ruby": ("-e",),
    "perl": ("-e", "-E"),
    "php": ("-r",),
}
_PY_SPEC = OptionSpec.make(short_values="WXQ", posix=True)
_NODE_SPEC = OptionSpec.make(short_values="r", long_values=["require", "import", "loader", "env-file", "input-type", "conditions"], posix=True)


def _interpreter(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    lang = _LANG.get(name) or _LANG.get(name.rstrip("0123456789."), "python")
    args = list(inv.args)
    flags = _CODE_FLAGS.get(lang, ())
    em.spawn["interpreter"] = lang
    # inline code: -c CODE, -e CODE (also in clusters like perl -ne, ruby -pe)
    for i, w in enumerate(args):
        t = w.text
        cluster = t.startswith("-") and not t.startswith("--") and len(t) > 2 and lang in ("perl", "ruby") and t[-1] in "eE"
        if t in flags or cluster or (lang == "python" and t.startswith("-c") and len(t) > 2):
            if lang == "python" and t.startswith("-c") and len(t) > 2:
                code = Word(t[2:], w.dynamic)
            elif i + 1 < len(args):
                code = args[i + 1]
            else:
                break
            set_verb(em, "exec", "change", [])
            em.code(lang, code.text, dynamic=code.dynamic, via=f"{name} {t}")
            _operand_files(em, args[i + 2 :])
            return
        if not t.startswith("-") or t == "-":
            break
    parsed = parse_args(args, _PY_SPEC if lang == "python" else _NODE_SPEC)
    for i, w in enumerate(args):
        if w.text == "-m" and i + 1 < len(args) and lang == "python":
            module = args[i + 1].text
            rest = args[i + 2 :]
            sub = HANDLERS.get(module.split(".")[0].lower())
            if module in ("pip", "pip3", "venv", "ensurepip", "http.server", "json.tool", "pytest", "unittest", "mypy", "black", "ruff", "isort", "pylint", "flake8", "coverage", "build", "twine", "django", "poetry", "uv") and sub is not None:
                sub(Invocation(module, module, tuple(rest), inv.wrappers, False, inv.stdin_args, inv.privileged, inv.run_as, inv.remote, inv.env), em)
                return
            classify_command(Invocation(module, module, tuple(rest)), em)
            return
    if parsed.rest:
        script = parsed.rest[0]
        if script.dynamic:  # `python <(curl URL)`
            em.opaque(f"{lang} runs a script computed at run time")
        if script.text not in ("-",):
            known, content = em.written_script(script)
            if known:  # `cat > x.py <<EOF ... EOF; python x.py`
                if content is None:
                    em.opaque(f"{lang} runs a file written at run time")
                else:
                    em.code(lang, content, via=f"{name} {script.text}")
            em.path("filesystem.read", script, script=True)
            em.spawn["runs_script"] = True
            classify_command(Invocation(script.text, script.text, tuple(parsed.rest[1:])), em)
            return
    # code on stdin: here-document, here-string, or a pipe
    from bastion.analysis.programs.shells import stdin_script

    text, producer, known = stdin_script(em)
    if known and text is not None:
        set_verb(em, "exec", "change", [])
        em.code(lang, text, via=f"{name} <{producer}")
    elif producer is not None:
        em.opaque(f"{lang} code piped in from {producer}")
    elif any(a.text in ("-V", "--version", "-h", "--help") for a in args):
        set_verb(em, "version", "read", [])
    else:
        set_verb(em, "repl", "change", [])


def _operand_files(em: Emitter, words: list[Word]) -> None:
    """Files after the code of perl -ne/ruby -ne style one-liners are read."""
    for w in words:
        if not w.text.startswith("-"):
            em.path("filesystem.read", w)


for _name in _LANG:
    register(_name)(_interpreter)


def detect_language(program: str) -> str | None:
    return _LANG.get(program.lower())
