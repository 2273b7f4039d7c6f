"""Shell lines -> simple commands: structure, words, variables, here-documents, limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bastion.analysis import shell
from bastion.analysis.shell import parse
from bastion.analysis.wrappers import unwrap

GOLDENS = Path("/work/shared/corpora/dcg_go/dcg_go_parse_goldens.jsonl")


def argvs(line: str) -> list[list[str]]:
    return [[w.text for w in c.argv] for c in parse(line).commands]


@pytest.mark.parametrize(
    "line, expected",
    [
        ("echo a && echo b || echo c; echo d", [["echo", "a"], ["echo", "b"], ["echo", "c"], ["echo", "d"]]),
        ("a | b | c", [["a"], ["b"], ["c"]]),
        ("(cd /x; rm -rf y)", [["cd", "/x"], ["rm", "-rf", "y"]]),
        ("{ a; b; }", [["a"], ["b"]]),
        ("echo $(cat .env) `id`", [["cat", ".env"], ["id"], ["echo", "$(cat .env)", "`id`"]]),
        ("diff <(sort a) <(sort b)", [["sort", "a"], ["sort", "b"], ["diff", "<(sort a)", "<(sort b)"]]),
        ("if test -f x; then rm x; else touch x; fi", [["test", "-f", "x"], ["rm", "x"], ["touch", "x"]]),
        ("while read l; do echo $l; done < f", [["read", "l"], ["echo", "$l"]]),
        ("case $x in a) rm a;; b) rm b;; esac", [["rm", "a"], ["rm", "b"]]),
        ("f() { rm -rf /; }", [["rm", "-rf", "/"]]),
        ("! git diff --quiet", [["git", "diff", "--quiet"]]),
        ("[[ -f $(which rm) ]] && echo ok", [["which", "rm"], ["echo", "ok"]]),
        ("sleep 1 &", [["sleep", "1"]]),
    ],
)
def test_every_simple_command_is_found(line, expected):
    assert argvs(line) == expected


@pytest.mark.parametrize(
    "line, argv",
    [
        ("\\rm -rf /", ["rm", "-rf", "/"]),
        ('r""m -rf /', ["rm", "-rf", "/"]),
        ("'r'm -rf /", ["rm", "-rf", "/"]),
        ("$'\\x72\\x6d' -rf /", ["rm", "-rf", "/"]),
        ("$'\\162\\155' -rf /", ["rm", "-rf", "/"]),
        ('echo "a \\"b\\" \\$c"', ["echo", 'a "b" $c']),
        ("echo 'a'\"b\"c", ["echo", "abc"]),
        ("ls /path/with\\ space/file", ["ls", "/path/with space/file"]),
        ('echo "$HOME/x"', ["echo", "~/x"]),
        ("git reset \\\n --hard", ["git", "reset", "--hard"]),
    ],
)
def test_words_are_unquoted_like_bash(line, argv):
    assert argvs(line) == [argv]


def test_unresolved_expansions_are_dynamic_and_keep_their_text():
    (cmd,) = parse('rm -rf "$TARGET"/x').commands
    assert cmd.argv[2].text == "$TARGET/x" and cmd.argv[2].dynamic
    (cmd,) = parse("rm -rf ${X:-/}").commands
    assert cmd.argv[2].dynamic


@pytest.mark.parametrize(
    "line, expected",
    [
        ("DIR=/; rm -rf $DIR", [["rm", "-rf", "/"]]),
        ("DIR=/tmp; DIR=/; rm -rf $DIR", [["rm", "-rf", "/"]]),
        ("DIR=/tmp || DIR=/; rm -rf $DIR", [["rm", "-rf", "/tmp"], ["rm", "-rf", "/"]]),
        ("x=rm; $x -rf /", [["rm", "-rf", "/"]]),
        ('CMD="rm -rf"; $CMD /', [["rm", "-rf", "/"]]),
        ("export T=/srv; rm -r ${T}", [["rm", "-r", "/srv"]]),
        ("A=/a; A+=/b; ls $A", [["ls", "/a/b"]]),
        ("for f in a b; do rm $f; done", [["rm", "a"], ["rm", "b"]]),
        ("(D=/x); rm -r $D", [["rm", "-r", "$D"]]),  # a subshell's assignment does not leak
        ("X=1 echo $X", [["echo", "$X"]]),  # a prefix assignment is not expanded in its own command
    ],
)
def test_simple_variables_are_resolved(line, expected):
    assert argvs(line) == expected


def test_command_substitution_result_is_unknown():
    (cmd,) = [c for c in parse("D=$(pwd); rm -rf $D").commands if c.argv[0].text == "rm"]
    assert cmd.argv[2].dynamic


def test_redirections_and_here_documents():
    (cmd,) = parse("cat < in.txt > out.txt 2>&1 >> log").commands
    ops = [(r.op, r.target.text if r.target else None) for r in cmd.redirects]
    assert ops == [("<", "in.txt"), (">", "out.txt"), (">&", None), (">>", "log")]
    cat, bash = parse("cat <<'EOF' | bash\nrm -rf /\nEOF\n").commands
    assert cat.stdin_text == "rm -rf /\n" and bash.upstream is cat
    (c,) = parse("bash <<< 'git reset --hard'").commands
    assert c.stdin_text == "git reset --hard\n"


def test_unquoted_here_document_substitutions_run():
    names = [c.argv[0].text for c in parse("cat <<EOF\n$(rm -rf /tmp/x)\nEOF\n").commands]
    assert "rm" in names


def test_cd_sets_the_working_directory_of_later_commands():
    cd, cat = parse("cd config && cat .env").commands
    assert cat.cwd == "config" and cd.cwd is None
    cmds = parse("(cd /srv && ls); cat x").commands
    assert cmds[1].cwd == "/srv" and cmds[2].cwd is None


def test_fork_bomb_is_recognised():
    assert parse(":(){ :|:& };:").recursive_functions == [":"]
    assert parse("f() { echo; }; f").recursive_functions == []


def test_parse_errors_are_reported_not_raised():
    for line in ['echo "unterminated', "ls |", "|", "((", "if then fi", "\x00\x01", "$(", "`"]:
        r = parse(line)
        assert r.parse_error, line


def test_inputs_that_crash_tree_sitter_bash_are_parsed_safely():
    """tree-sitter-bash 0.25 segfaults on `{` + some astral code points; the parser only sees ASCII."""
    for line in ["{\U000d6963", "x\U000345f1\ufb17{\U000c3353\U000d827a", "{}{\U000d0e50(", "\U0007b5ab{x{\U000edce3"]:
        parse(line)  # the process must survive
    (cmd,) = parse('cat "naïve café.txt" > 你好.txt').commands
    assert cmd.argv[1].text == "naïve café.txt" and cmd.redirects[0].target.text == "你好.txt"


def test_limits():
    assert parse("x" * (shell.MAX_COMMAND_CHARS + 1)).limit
    assert parse("( " * 500 + "ls" + " )" * 500).limit
    assert parse("echo $(" * 300 + "ls" + ")" * 300).limit


def test_arithmetic_that_hides_a_command_is_a_parse_error():
    assert parse("((rm -rf /))").parse_error
    assert parse("((echo a); rm -rf /)").parse_error


def test_plain_fast_path_matches_the_parser():
    for line in ["git push --force origin main", "ls -la /tmp", "FOO=1 BAR=2 make test", "rm -rf ~/x", "a=b"]:
        fast = parse(line)
        slow = shell._Walker(line.encode(), {})
        tree = shell._get_parser().parse(line.encode())
        slow.stmt(tree.root_node)
        assert [[w.text for w in c.argv] for c in fast.commands] == [[w.text for w in c.argv] for c in slow.commands]


@pytest.mark.skipif(not GOLDENS.exists(), reason="corpus not available")
def test_dcg_go_parse_goldens():
    """The Go port's parser goldens: the same programs and operands, in order."""
    for row in map(json.loads, GOLDENS.read_text().splitlines()):
        result = parse(row["input"])
        got = []
        for c in result.commands:
            inv = unwrap(c.argv, c.assignments)
            if inv is None:
                continue
            got.append([inv.written] + [w.text for w in inv.args if not w.text.startswith("-")])
        want = [[c["raw_name"]] + c.get("args", []) for c in row["expected_parse"]["commands"]]
        if row["expected_parse"].get("has_error") or row["input"].count('"') % 2:
            # broken input: it must be flagged (so it is opaque), and no program may be missed
            assert result.parse_error, row["input"]
            assert {w[0] for w in want} <= {g[0] for g in got}, row["input"]
        else:
            assert got == want, row["input"]
