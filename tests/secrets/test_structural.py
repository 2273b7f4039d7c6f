"""Structural credentials: shapes that are secrets without a name next to them.

Webhook URLs (the host and path shape say what they are, whatever the entropy of
the path) and bare 40-character AWS-style secret keys (found by their own RE2 pass,
with structural checks that keep git SHAs, hex digests, identifiers and encoded
text out).
"""

from __future__ import annotations

import pytest

from bastion.secrets import default_scanner

# ---------------------------------------------------------------- webhook URLs


@pytest.mark.parametrize(
    "text, kind",
    [
        ("https://hooks.slack.com/services/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", "slack_webhook"),
        ("https://hooks.slack.com/workflows/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", "slack_webhook"),
        # placeholders and low-entropy paths are still webhooks: the shape is the credential
        ("url: https://hooks.slack.com/services/Txxxxxxxx/Bxxxxxxxx/xxxxxxxxxxxxxxxxxxxxxxxx", "slack_webhook"),
        ("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "slack_webhook"),
        ("https://discord.com/api/webhooks/123456789012345678/" + "x" * 68, "discord_webhook"),
        (
            "https://outlook.office.com/webhook/00000000-0000-0000-0000-000000000000@00000000-0000-0000-0000-000000000000"
            "/IncomingWebhook/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/00000000-0000-0000-0000-000000000000",
            "msteams_webhook",
        ),
    ],
)
def test_webhook_urls_are_credentials_whatever_their_entropy(text, kind):
    assert kind in {f.kind for f in default_scanner().scan(text)}


@pytest.mark.parametrize(
    "text",
    [
        "https://hooks.slack.com/services/",  # no path
        "post it to https://hooks.slack.com/services/YOUR/WEBHOOK/URL",  # too short to be a webhook path
        "https://api.slack.com/messaging/webhooks",  # the documentation, not a hook
        "https://discord.com/api/webhooks/123456789012345678/short",  # not the token's length
        # a Teams connector URL of another kind (not /IncomingWebhook/)
        "https://outlook.office.com/webhook/82fc2788-c6f4-4507-a657-36c91eccfd87@93f33571-550f-43cf-b09f-cd33c338d086/JenkinsCI/4f3bbf41e81a4f36887a1a4d7cbfb2c6/82fa2788-c6f4",
    ],
)
def test_not_webhook_urls(text):
    assert not {f.kind for f in default_scanner().scan(text)} & {"slack_webhook", "discord_webhook", "msteams_webhook"}


# ---------------------------------------------------------------- bare 40-character secret keys

KEY40 = "wK9rT2mX7pL4qZ8v/1bC6yH3jF5dS0gA9eR2tY7u"  # synthetic, with a "/"
KEY40_ALNUM = "k3M9x2Q7w4E8r1T6y5U0i3O9p2AqK3m9X2q7W4e8"  # no "/" or "+": 28% of real keys


def _bare(text: str) -> list[str]:
    return [text[f.start : f.end] for f in default_scanner().scan(text) if f.detector == "aws_secret_key_bare"]


@pytest.mark.parametrize(
    "text, secret",
    [
        (f"some_function({KEY40})", KEY40),
        (f"some_function(foo, {KEY40}, bar)", KEY40),
        (f'some_function("{KEY40}")', KEY40),
        (f"some_function('foo', '{KEY40}', 'bar')", KEY40),
        (f"aws configure set default.region us-east-1 && echo {KEY40_ALNUM}", KEY40_ALNUM),
        (f"The key is {KEY40}.", KEY40),  # a sentence's full stop is not part of a dotted name
        (f"VALUE={KEY40}\n", KEY40),  # under a name that says nothing
        (f"[{KEY40}]", KEY40),
    ],
)
def test_bare_40_character_key_is_found(text, secret):
    assert _bare(text) == [secret]
    (f,) = [f for f in default_scanner().scan(text) if f.detector == "aws_secret_key_bare"]
    assert f.kind == "aws_secret_key" and f.severity == "medium"


@pytest.mark.parametrize(
    "text",
    [
        "commit 1600a35a099950d836f675cc81e74ef5e8e25d94",  # a git SHA
        '"sha": "5C90A9587403E430EC66A78795E761D17731AF10"',  # an uppercase hex digest
        "sha1:0beec7b5ea3f0fdbc95d/0dd47f3c5bc275da8a3",  # hex joined by "/": no upper case
        "AWSEC2CapacityReservationFleetRolePolicy",  # an identifier made of words
        "arn:aws:iam::aws:policy/AmazonRoute53AutoNamingFullAccess",  # a name in a path
        "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXpBQkNE",  # base64 of printable text
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9",  # a JWT header alone: encoded JSON
        "k3m9x2q7w4e8r1t6y5u0i3o9p2aqk3m9x2q7w4e8",  # no upper case: an id, not a key
        "kMxQwErTyUiOpAsDfGhJkLzXcVbNmQwErTyUiOpA",  # no digit
        "zZ" * 14 + "1z" * 6,  # low entropy
        f"{KEY40}x",  # 41 characters: part of a longer token
        f"x{KEY40}",
        f"prefix_{KEY40}",  # inside an identifier
        f"{KEY40}-suffix",
        f"{KEY40}==",  # base64 padding: an encoded blob, not a 40-character key
        f"pkg.{KEY40}",  # a dotted name
        f"{KEY40}.py",  # a file name
        "usr/local/lib/python3/site/Packages/xy12",  # a path of words
    ],
)
def test_bare_40_character_non_keys_are_not_flagged(text):
    assert _bare(text) == []


def test_bare_checks_keep_nearly_every_random_key():
    # random 40-character base64 values: the checks may drop the rare one without a digit
    # or read as a path of words, not more (the seed makes this deterministic)
    import random

    rnd = random.Random(40)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"
    keys = ["".join(rnd.choice(alphabet) for _ in range(40)) for _ in range(2000)]
    found = _bare(" ".join(keys))
    assert len(found) >= 0.995 * len(keys)
    assert set(found) <= set(keys)


def test_two_bare_keys_one_byte_apart_are_both_found():
    # the byte between them is the right boundary of the first and the left one of the second
    assert _bare(f"{KEY40} {KEY40_ALNUM}") == [KEY40, KEY40_ALNUM]
    assert _bare(f"f({KEY40},{KEY40_ALNUM})") == [KEY40, KEY40_ALNUM]


def test_bare_key_is_redacted_in_nested_values_and_never_kept_raw():
    from bastion.secrets import Redactor

    r = Redactor(key=b"\x07" * 32)
    value = {"args": {"argv": ["deploy", "--region", "eu-west-1", KEY40_ALNUM]}, "note": f"use {KEY40} here"}
    out, redactions = r.redact_value(value)
    assert {x["path"] for x in redactions} == {"args.argv[3]", "note"}
    assert KEY40 not in repr(out) and KEY40_ALNUM not in repr(out)
    assert all(x["kind"] == "aws_secret_key" for x in redactions)


def test_bare_key_detector_runs_outside_hyperscan():
    scanner = default_scanner()
    (det,) = [d for d in scanner._own_pass]
    assert det.spec.id == "aws_secret_key_bare"
    # the prefilter alone never fires on it; might_contain still says "maybe"
    assert scanner._prefilter.scan(KEY40.encode())[0] == {}
    assert scanner.might_contain(f"f({KEY40})")
    assert not scanner.might_contain("commit 1600a35a099950d836f675cc81e74ef5e8e25d94")


def test_bare_key_detector_can_be_disabled():
    from bastion.secrets import Scanner

    assert Scanner.build(disabled={"aws_secret_key_bare"}).scan(f"f({KEY40})") == []


# --------------------------------------------------------------------------- the run check

from hypothesis import given, settings, strategies as st  # noqa: E402


from bastion.secrets.scanner import _may_hold  # noqa: E402

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"


@settings(max_examples=400)
@given(st.lists(st.text(alphabet=_B64, min_size=30, max_size=45) | st.sampled_from([" ", "=", "\n", "_", ".", '"', "-", "é"]), max_size=8))
def test_the_run_check_never_skips_a_text_the_separate_pass_would_match(parts: list[str]) -> None:
    """`_may_hold` lets the scanner skip the RE2 search of a separate-pass detector: only
    where that search could not match anyway (texts built around the 40-character edge)."""
    data = "".join(parts).encode("utf-8")
    for det in default_scanner()._own_pass:
        if not _may_hold(det, data):
            assert det.regex.search(data) is None
