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
