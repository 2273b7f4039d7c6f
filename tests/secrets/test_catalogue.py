"""Every detector in the catalogue finds its own format (synthetic values, written here)."""

from __future__ import annotations

import base64

import pytest

from bastion.secrets import Scanner, default_scanner
from bastion.secrets.catalogue import BUILTIN, OPTIONAL

R36 = "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"  # 36 mixed alphanumerics
HEX32 = "9f86d081884c7d659a2feaa0c55ad015"
HEX40 = HEX32 + "a3bf4f1b"
HEX64 = HEX32 * 2
B64_88 = base64.b64encode(bytes(range(64))).decode()

EXAMPLES: dict[str, str] = {
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq2xZ\n-----END RSA PRIVATE KEY-----",
    "private_key_header": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
    "private_key_base64": "KEY=" + base64.b64encode(b"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq2\n").decode(),
    "putty_private_key": "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nPrivate-Lines: 2\nAAAAgQCk3dLm9q\nAAAAQQDx8s2z",
    "aws_access_key": "AKIAQ3EGRTYUIOPLKJ2H",
    "codeclimate_reporter_id": "CC_TEST_REPORTER_ID: " + HEX64,
    "sourcegraph_token_legacy": "sourcegraph_token = " + HEX40,
    "curl_user_token": "curl -u 'k3m9X2q7W4e8R1t6:' https://api.example.com/v1/charges",
    "jenkins_initial_password": "Please use the following password to proceed to installation:\n\n" + HEX32 + "\n\nThis may also be found at: /var/jenkins_home/secrets/initialAdminPassword",
    "aws_secret_key": "aws_secret_access_key = wK9rT2mX7pL4qZ8vN1bC6yH3jF5dS0gA9eR2tY7u",
    "aws_secret_key_bare": "f(wK9rT2mX7pL4qZ8v/1bC6yH3jF5dS0gA9eR2tY7u)",
    "aws_session_token": "AWS_SESSION_TOKEN=" + "FwoGZXIvYXdzEJr" + "A1b2C3d4" * 14,
    "aws_bedrock_key": "ABSKQmVkcm9ja0FQSUtleS" + "x7Yq2Lp9" * 13 + "Q1w",
    "aws_bedrock_key_short": "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249",
    "aws_mws_token": "amzn.mws.4ea38b7b-f563-7709-4bae-87aeaf41ce2f",
    "aws_appsync_key": "da2-k3m9x2q7w4e8r1t6y5u0i3o9p2",
    "gcp_api_key": "AIzaSyD3x7Kq2Lm9Pz4Rt8Vw1Yb6Nc0Hf5Jg2Es",
    "gcp_service_account": '"private_key_id": "' + HEX40 + '"',
    "gcp_oauth_client_secret": "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",
    "gcp_oauth_token": "ya29.a0AfH6SMBx7Kq2Lm9Pz4Rt8Vw1Yb6Nc0Hf5Jg2",
    "azure_storage_key": "AccountKey=" + B64_88,
    "azure_connection_string": "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKey=" + B64_88[:44],
    "azure_sas_token": "https://a.blob.core.windows.net/c?sv=2021-08-06&se=2030&sp=r&sig=" + B64_88[:43] + "%3D",
    "azure_ad_client_secret": "client_secret=bQ28Q~x7Kq2Lm9Pz4Rt8Vw1Yb6Nc0Hf5Jg2Es",
    "azure_devops_pat": "A" * 0 + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t6Y5u0I3o9" + "JQQJ99BF" + "ACAAAAAk3m9X2q7W" + "AZDO" + "3eqU",
    "alibaba_access_key": "LTAI5tK3m9X2q7W4e8R1",
    "digitalocean_token": "dop_v1_" + HEX64,
    "ibm_cloud_api_key": "ibm_cloud_api_key: Xk3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t",
    "ibm_cos_hmac_secret": 'cos_secret_access_key = "' + HEX32 + HEX32[:16] + '"',
    "softlayer_api_key": "softlayer_api_key = " + HEX64,
    "softlayer_api_url": "http://api.softlayer.com/soap/v3/" + HEX64,
    "cloudflare_origin_ca_key": "v1.0-" + HEX32[:24] + "-" + (HEX64 * 3)[:146],
    "heroku_api_key": "HRKU-AA" + "x7Yq2Lp9" * 7 + "Kq",
    "flyio_token": "fo1_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t",
    "hashicorp_tf_token": "k3m9X2q7W4e8R1.atlasv1." + "x7Yq2Lp9" * 8 + "Kq",
    "vault_token": "hvs.CAESIK3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m",
    "vault_token_legacy": "VAULT_TOKEN=s.K3m9X2q7W4e8R1t6Y5u0I3o9",
    "vault_unseal_key": "Unseal Key 1: " + B64_88[:44],
    "databricks_token": "dapi" + HEX32,
    "doppler_token": "dp.st.dev." + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t",
    "dynatrace_token": "dt0c01.K3M9X2Q7W4E8R1T6Y5U0I3O9." + "K3M9X2Q7" * 8,
    "scalingo_token": "tk-us-" + "k3m9x2q7w4e8r1t6y5u0i3o9p2aqk3m9x2q7w4e8r1t6y5u0",
    "planetscale_token": "pscale_tkn_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7",
    "yandex_token": "AQVN" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W",
    "github_token": "ghp_" + R36,
    "github_fine_grained_pat": "github_pat_11" + "A" * 0 + "k3m9X2q7W4e8R1t6Y5u0I3" + "_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t6Y5u0I3o9P2aQk",
    "gitlab_token": "glpat-k3m9X2q7W4e8R1t6Y5u0",
    "gitlab_session_cookie": "_gitlab_session=" + HEX32,
    "bitbucket_app_password": "ATBB" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9",
    "npm_token": "npm_" + R36,
    "npmrc_auth_token": "//registry.npmjs.org/:_authToken=7e2b1c04-1f3a-4d5e-9b8c-0a1b2c3d4e5f",
    "pypi_token": "pypi-AgEIcHlwaS5vcmc" + "CJDk3m9X2q7W4e8R1t6Y5u0I3o9" * 3,
    "nuget_api_key": "oy2" + "k3m9x2q7w4e8r1t6y5u0i3o9p2aqk3m9x2q7w4e8r1t",
    "rubygems_token": "rubygems_" + HEX32 + HEX32[:16],
    "clojars_token": "CLOJARS_" + "k3m9x2q7w4e8r1t6y5u0" * 3,
    "cratesio_token": "cio" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9",
    "dockerhub_pat": "dckr_pat_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2a",
    "artifactory_key": "X-JFrog-Art-Api: AKCp8k3m9X2q7W4e8R1t6Y5u0I3o9P2a",
    "artifactory_reference_token": "cmVmd" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m",
    "sonar_token": "sqp_" + HEX40,
    "sonar_login": "sonar.login=" + HEX40,
    "pulumi_token": "pul-" + HEX40,
    "prefect_token": "pnu_" + R36,
    "postman_api_key": "PMAK-" + HEX32[:24] + "-" + HEX40[:34],
    "readme_token": "rdme_" + "k3m9x2q7w4" * 7,
    "harness_token": "pat.k3m9X2q7W4e8R1t6Y5u0I3." + HEX32[:24] + ".k3m9X2q7W4e8R1t6Y5u0",
    "infracost_token": "ico-" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9",
    "octopus_deploy_key": "API-K3M9X2Q7W4E8R1T6Y5U0I3O9P2",
    "dependency_track_key": "odt_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9",
    "stackhawk_key": "hawk.k3m9X2q7W4e8R1t6Y5u0.I3o9P2aQk3m9X2q7W4e8",
    "openshift_token": "sha256~" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t",
    "kubernetes_bootstrap_token": "bootstrap-token: k3m9x2.q7w4e8r1t6y5u0i3",
    "slack_token": "xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD",
    "slack_webhook": "https://hooks.slack.com/services/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",
    "discord_bot_token": "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
    "discord_webhook": "https://discord.com/api/webhooks/123456789012345678/" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8",
    "telegram_bot_token": "110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw",
    "msteams_webhook": "https://contoso.webhook.office.com/webhookb2/7f2e@9c1d/IncomingWebhook/" + HEX32 + "/3a8b-44c2",
    "atlassian_token": "ATATT3" + "xFfGF0k3m9X2q7W4e8R1t6Y5u0I3o9P2aQ" * 4,
    "notion_token": "ntn_45647615172" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q",
    "linear_api_key": "lin_api_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8",
    "figma_token": "figd_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8",
    "sendgrid_key": "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",
    "sendinblue_key": "xkeysib-" + HEX64 + "-k3m9X2q7W4e8R1t6",
    "mailchimp_key": HEX32 + "-us14",
    "mailgun_key": "key-" + "k3m9x2q7w4e8r1t6y5u0i3o9p2aqk3m9",
    "twilio_key": "SK" + HEX32,
    "postmark_token": "postmarkApiToken: 00917922-dbe7-4882-bedc-10b93fc4c4c5",
    "openai_key": "sk-proj-k3m9X2q7W4e8R1t6Y5u0T3BlbkFJk3m9X2q7W4e8R1t6Y5u0",
    "anthropic_key": "sk-ant-api03-" + ("k3m9X2q7W4e8R1t6Y5u0I3o9P2aQ" * 4)[:93] + "AA",
    "huggingface_token": "hf_" + "jCBaQngSHiHDRYOcsMcifUcysGyaiybUWz",
    "groq_key": "gsk_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t6Y5u0I3o9",
    "perplexity_key": "pplx-" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t6Y5u0",
    "tavily_key": "tvly-" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9",
    "jina_key": "jina_" + HEX32 + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3",
    "firecrawl_key": "fc-" + HEX32,
    "replicate_token": "r8_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W",
    "langsmith_key": "lsv2_pt_" + HEX32 + "_" + HEX32[:10],
    "databricks_or_grafana_key": "eyJrIjoi" + "WHZiSWd5NzdCYUZnNUtibE8obUpESmE2bzJYNDRIc1UiLCJuIjoibXlrZXkiLCJpZCI7MX1",
    "grafana_token": "glsa_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9" + "_486f63e1",
    "sentry_token": "sntryu_" + HEX64,
    "newrelic_key": "NRAK-K3M9X2Q7W4E8R1T6Y5U0I3O9P2A",
    "datadog_key": "DD_API_KEY=" + HEX32,
    "segment_token": "sgp_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9" * 2,
    "sourcegraph_token": "sgp_" + HEX40,
    "sumologic_access_id": 'sumologic_access_id = "suDbJw97o9WVo0"',
    "cloudant_password": 'cloudant_password = "' + "k3m9x2q7w4e8r1t6y5u0i3o9" + '"',
    "cloudant_url": "https://acct:" + "k3m9x2q7w4e8r1t6y5u0i3o9" + "@acct.cloudant.com",
    "kagi_key": "KAGI_API_KEY='AQAAUPJ-iQc.yLFDzC5RRHzPNDThhulREdoG0Bn3PiZMwJ6yqC6uJLE'",
    "thingsboard_token": "https://thingsboard.cloud/api/v1/354u1g321kcqc1oad3w7/telemetry",
    "truenas_key": '{"method": "auth.login_with_api_key", "params": ["8-' + "k3m9X2q7W4e8R1t6" * 4 + '"]}',
    "airtable_token": "pat" + "k3m9X2q7W4e8R1" + "." + HEX64,
    "adafruit_key": "aio_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQ",
    "adobe_client_secret": "p8e-" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9",
    "authress_key": "sc_k3m9x2q7w.q7w4.acc_k3m9x2q7w4e8.k3m9x2q7w4e8r1t6y5u0i3o9p2aqk3m9x2",
    "contentful_token": "CFPAT-" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t",
    "duffel_token": "duffel_test_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t",
    "easypost_key": "EZAK" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t6Y5u0I3o9P2",
    "flutterwave_key": "FLWSECK_TEST-" + HEX32 + "-X",
    "frameio_token": "fio-u-" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9" * 2,
    "intra42_secret": "s-s4t2ud-" + HEX64,
    "maxmind_key": "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",
    "settlemint_token": "sm_pat_" + "k3m9X2q7W4e8R1t6",
    "shippo_token": "shippo_live_" + HEX40,
    "typeform_token": "tfp_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m",
    "twitch_stream_key": "live_126031192_" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3",
    "twitter_bearer_token": "A" * 22 + "K6A6doCDMxqHITkzpjrVf1vScIs8K2upLcIbNzO0gXUzFq9iqYLRw94Z2Ezlq6gQH0w56d7xvelHXuKgKb7fY",
    "salesforce_token": "00DE0X0A0M0PeLE!" + "CJoAQOx1GCLf1UIt4UU9y0VOPLUZAYN6I8DsdGEDyHh5cO02egObcAhIDHYiGCfi94c53oFbr4HB.xZfuYRGhvNuxobAAXRe",
    "age_secret_key": "AGE-SECRET-KEY-1HJCRJVK7EE3A5N8CRP8YSEUGZKNW90Y5UR2RGYAS8L279LFP6LCQU5ADNR",
    "onepassword_token": "ops_eyJ" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQ" * 10,
    "onepassword_secret_key": "A3-ASWWYB-798JRYLJVD4-23DC2-86TVM-H43EB",
    "okta_token": "okta: 00" + "QCjAl4MlVWPXMk3m9X2q7W4e8R0HmjFxvbGua123",
    "dropbox_token": "sl." + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQ" * 5,
    "facebook_token": "EAAC" + "k3m9X2q7W4e8R1t6Y5u0I3o9P2aQ" * 4,
    "facebook_app_token": "1308742762612587|rhoK1cbv0DOU_RTX_87O4MkX7AI",
    "mapbox_secret_token": "sk.eyJ1IjoiY2FwcGVsYWVyZSIsImEicf99c1BaTkZnIn0.P4lD1eHeSEx7AsBq1zbJ4g",
    "stripe_key": "sk_live_" + "k3m9X2q7W4e8R1t6Y5u0I3o9",
    "square_token": "sq0atp-" + "k3m9X2q7W4e8R1t6Y5u0I3",
    "shopify_token": "shpat_" + HEX32,
    "plaid_token": "access-sandbox-4ea38b7b-f563-7709-4bae-87aeaf41ce2f",
    "sidekiq_secret": "BUNDLE_GEMS__CONTRIBSYS__COM=cafebabe:deadbeef",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "password_hash": "$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
    "database_url": "postgres://app:Sup3rS3cret@db.internal:5432/orders",
    "broker_url": "amqp://worker:Rabb1tPass@mq.internal:5672/vhost",
    "url_credentials": "https://deploy:Hunter2Hunter2@git.example.com/repo.git",
    "basic_auth_header": "Authorization: Basic " + base64.b64encode(b"admin:c0rrect-horse").decode(),
    "bearer_token": "Authorization: Bearer k3m9X2q7W4e8R1t6Y5u0I3o9",
    "bearer_token_bare": '{"auth": "Bearer k3m9X2q7W4e8R1t6Y5u0I3o9"}',
    "curl_user_password": "curl -u deploy:Hunter2Hunter2 https://api.example.com",
    "cli_secret_flag": "tool login --api-key=k3m9X2q7W4e8R1t6Y5u0",
    "psexec_password": r"psexec \\host -u admin -p Hunter2x cmd",
    "mysql_password_flag": "mysql -u root -pHunter2x db",
    "netrc_password": "machine api.example.com login bob password Hunter2x",
    "dotnet_credential": 'new NetworkCredential("bob", "Hunter2x")',
    "xml_key_value": '<add key="SmtpPassword" value="Hunter2x" />',
    "password_in_prose": "the default password is 'Hunter2x'",
    "generic_assignment": 'db_password = "c0rrect-h0rse"',
    "generic_quoted_pair": 'System.setProperty("API_TOKEN", "k3m9X2q7W4e8R1t6Y5u0")',
    "generic_spaced_quoted": "password 'c0rrect-h0rse'",
    "generic_xml_element": "<apiToken>k3m9X2q7W4e8R1t6Y5u0</apiToken>",
}


ALL = {d.id: d for d in BUILTIN} | OPTIONAL


def test_every_detector_has_an_example():
    assert set(EXAMPLES) == set(ALL)


@pytest.mark.parametrize("detector", sorted(EXAMPLES))
def test_detector_finds_its_example(detector):
    spec = ALL[detector]
    text = EXAMPLES[detector]
    scanner = Scanner.build(extra=[spec]) if detector in OPTIONAL else default_scanner()
    findings = scanner.scan(text)
    assert findings, f"{detector} found nothing"
    kinds = {f.kind for f in findings}
    expected = {spec.reported_kind, "generic_password"} if spec.reported_kind == "generic_secret" else {spec.reported_kind}
    assert kinds & expected, f"{detector}: got {kinds}"


@pytest.mark.parametrize(
    "text",
    [
        "ghp_" + "x" * 36,  # placeholder
        "password = ${DB_PASSWORD}",
        'api_key = os.environ["API_KEY"]',
        "token: <your-token-here>",
        "password = get_password()",
        "connect(user=user, password=password)",
        "AKIAXXXXXXXXXXXXXXXX",
        "sha = " + HEX40,
        "public_key = 'k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9'",
        "csrf_token = 'k3m9X2q7W4e8R1t6Y5u0I3o9P2aQk3m9'",
        "password_length = 12",
        "see https://docs.example.com/tokens/create for a token",
        "[REDACTED:github_token:3f9a]",
    ],
)
def test_non_secrets_are_not_flagged(text):
    assert default_scanner().scan(text) == []


# ---------------------------------------------------------------- general false-positive checks


@pytest.mark.parametrize(
    "text",
    [
        'cl_api_key = "a-fake-api-key-123456"',  # a value that says it is fake
        "DOCKER_TOKEN=not_a_real_token",
        'fake_api_key = "k3m9X2q7W4e8R1t6Y5u0"',  # names that say the value is not real
        "not_secret = k3m9X2q7W4e8R1t6Y5u0",
        "SUMO_ACCESS_KEY: AbCeFG123",  # a token name with a value too short to be generated
        "    if cache_token != current_token:",  # a comparison with a name
        "    userid = passwd = acct = ''",  # chained assignment: passwd is assigned to
        "    SERVER_AUTH = '1.3.6.1.5.5.7.3.1'",  # an OID, a version
        "        Pass 'parameters' and/or 'return_annotation' arguments",  # prose, not a directive
        "gh gist list --secret\nansible-galaxy role search nginx -v",  # a flag's value is on its line
        "token = {password}",  # a template field
        # a JWT whose header was cut short is not a token
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "curl -u admin: https://localhost:9200",  # an empty password, and a user name that is a word
    ],
)
def test_general_non_secret_shapes(text):
    assert default_scanner().scan(text) == []


@pytest.mark.parametrize(
    "text, kind",
    [
        ("curl -u 'sk_test_4eC39HqLyjWDarjtT1zdp7dc:' https://api.stripe.com/v1/charges", "stripe_key"),
        ('curl -u "d2LkV78zLx!t:" https://localhost:9200', "cli_password"),  # API key as the user name
        ('curl --user "{acd3c08b-74e8-4f44}":"{ZqL5kVrX1n8tA2}" https://x', "cli_password"),  # braces around values
        ("'access_token': 'eyJ0eXAioiJKV1slS3oASx=='", "generic_secret"),  # base64 padding is not "=="
        ("password 'c0rrect-h0rse';", "generic_password"),
        # Basic credentials with one corrupted byte still read as user:password
        ("Authorization: Basic " + base64.b64encode(b"v2e4JXkCIPvykaVOEQ_4jffTt90a:vzcAdasejf\x95fbP76UBc43MT11rUa").decode(), "basic_auth"),
    ],
)
def test_general_secret_shapes(text, kind):
    assert kind in {f.kind for f in default_scanner().scan(text)}


def test_json_sent_as_basic_is_not_basic_auth():
    jwt_header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    kinds = {f.kind for f in default_scanner().scan(f"Authorization: Basic {jwt_header}.eyJjb25maWRlbmNlIjowLjh9.kvRPfjAhLhtRTczoRgctVGp7KY1QVH3UBZM-gM0x8ec")}
    assert "basic_auth" not in kinds and "jwt" in kinds


def test_checksum_confirms_github_and_npm_tokens():
    from bastion.secrets.validate import crc32_base62

    real = "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"  # the format's published example
    assert crc32_base62(real) and not crc32_base62(real[:-1] + "8")
    (ok,) = default_scanner().scan(f"token={real}")
    (bad,) = default_scanner().scan(f"token={real[:-1]}8")
    assert (ok.kind, ok.severity) == ("github_token", "critical")
    assert (bad.kind, bad.severity) == ("github_token", "high")  # still reported: stubs leak too


def test_policy_detector_can_use_a_checksum():
    from bastion.secrets import DetectorSpec

    spec = DetectorSpec.from_dict({"id": "corp_token", "pattern": r"\bghp_[A-Za-z0-9]{36}\b", "confirms": "crc32_base62", "priority": 99})
    assert spec.to_dict()["confirms"] == "crc32_base62"
    with pytest.raises(ValueError, match="unknown validator"):
        DetectorSpec.from_dict({"id": "corp_token", "pattern": "x+", "confirms": "nope"})
