"""The built-in detector catalogue.

Each entry is a `DetectorSpec` with a stable id. Three families:

1. **Formats**: tokens with a vendor prefix or a fixed shape (``ghp_``, ``AKIA``,
   ``xoxb-``, JWTs, PEM blocks). The shape is the evidence; validators only drop
   placeholders.
2. **Contexts**: a value next to a telling name or position (``Authorization:``
   headers, ``user:pass@`` in URLs, ``curl -u``, ``.netrc``, ``.NET`` credential
   constructors).
3. **Generic assignments**: ``<name> = <value>`` where the *name* says it holds a
   credential (``password``, ``api_key``, ``clientSecret``...) and the value is a
   literal, not code. Reported as ``generic_password`` or ``generic_secret``.

Patterns are written for this project (RE2 syntax, no look-around, no back-references);
docs/secrets.md lists every id. Group names starting with ``secret`` mark the part
to redact, ``key`` the assigned name (see spec.py).
"""

from __future__ import annotations

import string

from dataclasses import replace

from bastion.secrets.spec import DetectorSpec

# Right-hand boundary for tokens whose alphabet includes "-": RE2 has no look-ahead,
# so the boundary character is consumed but stays outside the ``secret`` group.
_END = r"(?:[^A-Za-z0-9_\-]|$)"
_END_B64 = r"(?:[^A-Za-z0-9+/=_\-]|$)"
_START_B64 = r"(?:^|[^A-Za-z0-9+/=_\-])"

# Names that mark a credential, written loosely for the pattern pre-filter; the Python
# check `validate.is_secret_key` decides precisely.
_KEYWORDISH = r"(?i:pass|pwd|secret|token|key|cred|auth|pat\b|bearer|sig)"
_KEY = r"[A-Za-z0-9_$@.\-]*" + _KEYWORDISH + r"[A-Za-z0-9_.\-]*"

# Assignment operators across languages: = := ::= :::= ?= += .= => : == != === !== <-
_OP = r"(?P<op>[ \t]*(?:::?:?=|\?=|\+=|\.=|=>|!==?|===?|<-|=|:)[ \t]*)"
# an optional type between a name and its operator: Go "var k string =", Python "k: str =", TS "k: string ="
_TYPE = r"(?:[ \t]*:?[ \t]*(?:string|String|str|&str|&'static str|\[\]byte|CharSequence)\b)?"

# A value: double-, single-, back-quoted, escaped-quoted (inside a JSON string) or bare.
_VALUE = (
    r"(?:\\\"(?P<secret4>[^\"\\\r\n]{1,500})\\\""
    r"|\"(?P<secret>[^\"\r\n]{1,500})\""
    r"|'(?P<secret2>[^'\r\n]{1,500})'"
    r"|`(?P<secret_tick>[^`\r\n]{1,500})`"
    r"|(?P<secret_bare>[^\s\"'`,;&<>(){}\[\]\\|]{1,500}))"
)
_QVALUE = (
    r"(?:\\\"(?P<secret4>[^\"\\\r\n]{1,500})\\\""
    r"|\"(?P<secret>[^\"\r\n]{1,500})\""
    r"|'(?P<secret2>[^'\r\n]{1,500})'"
    r"|`(?P<secret_tick>[^`\r\n]{1,500})`)"
)


def _b64_of(text: str) -> tuple[str, ...]:
    """The three base64 spellings of `text`, one per byte alignment, trimmed to stable chars."""
    import base64

    out = []
    for pad in range(3):
        enc = base64.b64encode(b"\x00" * pad + text.encode()).decode()
        # drop characters influenced by the padding bytes and by what follows
        start = {0: 0, 1: 2, 2: 3}[pad]
        end = len(enc) - (1 if (pad + len(text)) % 3 else 0) - enc.count("=")
        out.append(enc[start:end])
    return tuple(out)


_B64_PRIVATE_KEY = "|".join(_b64_of("PRIVATE KEY"))
# exactly 40 base64 characters, at least one of them not a hex digit (so git SHAs and hex
# digests never match): one alternative per position of the first non-hex character
def _rep(cls: str, k: int) -> str:
    return f"{cls}{{{k}}}" if k else ""  # keep "{0}" out of the pattern


_FORTY_NOT_HEX = "(?:" + "|".join(_rep("[0-9a-fA-F]", k) + "[g-zG-Z/+]" + _rep("[A-Za-z0-9/+]", 39 - k) for k in range(40)) + ")"

D = DetectorSpec

BUILTIN: tuple[DetectorSpec, ...] = (
    # ------------------------------------------------------------------ private keys
    D(
        "private_key",
        r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----(?P<secret>[\s\S]+?)-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----",
        "PEM, OpenSSH, PKCS#8 and PGP private key blocks (the whole block is redacted)",
        severity="critical",
        placeholder_check=False,
        validators=("not_blank",),
        priority=95,
    ),
    D(
        "private_key_header",
        r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----(?P<secret>(?:(?:\r?\n|\\r\\n|\\n|[ \t\"'+,])+[A-Za-z0-9+/=:\-]{8,}(?: [A-Za-z0-9+/=:\-]+)*)+|(?:\r?\n|\\n)[^\-\r\n\\][^\r\n\\]{2,100})",
        "A private key header whose END line is missing (truncated or split); redacts the header and the body lines that follow",
        kind="private_key",
        severity="critical",
        placeholder_check=False,
        priority=90,
    ),
    D(
        "private_key_base64",
        _START_B64 + r"(?P<secret>LS0tLS1CRUdJTi[A-Za-z0-9+/]{0,60}(?:" + _B64_PRIVATE_KEY + r")[A-Za-z0-9+/]{20,}={0,2})" + _END_B64,
        "A base64-encoded PEM private key (as in Kubernetes secrets and CI variables)",
        kind="private_key",
        severity="critical",
        placeholder_check=False,
        priority=90,
    ),
    D(
        "putty_private_key",
        r"PuTTY-User-Key-File-\d: [\s\S]{0,}?Private-Lines: \d+(?P<secret>(?:\r?\n[A-Za-z0-9+/=]+)+)",
        "PuTTY .ppk private key lines",
        kind="private_key",
        severity="critical",
        placeholder_check=False,
        priority=90,
    ),
    # ------------------------------------------------------------------ cloud providers
    D(
        "aws_access_key",
        r"\b(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z2-7]{16})\b",
        "AWS access key id (AKIA..., ASIA... for temporary credentials)",
        min_entropy=None,
        priority=80,
    ),
    D(
        "aws_secret_key",
        r"(?i)(?P<key>aws[A-Za-z0-9_.\-]{0,30}(?:secret|sk)[A-Za-z0-9_.\-]{0,20})[\"']?" + _OP + r"[\"'`]?(?P<secret>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
        "AWS secret access key next to an aws..secret name",
        key_check=False,
        placeholder_check=False,
        priority=80,
    ),
    D(
        "aws_secret_key_bare",
        # a whole run of exactly 40: not inside a longer token, a path ("/x/y.py"), a dotted name
        r"(?:^|[^A-Za-z0-9/+_.\-])(?P<secret>" + _FORTY_NOT_HEX + r")(?:[^A-Za-z0-9/+=_.\-]|\.(?:\s|$)|$)",
        "A 40-character base64 value shaped like an AWS secret key, even without a name: upper and"
        " lower case, a digit, high entropy, not words, not encoded text (detect-secrets flags these)",
        kind="aws_secret_key",
        min_entropy=4.2,
        min_length=40,
        run_of=string.ascii_letters + string.digits + "/+",
        validators=("has_upper_and_lower", "has_digit", "not_path", "not_words", "not_encoded_text"),
        severity="medium",
        priority=30,
        # Hyperscan reports every position of a 40-character run and slows down on the repeat
        # (350 -> 80 MB/s for its pass); RE2's DFA finds whole runs alone at ~650 MB/s
        re2_pass=True,
    ),
    D(
        "aws_session_token",
        r"(?i)(?P<key>aws[_.\-]?session[_.\-]?token)[\"']?" + _OP + r"[\"'`]?(?P<secret>[A-Za-z0-9/+=]{100,})",
        "AWS session token",
        key_check=False,
        priority=80,
    ),
    D(
        "aws_bedrock_key",
        r"\b(?P<secret>ABSKQmVkcm9ja0FQSUtleS[A-Za-z0-9+/]{100,120}={0,2})" + _END_B64,
        "Amazon Bedrock long-lived API key",
        priority=80,
    ),
    D(
        "aws_bedrock_key_short",
        r"\b(?P<secret>bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%&?._\-]{0,})",
        "Amazon Bedrock short-lived API key (a presigned URL, base64)",
        kind="aws_bedrock_key",
        placeholder_check=False,
        priority=80,
    ),
    D(
        "aws_mws_token",
        r"\b(?P<secret>amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
        "Amazon MWS auth token",
        priority=80,
    ),
    D(
        "aws_appsync_key",
        r"\b(?P<secret>da2-[a-z0-9]{26})\b",
        "AWS AppSync API key",
        priority=70,
    ),
    D(
        "gcp_api_key",
        r"\b(?P<secret>AIza[0-9A-Za-z_\-]{35})" + _END,
        "Google Cloud / Firebase API key",
        min_entropy=3.0,
        priority=80,
    ),
    D(
        "gcp_service_account",
        r"\"private_key_id\"\s*:\s*\"(?P<secret>[a-f0-9]{40})\"",
        "Google service-account key file (private_key_id; the private_key itself is a PEM block)",
        priority=80,
    ),
    D(
        "gcp_oauth_client_secret",
        r"\b(?P<secret>GOCSPX-[A-Za-z0-9_\-]{28})" + _END,
        "Google OAuth client secret",
        priority=80,
    ),
    D(
        "gcp_oauth_token",
        r"\b(?P<secret>ya29\.[0-9A-Za-z_\-]{20,})",
        "Google OAuth access token",
        priority=80,
    ),
    D(
        "azure_storage_key",
        r"(?i)\b(?:AccountKey|AzureStorageKey|StorageAccountKey)\s*[=:]\s*[\"']?(?P<secret>[A-Za-z0-9+/]{40,100}={0,2})",
        "Azure storage account key",
        min_entropy=3.5,
        key_check=False,
        priority=85,
    ),
    D(
        "azure_connection_string",
        r"(?i)\b(?:SharedAccessKey|SharedSecretValue|Secret)\s*=\s*(?P<secret>[A-Za-z0-9+/]{30,100}={0,2})",
        "Azure Service Bus / Event Hubs / IoT Hub / App Configuration connection string secret",
        min_entropy=3.5,
        priority=85,
    ),
    D(
        "azure_sas_token",
        r"[?&]sig=(?P<secret>[A-Za-z0-9%+/]{30,200}(?:%3[Dd]|=){0,2})",
        "Azure shared access signature (sig= in a SAS URL)",
        keywords=("sv=", "se=", "sp="),
        min_entropy=3.5,
        priority=80,
    ),
    D(
        "azure_ad_client_secret",
        r"(?:^|[^A-Za-z0-9_~.\-])(?P<secret>[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})(?:[^A-Za-z0-9_~.\-]|$)",
        "Microsoft Entra (Azure AD) client secret",
        min_entropy=3.5,
        priority=80,
    ),
    D(
        "azure_devops_pat",
        r"\b(?P<secret>[A-Za-z0-9]{52}JQQJ9[A-Za-z0-9]{19}AZDO[A-Za-z0-9]{4})\b",
        "Azure DevOps personal access token (84-character format)",
        priority=80,
    ),
    D(
        "alibaba_access_key",
        r"\b(?P<secret>LTAI[A-Za-z0-9]{12,20})\b",
        "Alibaba Cloud AccessKey ID",
        min_entropy=3.0,
        priority=70,
    ),
    D(
        "digitalocean_token",
        r"\b(?P<secret>do[opr]_v1_[a-f0-9]{64})\b",
        "DigitalOcean personal, OAuth or refresh token",
        priority=80,
    ),
    D(
        "ibm_cloud_api_key",
        r"(?i)(?P<key>(?:ibm|cloud)[\w\-]{0,20}(?:key|pwd|password|pass))[\"']?" + _OP + r"[\"']?(?P<secret>[A-Za-z0-9_\-]{44})(?:[^A-Za-z0-9_\-]|$)",
        "IBM Cloud IAM API key",
        key_check=False,
        priority=75,
    ),
    D(
        "ibm_cos_hmac_secret",
        r"(?i)(?P<key>[\w\-]*secret[_\-]?(?:access[_\-]?)?key)[\"']?" + _OP + r"[\"']?(?P<secret>[a-f0-9]{48})(?:[^A-Za-z0-9]|$)",
        "IBM Cloud Object Storage HMAC secret key",
        key_check=False,
        placeholder_check=False,
        priority=75,
    ),
    D(
        "softlayer_api_key",
        r"(?i)(?P<key>(?:softlayer|\bsl)[\w\-]{0,12}(?:key|pwd|password|pass))[\"']?(?:" + _OP + r"|\s+)[\"']?(?P<secret>[a-z0-9]{64})(?:[^a-z0-9]|$)",
        "SoftLayer API key",
        key_check=False,
        placeholder_check=False,
        priority=75,
    ),
    D(
        "softlayer_api_url",
        r"(?i)api\.softlayer\.com/(?:soap|rest)/v3(?:\.1)?/(?P<secret>[a-z0-9]{64})\b",
        "SoftLayer API key inside an API URL",
        kind="softlayer_api_key",
        placeholder_check=False,
        priority=75,
    ),
    D(
        "cloudflare_origin_ca_key",
        r"\b(?P<secret>v1\.0-[a-f0-9]{24}-[a-f0-9]{146})\b",
        "Cloudflare origin CA key",
        priority=80,
    ),
    D(
        "heroku_api_key",
        r"\b(?P<secret>HRKU-AA[0-9A-Za-z_\-]{58})" + _END,
        "Heroku API key (HRKU- format)",
        priority=80,
    ),
    D(
        "flyio_token",
        r"\b(?P<secret>(?:FlyV1 )?fm[12][ar]?_[A-Za-z0-9+/]{100,}={0,3}(?:,fm[12][ar]?_[A-Za-z0-9+/=]+)*|fo1_[A-Za-z0-9_\-]{43})",
        "Fly.io access token",
        priority=80,
    ),
    D(
        "hashicorp_tf_token",
        r"\b(?P<secret>[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9\-_=]{60,70})" + _END,
        "Terraform Cloud / Enterprise API token",
        priority=80,
    ),
    D(
        "vault_token",
        r"\b(?P<secret>hv[sbr]\.[A-Za-z0-9_\-]{24,})",
        "HashiCorp Vault token (hvs./hvb./hvr., Vault 1.10+)",
        min_entropy=3.0,
        priority=80,
    ),
    D(
        "vault_token_legacy",
        r"\b(?P<secret>[sbr]\.[A-Za-z0-9]{24,26})\b",
        "HashiCorp Vault token (s./b./r., before 1.10)",
        kind="vault_token",
        keywords=("vault", "token"),
        min_entropy=3.5,
        validators=("mixed_charset", "has_digit", "has_upper_and_lower"),
        priority=70,
    ),
    D(
        "vault_unseal_key",
        r"(?i)(?:unseal key(?: \d+)?\s*:|operator unseal)\s+(?P<secret>[A-Za-z0-9+/]{40,}={0,2})",
        "HashiCorp Vault unseal key",
        priority=80,
    ),
    D(
        "databricks_token",
        r"\b(?P<secret>dapi[a-f0-9]{32}(?:-\d)?)\b",
        "Databricks personal access token",
        priority=80,
    ),
    D(
        "doppler_token",
        r"\b(?P<secret>dp\.(?:ct|pt|st(?:\.[a-z0-9\-_]{2,35})?|sa|scim|audit)\.[A-Za-z0-9]{40,44})\b",
        "Doppler token",
        priority=80,
    ),
    D(
        "dynatrace_token",
        r"\b(?P<secret>dt0c01\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64})\b",
        "Dynatrace API token",
        priority=80,
    ),
    D(
        "scalingo_token",
        r"\b(?P<secret>tk-us-[A-Za-z0-9_\-]{48})" + _END,
        "Scalingo API token",
        priority=80,
    ),
    D(
        "planetscale_token",
        r"\b(?P<secret>pscale_(?:tkn|oauth|pw)_[A-Za-z0-9_\-=.]{32,64})" + _END,
        "PlanetScale token or password",
        priority=80,
    ),
    D(
        "yandex_token",
        r"\b(?P<secret>t1\.[A-Za-z0-9_\-]+={0,2}\.[A-Za-z0-9_\-]{86}={0,2}|AQVN[A-Za-z0-9_\-]{35,38})" + _END,
        "Yandex Cloud IAM token or API key",
        priority=75,
    ),
    # ------------------------------------------------------------------ source hosting, CI, registries
    D(
        "github_token",
        r"\b(?P<secret>gh[pousr]_[A-Za-z0-9]{36,255})\b",
        "GitHub personal, OAuth, user-to-server, server-to-server or refresh token",
        min_entropy=3.0,
        confirms="crc32_base62",
        priority=85,
    ),
    D(
        "github_fine_grained_pat",
        r"\b(?P<secret>github_pat_[A-Za-z0-9_]{82})\b",
        "GitHub fine-grained personal access token",
        kind="github_token",
        min_entropy=3.0,
        priority=85,
    ),
    D(
        "gitlab_token",
        r"\b(?P<secret>(?:glpat|gldt|glrt|glft|glffct|glcbt|glrtr)-[A-Za-z0-9_\-]{20}"
        r"|gl(?:pat|rt)-[A-Za-z0-9_\-]{27,300}\.[0-9a-z]{2}[0-9a-z]{7}"
        r"|glptt-[A-Za-z0-9_\-]{40}"
        r"|glimt-[A-Za-z0-9_\-]{25}"
        r"|glagent-[A-Za-z0-9_\-]{50,}"
        r"|gloas-[A-Za-z0-9_\-]{64}"
        r"|glsoat-[A-Za-z0-9_\-]{20,}"
        r"|GR1348941[A-Za-z0-9_\-]{20,})" + _END,
        "GitLab personal, deploy, runner, trigger, incoming-mail, agent, OAuth, SCIM and registration tokens",
        min_entropy=2.8,
        priority=85,
    ),
    D(
        "gitlab_session_cookie",
        r"_gitlab_session=(?P<secret>[0-9a-z]{32})\b",
        "GitLab session cookie",
        priority=80,
    ),
    D(
        "bitbucket_app_password",
        r"\b(?P<secret>ATBB[A-Za-z0-9_=.\-]{32})" + _END,
        "Bitbucket app password",
        priority=80,
    ),
    D(
        "npm_token",
        r"\b(?P<secret>npm_[A-Za-z0-9]{36})\b",
        "npm access token",
        min_entropy=3.0,
        confirms="crc32_base62",
        priority=85,
    ),
    D(
        "npmrc_auth_token",
        r"//[A-Za-z0-9.\-]+(?::\d+)?(?:/[A-Za-z0-9._~%\-]*)*/:_(?:authToken|password|auth)\s*=\s*(?P<secret>[^\s'\"]{6,})",
        "npm registry credential in .npmrc",
        kind="npm_token",
        placeholder_check=True,
        priority=85,
    ),
    D(
        "pypi_token",
        r"\b(?P<secret>pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{70,})",
        "PyPI (and TestPyPI) upload token",
        priority=85,
    ),
    D(
        "nuget_api_key",
        r"\b(?P<secret>oy2[a-z0-9]{43})\b",
        "NuGet API key",
        priority=75,
    ),
    D(
        "rubygems_token",
        r"\b(?P<secret>rubygems_[a-f0-9]{48})\b",
        "RubyGems API key",
        priority=80,
    ),
    D(
        "clojars_token",
        r"\b(?P<secret>CLOJARS_[a-z0-9]{60})\b",
        "Clojars deploy token",
        priority=80,
    ),
    D(
        "cratesio_token",
        r"\b(?P<secret>cio[A-Za-z0-9]{32})\b",
        "crates.io API token",
        validators=("mixed_charset", "has_digit"),
        priority=70,
    ),
    D(
        "dockerhub_pat",
        r"\b(?P<secret>dckr_pat_[A-Za-z0-9_\-]{27})" + _END,
        "Docker Hub personal access token",
        priority=80,
    ),
    D(
        "artifactory_key",
        r"(?:^|[\s=:\"'])(?P<secret>AKC[a-zA-Z0-9]{10,}|AP[0-9A-F][a-zA-Z0-9]{8,})\b",
        "JFrog Artifactory API key (AKC...) or encrypted password (AP...)",
        validators=("mixed_charset",),
        placeholder_check=False,
        priority=70,
    ),
    D(
        "artifactory_reference_token",
        r"\b(?P<secret>cmVmd[A-Za-z0-9]{59})\b",
        "JFrog Artifactory reference token",
        kind="artifactory_key",
        priority=75,
    ),
    D(
        "sonar_token",
        r"\b(?P<secret>sq[pua]_[A-Za-z0-9]{40})\b",
        "SonarQube / SonarCloud token",
        priority=80,
    ),
    D(
        "sonar_login",
        r"(?i)(?P<key>sonar[._\-]?(?:login|token|api[._\-]?key))[\"']?(?:" + _OP + r"|[ \t]*,[ \t]*)[\"']?(?P<secret>[A-Za-z0-9_]{32,64})\b",
        "SonarQube token passed as sonar.login",
        kind="sonar_token",
        key_check=False,
        priority=75,
    ),
    D(
        "codeclimate_reporter_id",
        r"(?i)(?P<key>CC_TEST_REPORTER_ID|codeclimate[\w.\-]{0,20}(?:token|key|id))[\"']?" + _OP + r"[\"']?(?P<secret>[a-f0-9]{64})\b",
        "Code Climate test reporter id (a write token despite its name)",
        key_check=False,
        priority=75,
    ),
    D(
        "pulumi_token",
        r"\b(?P<secret>pul-[a-f0-9]{40})\b",
        "Pulumi access token",
        priority=80,
    ),
    D(
        "prefect_token",
        r"\b(?P<secret>pnu_[A-Za-z0-9]{36})\b",
        "Prefect API key",
        priority=80,
    ),
    D(
        "postman_api_key",
        r"\b(?P<secret>PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b",
        "Postman API key",
        priority=80,
    ),
    D(
        "readme_token",
        r"\b(?P<secret>rdme_[a-z0-9]{70})\b",
        "ReadMe API key",
        priority=80,
    ),
    D(
        "harness_token",
        r"\b(?P<secret>(?:pat|sat)\.[A-Za-z0-9_\-]{22}\.[0-9a-f]{24}\.[A-Za-z0-9]{20})\b",
        "Harness access token",
        priority=80,
    ),
    D(
        "infracost_token",
        r"(?:^|[^A-Za-z0-9_.\-/])(?P<secret>ico-[A-Za-z0-9]{32})\b",
        "Infracost API token",
        priority=80,
    ),
    D(
        "octopus_deploy_key",
        r"\b(?P<secret>API-[A-Z0-9]{26})\b",
        "Octopus Deploy API key",
        validators=("has_digit",),
        priority=70,
    ),
    D(
        "dependency_track_key",
        r"\b(?P<secret>odt_[A-Za-z0-9]{32,40})\b",
        "Dependency-Track API key",
        priority=80,
    ),
    D(
        "stackhawk_key",
        r"\b(?P<secret>hawk\.[A-Za-z0-9_\-]{20}\.[A-Za-z0-9_\-]{20})" + _END,
        "StackHawk API key",
        priority=80,
    ),
    D(
        "openshift_token",
        r"\b(?P<secret>sha256~[A-Za-z0-9_\-]{43})" + _END,
        "OpenShift user token",
        priority=80,
    ),
    D(
        "kubernetes_bootstrap_token",
        r"(?i)(?P<key>bootstrap[\w\-]*token[\w\-]*)[\"']?(?:" + _OP + r"|\s+)[\"']?(?P<secret>[a-z0-9]{6}\.[a-z0-9]{16})\b",
        "Kubernetes bootstrap token",
        key_check=False,
        priority=75,
    ),
    # ------------------------------------------------------------------ messaging and collaboration
    D(
        "slack_token",
        r"\b(?P<secret>xox[abposre]-(?:\d-)?\d{6,}-(?:\d+-){0,3}[0-9A-Za-z]{8,64}"
        r"|xoxe\.xox[bp]-\d-[A-Za-z0-9]{60,}"
        r"|xoxe-\d-[A-Za-z0-9]{60,}"
        r"|xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]{20,}"
        r"|xapp-\d{6,}-[A-Za-z0-9/+]{20,})" + _END,
        "Slack bot, user, app, workspace, refresh and configuration tokens",
        min_entropy=2.5,
        priority=85,
    ),
    D(
        "slack_webhook",
        r"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9+/_\-]{20,})",
        "Slack incoming webhook URL (the path after /services/ is redacted)",
        # Webhook URLs are structural credentials: host and path shape say what they are, and the
        # path is the credential whatever its entropy. A placeholder (".../services/Txxxx/Bxxxx/xxxx")
        # costs a marker; a missed real one lets anyone post to the channel. No placeholder check.
        placeholder_check=False,
        priority=85,
    ),
    D(
        "discord_bot_token",
        r"(?P<secret>[MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38})" + _END,
        "Discord bot token",
        validators=("mixed_charset",),
        priority=75,
    ),
    D(
        "discord_webhook",
        r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{15,20}/(?P<secret>[A-Za-z0-9_\-]{60,80})",
        "Discord webhook URL",
        placeholder_check=False,  # see slack_webhook
        priority=85,
    ),
    D(
        "telegram_bot_token",
        r"\b(?P<secret>[0-9]{5,16}:A[A-Za-z0-9_\-]{32,34})" + _END,
        "Telegram bot token",
        priority=80,
    ),
    D(
        "msteams_webhook",
        r"(?P<secret>https://(?:[a-z0-9\-]+\.webhook\.office\.com/webhookb2|outlook\.office(?:365)?\.com/webhook)/[A-Za-z0-9\-]+@[A-Za-z0-9\-]+/IncomingWebhook/[A-Za-z0-9]+/[A-Za-z0-9\-]+)",
        "Microsoft Teams incoming webhook URL",
        placeholder_check=False,  # see slack_webhook
        priority=85,
    ),
    D(
        "atlassian_token",
        r"\b(?P<secret>ATATT3[A-Za-z0-9_\-=]{100,300}|ATCTT3[A-Za-z0-9_\-=]{100,300})" + _END,
        "Atlassian API token",
        priority=80,
    ),
    D(
        "notion_token",
        r"\b(?P<secret>ntn_\d{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})\b",
        "Notion integration token",
        validators=("mixed_charset",),
        priority=80,
    ),
    D(
        "linear_api_key",
        r"\b(?P<secret>lin_(?:api|oauth)_[A-Za-z0-9]{40})\b",
        "Linear API key",
        priority=80,
    ),
    D(
        "figma_token",
        r"\b(?P<secret>figd_[A-Za-z0-9_\-]{40})" + _END,
        "Figma personal access token",
        priority=80,
    ),
    D(
        "sendgrid_key",
        r"\b(?P<secret>SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{16,64})" + _END,
        "SendGrid API key",
        priority=85,
    ),
    D(
        "sendinblue_key",
        r"\b(?P<secret>xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16})\b",
        "Brevo (Sendinblue) API key",
        priority=80,
    ),
    D(
        "mailchimp_key",
        r"\b(?P<secret>[0-9a-f]{32}-us\d{1,2})\b",
        "Mailchimp API key",
        priority=80,
    ),
    D(
        "mailgun_key",
        r"\b(?P<secret>key-[0-9a-z]{32})\b",
        "Mailgun private API key",
        priority=75,
    ),
    D(
        "twilio_key",
        r"\b(?P<secret>(?:AC|SK)[0-9a-f]{32})\b",
        "Twilio account SID or API key SID",
        severity="medium",
        priority=70,
    ),
    D(
        "postmark_token",
        r"(?i)(?P<key>[\w\-]*postmark[\w\-]*)[\"']?" + _OP + r"[\"']?(?P<secret>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
        "Postmark server or account token",
        key_check=False,
        priority=70,
    ),
    # ------------------------------------------------------------------ AI and data services
    D(
        "openai_key",
        r"\b(?P<secret>sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{16,200}T3BlbkFJ[A-Za-z0-9_\-]{16,200})" + _END,
        "OpenAI API key (project, service-account, admin and legacy keys)",
        priority=85,
    ),
    D(
        "anthropic_key",
        r"\b(?P<secret>sk-ant-(?:api\d\d|admin\d\d|sid\d\d|oat\d\d|ort\d\d)-[A-Za-z0-9_\-]{93}AA)" + _END,
        "Anthropic API or admin key",
        priority=85,
    ),
    D(
        "huggingface_token",
        r"\b(?P<secret>hf_[A-Za-z0-9]{34}|api_org_[A-Za-z0-9]{34})\b",
        "Hugging Face user or organization token",
        min_entropy=3.0,
        validators=("mixed_charset",),
        priority=85,
    ),
    D(
        "groq_key",
        r"\b(?P<secret>gsk_[A-Za-z0-9]{52})\b",
        "Groq API key",
        priority=80,
    ),
    D(
        "perplexity_key",
        r"\b(?P<secret>pplx-[A-Za-z0-9]{48})\b",
        "Perplexity API key",
        priority=80,
    ),
    D(
        "tavily_key",
        r"\b(?P<secret>tvly-(?:dev-|prod-)?[A-Za-z0-9]{32})\b",
        "Tavily API key",
        priority=80,
    ),
    D(
        "jina_key",
        r"\b(?P<secret>jina_[a-f0-9]{32}[A-Za-z0-9]{30})\b",
        "Jina AI API key",
        priority=80,
    ),
    D(
        "firecrawl_key",
        r"\b(?P<secret>fc-[a-f0-9]{32})\b",
        "Firecrawl API key",
        priority=70,
    ),
    D(
        "replicate_token",
        r"\b(?P<secret>r8_[A-Za-z0-9]{37})\b",
        "Replicate API token",
        validators=("mixed_charset",),
        priority=75,
    ),
    D(
        "langsmith_key",
        r"\b(?P<secret>lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10})\b",
        "LangSmith API key",
        priority=80,
    ),
    D(
        "databricks_or_grafana_key",
        r"\b(?P<secret>eyJrIjoi[A-Za-z0-9+/=_\-]{40,400})",
        "Grafana API key (base64 JSON with a \"k\" field)",
        kind="grafana_token",
        priority=80,
    ),
    D(
        "grafana_token",
        r"\b(?P<secret>glc_[A-Za-z0-9+/]{32,400}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})" + _END_B64,
        "Grafana Cloud or service-account token",
        min_entropy=3.0,
        priority=85,
    ),
    D(
        "sentry_token",
        r"\b(?P<secret>sntrys_eyJ[A-Za-z0-9+/=_\-]{50,}|sntryu_[a-f0-9]{64}\b)",
        "Sentry organization or user auth token",
        min_entropy=3.0,
        priority=80,
    ),
    D(
        "newrelic_key",
        r"\b(?P<secret>NRAK-[A-Z0-9]{27}|NRAA-[a-f0-9]{27}|NRII-[A-Za-z0-9_\-]{32}|NRIQ-[A-Za-z0-9_\-]{32}|NRRA-[a-f0-9]{42}|NRJS-[a-f0-9]{19}|[A-Za-z0-9]{36}NRAL|px-(?:api|dep)-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})" + _END,
        "New Relic user, admin, ingest, query, REST, browser and license keys; Pixie keys",
        placeholder_check=True,
        priority=80,
    ),
    D(
        "datadog_key",
        r"(?i)(?P<key>(?:dd|datadog)[_\-]?(?:api|app(?:lication)?)[_\-]?key)[\"']?" + _OP + r"[\"']?(?P<secret>[a-f0-9]{32}|[a-f0-9]{40})\b",
        "Datadog API or application key",
        key_check=False,
        priority=80,
    ),
    D(
        "segment_token",
        r"\b(?P<secret>sgp_[A-Za-z0-9]{64})\b",
        "Segment public API token",
        priority=75,
    ),
    D(
        "sourcegraph_token",
        r"\b(?P<secret>sgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40})\b",
        "Sourcegraph access token",
        min_entropy=3.0,
        priority=80,
    ),
    D(
        "sourcegraph_token_legacy",
        r"(?i)(?P<key>sourcegraph[\w.\-]{0,30})[\"']?" + _OP + r"[\"']?(?P<secret>[a-fA-F0-9]{40})\b",
        "Sourcegraph access token in the older 40-hex format, next to a sourcegraph name",
        kind="sourcegraph_token",
        key_check=False,
        priority=75,
    ),
    D(
        "kagi_key",
        r"(?i)(?:kagi[\w\-]*key[\"']?" + _OP + r"[\"']?|kagi\.com/[\w/]*\?(?:[\w=&]*&)?token=)(?P<secret>[A-Za-z0-9_\-]{11}\.[A-Za-z0-9_\-]{30,50})" + _END,
        "Kagi API key",
        priority=80,
    ),
    D(
        "sumologic_access_id",
        r"(?i)(?P<key>sumo(?:logic)?[\w.\-]{0,20}?access[_.\-]?id)[\"']?" + _OP + r"[\"']?(?P<secret>su[A-Za-z0-9]{12})\b",
        "Sumo Logic access id (its access key is caught as a generic access key)",
        kind="sumologic_key",
        key_check=False,
        validators=("has_digit",),
        priority=75,
    ),
    D(
        "cloudant_password",
        r"(?i)(?P<key>\bcl(?:ou|oudant)?[_\-]?(?:api[_\-]?)?(?:pw|pass|password|key|pwd))[\"']?" + _OP + r"[\"']?(?P<secret>[0-9a-z]{24}|[0-9a-f]{64})\b",
        "IBM Cloudant password or API key",
        kind="cloudant_key",
        key_check=False,
        priority=70,
    ),
    D(
        "cloudant_url",
        r"https?://[\w\-]+:(?P<secret>[0-9a-z]{24}|[0-9a-f]{64})@[\w\-]+\.cloudant\.com",
        "IBM Cloudant credentials in a URL",
        kind="cloudant_key",
        priority=85,
    ),
    D(
        "thingsboard_token",
        r"thingsboard\.cloud/api/v1/(?P<secret>[a-z0-9]{20})/",
        "ThingsBoard device access token in an API URL",
        priority=75,
    ),
    D(
        "truenas_key",
        r"login_with_api_key\"\s*,\s*\"params\"\s*:\s*\[\s*\"(?P<secret>\d+-[A-Za-z0-9]{64})\"",
        "TrueNAS API key (WebSocket login)",
        priority=80,
    ),
    D(
        "airtable_token",
        r"\b(?P<secret>pat[A-Za-z0-9]{14}\.[a-f0-9]{64})\b",
        "Airtable personal access token",
        priority=80,
    ),
    D(
        "adafruit_key",
        r"\b(?P<secret>aio_[A-Za-z0-9]{28})\b",
        "Adafruit IO key",
        priority=80,
    ),
    D(
        "adobe_client_secret",
        r"\b(?P<secret>p8e-[A-Za-z0-9_\-]{32})" + _END,
        "Adobe OAuth client secret",
        priority=80,
    ),
    D(
        "authress_key",
        r"\b(?P<secret>(?:sc|ext|scauth|authress)_[a-z0-9]{5,30}\.[a-z0-9]{4,6}\.acc[_\-][a-z0-9\-]{10,32}\.[a-z0-9+/_=\-]{30,120})" + _END,
        "Authress service client access key",
        priority=80,
    ),
    D(
        "contentful_token",
        r"\b(?P<secret>CFPAT-[A-Za-z0-9_\-]{43})" + _END,
        "Contentful personal access token",
        priority=80,
    ),
    D(
        "duffel_token",
        r"\b(?P<secret>duffel_(?:test|live)_[A-Za-z0-9_\-=]{43})" + _END,
        "Duffel API token",
        priority=80,
    ),
    D(
        "easypost_key",
        r"(?:^|[^A-Za-z0-9+/=])(?P<secret>EZ[AT]K[A-Za-z0-9]{54})\b",
        "EasyPost API key",
        priority=80,
    ),
    D(
        "flutterwave_key",
        r"\b(?P<secret>FLWSECK_TEST-[a-h0-9]{32}-X|FLWSECK_TEST[a-h0-9]{12})\b",
        "Flutterwave secret or encryption key",
        priority=80,
    ),
    D(
        "frameio_token",
        r"\b(?P<secret>fio-u-[A-Za-z0-9_\-=]{64})" + _END,
        "Frame.io API token",
        priority=80,
    ),
    D(
        "intra42_secret",
        r"\b(?P<secret>s-s4t2(?:ud|af)-[a-f0-9]{64})\b",
        "42 Intra client secret",
        priority=80,
    ),
    D(
        "maxmind_key",
        r"\b(?P<secret>[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk)\b",
        "MaxMind license key",
        priority=80,
    ),
    D(
        "settlemint_token",
        r"\b(?P<secret>sm_(?:pat|aat|sat)_[A-Za-z0-9]{16})\b",
        "SettleMint access token",
        priority=80,
    ),
    D(
        "shippo_token",
        r"\b(?P<secret>shippo_(?:live|test)_[a-f0-9]{40})\b",
        "Shippo API token",
        priority=80,
    ),
    D(
        "typeform_token",
        r"\b(?P<secret>tfp_[A-Za-z0-9_\-.=]{59})",
        "Typeform personal access token",
        priority=80,
    ),
    D(
        "twitch_stream_key",
        r"\b(?P<secret>live_\d{6,12}_[A-Za-z0-9]{30})\b",
        "Twitch stream key",
        priority=75,
    ),
    D(
        "twitter_bearer_token",
        r"\b(?P<secret>A{22}[A-Za-z0-9%]{80,})",
        "Twitter (X) app bearer token",
        priority=80,
    ),
    D(
        "salesforce_token",
        r"\b(?P<secret>00[A-Za-z0-9]{13}![A-Za-z0-9_.]{96})",
        "Salesforce access token",
        priority=80,
    ),
    D(
        "age_secret_key",
        r"\b(?P<secret>AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b",
        "age encryption secret key",
        severity="critical",
        placeholder_check=False,
        priority=90,
    ),
    D(
        "onepassword_token",
        r"\b(?P<secret>ops_eyJ[A-Za-z0-9+/]{250,}={0,3})",
        "1Password service-account token",
        priority=85,
    ),
    D(
        "onepassword_secret_key",
        r"\b(?P<secret>A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b",
        "1Password account secret key",
        validators=("has_digit",),
        priority=85,
    ),
    D(
        "okta_token",
        r"\b(?P<secret>00[A-Za-z0-9_\-]{40})" + _END,
        "Okta API token",
        keywords=("okta", "ssws"),
        min_entropy=3.0,
        validators=("mixed_charset",),
        priority=60,
    ),
    D(
        "dropbox_token",
        r"\b(?P<secret>sl\.(?:u\.)?[A-Za-z0-9_\-]{130,1000})",
        "Dropbox short-lived access token",
        priority=80,
    ),
    D(
        "facebook_token",
        r"\b(?P<secret>EAA[A-Z0-9][A-Za-z0-9]{80,400})\b",
        "Facebook (Meta) access token",
        validators=("mixed_charset",),
        priority=75,
    ),
    D(
        "facebook_app_token",
        r"\b(?P<secret>\d{15,16}(?:\||%7C)[A-Za-z0-9_\-]{27})" + _END,
        "Facebook app access token (app id|secret)",
        priority=75,
    ),
    D(
        "mapbox_secret_token",
        r"\b(?P<secret>[st]k\.eyJ[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{20,})",
        "Mapbox secret or temporary token (public pk. tokens are not flagged)",
        priority=80,
    ),
    # ------------------------------------------------------------------ payments
    D(
        "stripe_key",
        r"\b(?P<secret>(?:sk|rk)_(?:live|test|prod)_[0-9A-Za-z]{10,247}|whsec_[A-Za-z0-9]{32,})\b",
        "Stripe secret, restricted or webhook signing key (publishable pk_ keys are not flagged)",
        priority=85,
    ),
    D(
        "square_token",
        r"\b(?P<secret>(?:sandbox-)?sq0(?:atp|csp|atb)-[0-9A-Za-z_\-]{22,50}|EAAA[A-Za-z0-9_\-+=]{40,64})" + _END,
        "Square access token or OAuth secret",
        validators=("mixed_charset",),
        priority=80,
    ),
    D(
        "shopify_token",
        r"\b(?P<secret>shp(?:ss|at|ca|pa)_[a-fA-F0-9]{32})\b",
        "Shopify access token or shared secret",
        priority=85,
    ),
    D(
        "plaid_token",
        r"\b(?P<secret>access-(?:sandbox|development|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
        "Plaid access token",
        priority=80,
    ),
    D(
        "sidekiq_secret",
        r"(?i)BUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM[\"']?\s*[:=]\s*[\"']?(?P<secret>[a-f0-9]{8}:[a-f0-9]{8})\b",
        "Sidekiq Pro/Enterprise gem credentials",
        placeholder_check=False,
        priority=80,
    ),
    # ------------------------------------------------------------------ tokens with structure
    D(
        "jwt",
        r"\b(?P<secret>eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{2,}(?:\.[A-Za-z0-9_\-]*)?(?:\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)?)",
        "JSON Web Token (JWS, or JWE with five parts)",
        validators=("jwt",),
        severity="high",
        priority=75,
    ),
    D(
        "password_hash",
        r"(?P<secret>\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}"
        r"|\$1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}"
        r"|\$5\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43}"
        r"|\$6\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}"
        r"|\$8\$[./A-Za-z0-9]{14}\$[./A-Za-z0-9]{43}"
        r"|\$9\$[./A-Za-z0-9]{14}\$[./A-Za-z0-9]{43}"
        r"|\$krb5(?:asrep|tgs)\$\d+\$[^\s]{0,300}?[a-f0-9]{32}\$[a-f0-9]{64,})",
        "Password hashes (bcrypt, md5crypt, sha256crypt, sha512crypt, Cisco type 8/9, Kerberos AS-REP/TGS)",
        severity="medium",
        placeholder_check=False,
        priority=70,
    ),
    # ------------------------------------------------------------------ credentials in URLs
    D(
        "database_url",
        r"(?i)\b(?:postgres(?:ql)?|mysql|mysqlx|mariadb|mongodb(?:\+srv)?|redis|rediss|mssql|sqlserver|oracle|cockroachdb|clickhouse|neo4j|neo4j\+s|bolt|couchdb|cassandra|snowflake|db2|jdbc:[a-z0-9]+|memcached|elasticsearch|influxdb|arangodb)://"
        r"[^:@/\s'\"<>]*:(?P<secret>[^\s'\"<>]{1,200}?)@(?:[A-Za-z0-9_\-.%]+|\[[0-9A-Fa-f:.]+\])(?::\d+)?(?:[/?#,;:\s'\"<>]|$)",
        "Password in a database connection URL (postgres://user:pass@host, mongodb+srv://, redis://, ...)",
        validators=("url_password",),
        severity="critical",
        priority=80,
    ),
    D(
        "broker_url",
        r"(?i)\b(?:amqps?|mqtts?|stomp|nats|kafka|sasl_ssl|rabbitmq|activemq|zmq|pulsar)://"
        r"[^:@/\s'\"<>]*:(?P<secret>[^\s'\"<>]{1,200}?)@(?:[A-Za-z0-9_\-.%]+|\[[0-9A-Fa-f:.]+\])(?::\d+)?(?:[/?#,;:\s'\"<>]|$)",
        "Password in a message-broker URL (amqp://user:pass@host, mqtt://, nats://, ...)",
        validators=("url_password",),
        severity="critical",
        priority=80,
    ),
    D(
        "url_credentials",
        r"(?i)\b[a-z][a-z0-9+.\-]{1,20}://[^:@/\s'\"<>]*:(?P<secret>[^\s'\"<>/]{1,200}?)@(?:[A-Za-z0-9_\-.%]+|\[[0-9A-Fa-f:.]+\])(?::\d+)?(?:[/?#,;:\s'\"<>)]|$)",
        "user:password@ in any other URL (https, ftp, ssh, git, ...)",
        validators=("url_password",),
        severity="high",
        priority=70,
    ),
    # ------------------------------------------------------------------ HTTP authorization
    D(
        "basic_auth_header",
        r"(?i)(?:authorization|proxy-authorization)[\"']?\s*[:=]\s*[\"']?\s*basic\s+(?P<secret>[A-Za-z0-9+/]{4,}={0,2})",
        "HTTP Basic credentials in an Authorization header",
        kind="basic_auth",
        validators=("basic_auth",),
        priority=80,
    ),
    D(
        "bearer_token",
        r"(?i)(?:authorization|proxy-authorization)[\"']?\s*[:=]\s*[\"']?\s*(?:(?:bearer|token|api-token|apikey|api-key|sso-key|ssws|dpop|pat|jwt|oauth|key)\s*[:=]?\s+)?(?P<secret>[A-Za-z0-9\-._~+/=:@!$%^*]{8,})",
        "Credential in an Authorization header (Bearer, Token, SSWS, bare)",
        priority=70,
    ),
    D(
        "bearer_token_bare",
        r"\b[Bb]earer\s+(?P<secret>[A-Za-z0-9\-._~+/]{16,}=*)",
        "A Bearer token outside a header line (\"Bearer abc...\" in JSON or code)",
        kind="bearer_token",
        validators=("has_digit",),
        priority=65,
    ),
    # ------------------------------------------------------------------ command lines and config formats
    D(
        "curl_user_password",
        r"(?:^|\s)(?:-u|--user|--proxy-user)(?:\s+|=)[\"']?(?P<user>[^\s:'\"<>]*)[\"']?:[\"']?(?P<secret>[^\s'\"<>]+)[\"']?",
        "curl -u user:password",
        kind="cli_password",
        keywords=("curl",),
        priority=75,
    ),
    D(
        "cli_secret_flag",
        r"(?:^|[\s\"'])--?(?P<key>(?:[A-Za-z][A-Za-z0-9\-_]*)?" + _KEYWORDISH + r"[A-Za-z0-9\-_]*)(?:=|[ \t]+)(?:\"(?P<secret>[^\"\r\n]{1,500})\"|'(?P<secret2>[^'\r\n]{1,500})'|(?P<secret_bare>[^\s'\"]{1,500}))",
        "A secret passed as a command-line flag (--password=..., --token ..., -Password ...)",
        kind="cli_password",
        validators=("generic_value",),
        priority=60,
    ),
    D(
        "curl_user_token",
        r"(?:^|\s)(?:-u|--user)(?:\s+|=)[\"']?(?P<secret>[^\s:'\"<>]{8,200}):[\"']?(?:[\s;|&]|$)",
        "curl -u <token>: (an API key sent as the user name with an empty password, as Stripe and Elasticsearch document)",
        kind="cli_password",
        keywords=("curl",),
        min_entropy=3.0,
        validators=("mixed_charset", "has_digit", "generic_value"),
        priority=75,
    ),
    D(
        "psexec_password",
        r"(?i)psexec(?:\.exe)?\b[^\n]{0,300}?\s-p\s+(?P<secret>\"[^\"]+\"|[^\s\"]+)",
        "Password given to PsExec -p",
        kind="cli_password",
        priority=70,
    ),
    D(
        "mysql_password_flag",
        r"\bmysql(?:dump|admin)?\b[^\n]{0,200}?\s-p(?P<secret>[^\s'\"-][^\s'\"]{3,})",
        "Password glued to mysql -p",
        kind="cli_password",
        validators=("generic_value",),
        priority=70,
    ),
    D(
        "jenkins_initial_password",
        r"(?i)use the following password to proceed to installation:\s+(?P<secret>[a-f0-9]{32})\b",
        "The Jenkins initial admin password as its first start prints it (docker logs, console output)",
        kind="generic_password",
        priority=75,
    ),
    D(
        "netrc_password",
        r"(?i)\bmachine\s+\S+\s+login\s+\S+\s+password\s+(?P<secret>\S+)",
        ".netrc credentials",
        kind="generic_password",
        priority=75,
    ),
    D(
        "dotnet_credential",
        r"(?:NetworkCredential|DirectoryEntry|PSCredential)\s*\(\s*(?:\"[^\"]*\"\s*,\s*)?\"[^\"]*\"\s*,\s*\"(?P<secret>[^\"]{3,200})\"",
        "Password given to .NET NetworkCredential / DirectoryEntry",
        kind="generic_password",
        validators=("generic_value",),
        priority=70,
    ),
    D(
        "xml_key_value",
        r"(?i)<add\s+key\s*=\s*\"(?P<key>[^\"]*" + _KEYWORDISH + r"[^\"]*)\"\s+value\s*=\s*\"(?P<secret>[^\"]{1,500})\"",
        "<add key=\"...Password\" value=\"...\"/> in .NET and NuGet config files",
        kind="generic_password",
        validators=("generic_value",),
        priority=60,
    ),
    D(
        "password_in_prose",
        r"(?i)\b(?:password|passphrase|passwd)\b[^\n]{0,50}?\bis\s*[:=]?\s*(?:\"(?P<secret>[^\"\n]{3,64})\"|'(?P<secret2>[^'\n]{3,64})')",
        "\"the password is 'hunter2'\" in prose and comments",
        kind="generic_password",
        validators=("generic_value",),
        priority=55,
    ),
    # ------------------------------------------------------------------ generic assignments
    D(
        "generic_assignment",
        r"(?:\\\"|[\"'`\[]|\$|^|[^/A-Za-z0-9_$@.\-])(?P<key>" + _KEY + r")(?:\\\"|[\"'`\]])?" + _TYPE + _OP + _VALUE,
        "<name> = <literal> where the name says credential (password, token, api_key, secret, ...)",
        kind="generic_secret",
        validators=("generic_value",),
        priority=40,
    ),
    D(
        "generic_quoted_pair",
        r"[\"'](?P<key>" + _KEY + r")[\"']\s*,\s*" + _QVALUE,
        "(\"API_TOKEN\", \"literal\") argument pairs: setProperty, getenv defaults, dict literals",
        kind="generic_secret",
        validators=("generic_value", "random_token"),
        priority=40,
    ),
    D(
        "generic_spaced_quoted",
        r"(?m)^[ \t]*(?P<key>(?:[A-Za-z_][A-Za-z0-9_\-]*)?" + _KEYWORDISH + r"[A-Za-z0-9_\-]*)[ \t]+" + _QVALUE
        + r"[ \t]*(?:[;,}]|//|#|$)",
        "name \"literal\" alone on its line (Gradle, nginx and Apache style directives; not prose)",
        kind="generic_secret",
        validators=("generic_value",),
        priority=40,
    ),
    D(
        "generic_xml_element",
        r"<(?P<key>(?:[A-Za-z_][A-Za-z0-9_.\-:]*)?" + _KEYWORDISH + r"[A-Za-z0-9_.\-]*)>\s*(?P<secret>[^<>\s][^<>\r\n]{0,499}?)\s*</",
        "<password>literal</password> and friends",
        kind="generic_secret",
        validators=("generic_value",),
        priority=40,
    ),
)


# --------------------------------------------------------------------------- windows and anchors
#
# Most detectors match within a line or a few: the scanner confirms them with RE2 only
# on the lines around where Hyperscan saw them (`window` = the longest match, in bytes).
# Patterns with an open-ended tail would make Hyperscan report every possible end, so
# they get an `anchor`: a short pattern that fires once near the start of a match.

_WHOLE_TEXT = {"private_key", "private_key_header", "putty_private_key"}
_ASSIGN_ANCHOR = r"(?:\\\"|[\"'`\[]|\$|^|[^/A-Za-z0-9_$@.\-])" + _KEY + r"(?:\\\"|[\"'`\]])?" + _TYPE + _OP + r"[^\s]"
_ANCHORS = {
    "generic_assignment": _ASSIGN_ANCHOR,
    "generic_quoted_pair": r"[\"']" + _KEY + r"[\"']\s*,\s*[\"'`]",
    "generic_spaced_quoted": r"(?m)^[ \t]*(?:[A-Za-z_][A-Za-z0-9_\-]*)?" + _KEYWORDISH + r"[A-Za-z0-9_\-]*[ \t]+[\"'`\\]",
    "generic_xml_element": r"<(?:[A-Za-z_][A-Za-z0-9_.\-:]*)?" + _KEYWORDISH + r"[A-Za-z0-9_.\-]*>",
    "cli_secret_flag": r"(?:^|[\s\"'])--?(?:[A-Za-z][A-Za-z0-9\-_]*)?" + _KEYWORDISH + r"[A-Za-z0-9\-_]*(?:=|[ \t]+)[^\s]",
    "curl_user_password": r"(?:^|\s)(?:-u|--user|--proxy-user)(?:\s+|=)",
    "curl_user_token": r"(?:^|\s)(?:-u|--user)(?:\s+|=)",
    "bearer_token": r"(?i)(?:authorization|proxy-authorization)[\"']?\s*[:=]",
    "basic_auth_header": r"(?i)(?:authorization|proxy-authorization)[\"']?\s*[:=]\s*[\"']?\s*basic\s",
    "bearer_token_bare": r"\b[Bb]earer\s+[A-Za-z0-9\-._~+/]",
    "slack_webhook": r"hooks\.slack\.com/(?:services|workflows|triggers)/",
    "jwt": r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ",
    "aws_bedrock_key_short": r"\bbedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t",
    "gcp_oauth_token": r"\bya29\.",
    "vault_token": r"\bhv[sbr]\.[A-Za-z0-9_\-]{24}",
    "flyio_token": r"\b(?:FlyV1 fm|fm[12][ar]?_|fo1_)",
    "onepassword_token": r"\bops_eyJ",
    "sentry_token": r"\bsntry[su]_",
    "dropbox_token": r"\bsl\.(?:u\.)?[A-Za-z0-9_\-]{130}",
    "twitter_bearer_token": r"\bA{22}[A-Za-z0-9%]{80}",
    "pypi_token": r"\bpypi-Ag(?:EIcHlwaS5vcmc|ENdGVzdC5weXBpLm9yZw)",
    "databricks_or_grafana_key": r"\beyJrIjoi",
    "mapbox_secret_token": r"\b[st]k\.eyJ",
    "azure_storage_key": r"(?i)\b(?:AccountKey|AzureStorageKey|StorageAccountKey)\s*[=:]",
    "azure_connection_string": r"(?i)\b(?:SharedAccessKey|SharedSecretValue|Secret)\s*=",
    "azure_sas_token": r"[?&]sig=",
    "vault_unseal_key": r"(?i)(?:unseal key(?: \d+)?\s*:|operator unseal)",
    "aws_session_token": r"(?i)aws[_.\-]?session[_.\-]?token",
    "npmrc_auth_token": r"/:_(?:authToken|password|auth)\s*=",
    "psexec_password": r"(?i)psexec",
    "mysql_password_flag": r"\bmysql",
    "discord_webhook": r"discord(?:app)?\.com/api/webhooks/",
    "msteams_webhook": r"https://(?:[a-z0-9\-]+\.webhook\.office\.com/webhookb2|outlook\.office(?:365)?\.com/webhook)/",
    "password_hash": r"\$(?:2[abxy]?|1|5|6|8|9|krb5asrep|krb5tgs)\$",
    "slack_token": r"\bx(?:ox[abposre]|app)[.\-]",
    "private_key_base64": r"LS0tLS1CRUdJTi",
    "atlassian_token": r"\bAT[AC]TT3",
}


#: anchored detectors whose match ends within a value of at most 500 characters
_SHORT = {"generic_assignment", "generic_quoted_pair", "generic_spaced_quoted", "generic_xml_element", "cli_secret_flag", "curl_user_password", "curl_user_token", "basic_auth_header", "azure_storage_key", "azure_connection_string", "vault_unseal_key", "npmrc_auth_token", "mysql_password_flag"}


#: detectors whose matches never contain a line break and whose anchor ends on the match's
#: line (its last byte is the value's first): confirmed on that line alone
_SINGLE_LINE = {"generic_assignment", "cli_secret_flag"}


def _finish(spec: DetectorSpec) -> DetectorSpec:
    if spec.id in _WHOLE_TEXT or spec.re2_pass:
        return spec
    return replace(spec, window=640 if spec.id in _SHORT else 4096, anchor=_ANCHORS.get(spec.id), single_line=spec.id in _SINGLE_LINE)


BUILTIN = tuple(_finish(s) for s in BUILTIN)

#: Detectors that are off unless asked for (``Scanner.build(extra=[OPTIONAL["..."]])``,
#: ``bastion scan --enable ID``). None at present.
OPTIONAL: dict[str, DetectorSpec] = {}
