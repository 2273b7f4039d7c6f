"""Matcher semantics: globs, path globs, regex, literals, numbers, lists, existence."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.compile.matchers import MISSING, compile_matcher
from bastion.compile.patterns import PatternError, glob_to_regex, make_pattern


def m(spec, field="args.x"):
    return compile_matcher(spec, field).test


@pytest.mark.parametrize(
    "glob, path, expected",
    [
        (".env", "/repo/.env", True),
        (".env", "/repo/.env.local", False),
        (".env.*", "config/.env.production", True),
        ("*.pem", "a/b/c.pem", True),
        ("**/.ssh/**", "/home/d/.ssh/id_rsa", True),
        ("**/.ssh/**", "/home/d/ssh/id_rsa", False),
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/sub/a.py", False),
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/x/y/a.py", True),
        ("/srv/data/**", "/srv/data/d1/f.txt", True),
        ("/srv/data/**", "/srv/database", False),
        ("{a,b}/*.txt", "b/x.txt", True),
        ("[!.]*.txt", "x.txt", True),
    ],
)
def test_path_globs(glob, path, expected):
    assert m({"path": glob}, "target")(path) is expected


def test_plain_globs_cross_slashes_and_literals_are_exact():
    assert m("git push *", "target")("git push --force origin main")
    assert not m("git push", "target")("git push origin")
    assert m({"prefix": "git "}, "target")("git status")
    assert m({"suffix": ".py"}, "target")("a.py")
    assert m({"contains": "DROP"}, "target")("x DROP y")


def test_ignore_case():
    t = m({"path": ".env", "ignore_case": True}, "target")
    assert t("/x/.ENV") and t("/x/.env")
    assert not m({"path": ".env"}, "target")("/x/.ENV")


def test_regex_is_a_search_and_linear_time():
    assert m({"regex": r"\bdrop\s+database\b"}, "target")("please drop  database x")
    evil = m({"regex": "(a+)+$"}, "target")  # catastrophic for a backtracking engine, linear in RE2
    assert not evil("a" * 50_000 + "!")


@pytest.mark.parametrize(
    "spec, value, expected",
    [
        ("> 10000", 20000, True),
        ("> 10000", "20000", True),
        ("> 10000", 10000, False),
        (">= 10240", 10240, True),
        ("< 5", 4.5, True),
        ("!= 3", 4, True),
        ({"gt": 1, "lte": 3}, 3, True),
        ({"gt": 1, "lte": 3}, 4, False),
        ("> 10", "lots", False),
        ("> 10", True, False),
        ("> 10", MISSING, False),
    ],
)
def test_numeric_comparisons(spec, value, expected):
    assert m(spec)(value) is expected


def test_membership_lists_and_negation():
    assert m(["a", "b"])("b") and not m(["a", "b"])("c")
    assert m({"in": ["a", "b"]})("a")
    assert m({"not_in": ["a", "b"]})("c") and not m({"not_in": ["a"]})("a")
    # list-valued fields (tags): any element matches; negation means no element matches
    assert m("phi-cleared")(["x", "phi-cleared"])
    assert not m({"not_in": ["phi-cleared"]})(["x", "phi-cleared"])
    assert m({"not": "admin"})(["dev"])
    assert m({"exists": True})("") and m({"exists": False})(MISSING) and not m({"exists": True})(None)
    assert m(True)(True) and not m(True)(1)
    assert m(None)(MISSING)
    assert m({"all": ["a*", "*z"]})("abcz")
    assert m({"any": ["> 5", "small"]})("small")


@pytest.mark.parametrize("bad", [{"regx": "x"}, {"in": "notalist"}, [], {"gt": "x"}, {"exists": "yes"}, {"ignore_case": 1, "glob": "a"}])
def test_bad_matchers_raise_clear_errors(bad):
    with pytest.raises(ValueError):
        compile_matcher(bad, "args.x")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_glob_translation_never_crashes_unexpectedly(glob):
    for kind in ("glob", "path"):
        try:
            p = make_pattern(kind, glob)
        except PatternError:
            continue
        p.compile().search("some/path/name.txt")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="*?[]{},\\", blacklist_categories=("Cs",)), max_size=30))
def test_a_glob_without_metacharacters_matches_itself(text):
    assert make_pattern("glob", text).compile().search(text)
    if text and "/" not in text:
        assert make_pattern("path", text).compile().search("dir/" + text)


def test_glob_regex_shapes():
    assert glob_to_regex("**/x", path=True) == "(?:.*/)?x"
    assert glob_to_regex("a*b", path=True) == "a[^/]*b"
    assert glob_to_regex("a*b", path=False) == "a.*b"


_PIECES = st.sampled_from(["a", "b", "/", ".", "-", "é", "*", "?", "**", "[ab]", "{a,b}", "[!a]", "x", "\u2603"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_PIECES, min_size=1, max_size=6).map("".join), min_size=1, max_size=3),
    st.sampled_from(["glob", "path", "regex", "contains", "prefix", "suffix"]),
    st.booleans(),
    st.lists(st.text(alphabet="ab/.-é\u2603xAB", max_size=12), min_size=1, max_size=5),
)
def test_pattern_matchers_agree_with_re2_search(sources, kind, ignore_case, values):
    """A pattern matcher answers exactly what re2.search over each of its patterns does
    (it tests them all in one RE2 set, on the UTF-8 bytes, without match objects)."""
    try:
        pats = [make_pattern(kind, s, ignore_case) for s in sources]
    except PatternError:
        return
    spec = {kind: sources, "ignore_case": ignore_case}
    test = m(spec, "target")
    for v in values:
        expected = any(p.compile().search(v) is not None for p in pats)
        assert test(v) is expected, (spec, v)


def test_pattern_matchers_on_numbers_lists_and_odd_values():
    test = m({"regex": r"^4\d\d$"}, "args.status")
    assert test(404) and test("404") and not test(200) and not test(4.5)
    assert test(["200", 403]) and not test([200, 301])
    assert not test(None) and not test(MISSING) and not test(True) and not test({"a": "404"})
    with pytest.raises(UnicodeEncodeError):  # not UTF-8: the engine fails closed
        test("4\ud8000")
