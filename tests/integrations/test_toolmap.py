"""The tool map: every file-reading tool is a filesystem.read; unknown tools are still governed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.errors import PolicyError
from bastion.integrations.toolmap import MAX_ACTIONS, ToolMap, normalise_name, split_mcp_name

MAP = ToolMap.builtin()


def caps(tool, args, m=MAP):
    return [(a.action["capability"], a.action.get("target")) for a in m.map(tool, args)]


@pytest.mark.parametrize(
    "tool,args",
    [
        ("Read", {"file_path": "/repo/.env"}),
        ("read_file", {"path": "/repo/.env"}),
        ("read_text_file", {"path": "/repo/.env"}),  # @modelcontextprotocol/server-filesystem
        ("mcp__filesystem__read_text_file", {"path": "/repo/.env"}),  # the same, through Claude Code
        ("READ-FILE", {"path": "/repo/.env"}),
        ("view_file", {"filename": "/repo/.env"}),
        ("some_unknown_reader", {"path": "/repo/.env"}),  # unknown tool: the path argument still counts
    ],
)
def test_every_file_reading_tool_reads_the_file(tool, args):
    assert ("filesystem.read", "/repo/.env") in caps(tool, args)


def test_tool_arguments_become_action_args_and_context_names_the_tool():
    (m,) = MAP.map("mcp__fs__write_file", {"path": "a.txt", "content": "hi"}, base={"agent": {"id": "a1"}, "environment": "dev"})
    a = m.action
    assert a["capability"] == "filesystem.write" and a["target"] == "a.txt"
    assert a["args"] == {"path": "a.txt", "content": "hi"}
    assert a["context"] == {"tool": "mcp__fs__write_file", "mcp_server": "fs", "mcp_tool": "write_file"}
    assert a["agent"] == {"id": "a1"} and a["environment"] == "dev"


def test_list_arguments_make_one_action_per_item():
    assert caps("read_multiple_files", {"paths": ["a", "b", ".env"]}) == [
        ("filesystem.read", "a"), ("filesystem.read", "b"), ("filesystem.read", ".env")]


def test_move_is_a_move_and_a_write():
    assert caps("move_file", {"source": "a", "destination": "b"}) == [("filesystem.move", "a"), ("filesystem.write", "b")]


def test_fixed_args_are_added():
    (m,) = MAP.map("WebFetch", {"url": "https://x.test/", "prompt": "p"})
    assert m.action["args"]["method"] == "GET"


def test_unknown_tool_is_tool_call_plus_what_its_arguments_reveal():
    got = caps("frobnicate", {"url": "https://evil.test", "file_path": "/x/id_rsa", "n": 3})
    assert got[0] == ("tool.call", "frobnicate")
    assert ("network.request", "https://evil.test") in got and ("filesystem.read", "/x/id_rsa") in got


def test_known_name_without_its_target_argument_falls_back_to_unknown():
    assert caps("Bash", {"description": "nothing"}) == [("tool.call", "Bash")]


def test_string_arguments_are_parsed_or_kept():
    assert caps("Read", '{"file_path": "x"}') == [("filesystem.read", "x")]
    (m,) = MAP.map("search", "how to")
    assert m.action["args"] == {"input": "how to"}


def test_user_map_wins_and_globs_match():
    m = ToolMap.load({"tools": [{"names": ["Read"], "capability": "secrets.read", "target": "file_path"},
                                {"names": ["github_*"], "actions": [{"capability": "vcs.call", "target": "repo"}]}]})
    assert caps("Read", {"file_path": "k"}, m) == [("secrets.read", "k")]
    assert caps("github_delete_repo", {"repo": "o/r"}, m) == [("vcs.call", "o/r")]
    assert caps("read_file", {"path": "k"}, m) == [("filesystem.read", "k")]  # builtin still behind


def test_user_map_from_file_with_errors_named(tmp_path):
    p = tmp_path / "map.yaml"
    p.write_text("tools:\n  - names: [x]\n    actions:\n      - {capability: 'bad cap', target: a}\n  - nmes: [y]\nextra: 1\n")
    with pytest.raises(PolicyError) as err:
        ToolMap.load(p)
    text = str(err.value)
    assert "map.yaml:4" in text and "capability" in text
    assert "tools[1].nmes" in text and "extra" in text


def test_expansion_beyond_the_cap_is_refused():
    with pytest.raises(ValueError):
        MAP.map("read_multiple_files", {"paths": [f"f{i}" for i in range(MAX_ACTIONS + 1)]})


def test_mcp_names():
    assert split_mcp_name("mcp__github__create_issue") == ("github", "create_issue")
    assert split_mcp_name("mcp__broken") == (None, "mcp__broken")
    assert normalise_name(" Read-File ") == "read_file"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40).filter(lambda s: s.strip()),
       st.dictionaries(st.text(max_size=12), st.one_of(st.none(), st.text(max_size=20), st.integers(), st.lists(st.text(max_size=8), max_size=4)), max_size=5))
def test_any_tool_call_maps_to_valid_actions(tool, args):
    from bastion.model import Action

    mapped = MAP.map(tool, args)
    assert mapped
    for m in mapped:
        Action.from_dict(m.action)  # always a valid contract action
