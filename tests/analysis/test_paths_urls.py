"""Paths are normalised before matching; URLs are parsed with every IP spelling decoded."""

from __future__ import annotations

import pytest

from bastion.analysis.paths import normalize, path_facts, secret_kind
from bastion.analysis.urls import host_facts, parse_legacy_ipv4, redact_userinfo, url_facts


@pytest.mark.parametrize(
    "raw, cwd, expected",
    [
        ("./config/../.env", None, ".env"),
        ("a//b///c/", None, "a/b/c"),
        ("/tmp/../etc", None, "/etc"),
        ("/../../etc/passwd", None, "/etc/passwd"),
        ("../x", None, "../x"),
        ("$HOME/.ssh/id_rsa", None, "~/.ssh/id_rsa"),
        ("${HOME}", None, "~"),
        ("~//.aws/./credentials", None, "~/.aws/credentials"),
        ("~/../etc", None, "~/../etc"),
        (".env", "/home/dana/repo", "/home/dana/repo/.env"),
        ("../../x", "/home/dana/repo", "/home/x"),
        ("/abs", "/home/dana/repo", "/abs"),
        ("build", "~/proj", "~/proj/build"),
        (".", None, "."),
        ("", None, ""),
    ],
)
def test_normalize(raw, cwd, expected):
    assert normalize(raw, cwd) == expected


@pytest.mark.parametrize(
    "path, kind",
    [
        (".env", "dotenv"), ("config/.ENV", "dotenv"), (".env.production", "dotenv"), ("prod.env", "dotenv"),
        ("~/.ssh/id_ed25519", "ssh_key"), ("~/.SSH/ID_RSA", "ssh_key"), ("deploy/server.KEY", "private_key"),
        ("~/.aws/credentials", "cloud_credentials"), ("x/.Kube/config", "kube_config"), ("~/.ssh", "ssh_config"),
        ("terraform.tfstate", "terraform_state"), ("/etc/shadow", "system_password"),
    ],
)
def test_secret_files_case_insensitive(path, kind):
    assert secret_kind(path) == kind


@pytest.mark.parametrize("path", [".env.example", "src/environment.ts", "id_rsa.pub", "~/.ssh/known_hosts", "~/.ssh/config", "README.md", "keyboard.py"])
def test_look_alikes_are_not_secret(path):
    assert secret_kind(path) is None


def test_path_facts():
    f = path_facts("../../etc/passwd", "/home/dana/repo")
    assert f["path"] == "/home/etc/passwd" and f["absolute"] and f["depth"] == 3
    f = path_facts("/etc/hosts")
    assert f["system"] and not f["temp"]
    f = path_facts("/tmp/../etc")
    assert f["path"] == "/etc" and f["system"] and not f["temp"]
    assert path_facts("$TMPDIR/x")["temp"]
    assert path_facts("/")["root"] and path_facts("/")["shallow"]
    assert path_facts("~")["shallow"] and path_facts("/home")["shallow"] and not path_facts("/home/dana/x")["shallow"]
    assert path_facts("~/Desktop/notes.txt")["personal"] and path_facts("/Users/dana/Documents/a")["personal"]
    assert path_facts("~/Library/Mobile Documents/x")["personal"] and not path_facts("~/src/Desktop.md")["personal"]
    assert path_facts("$X/y")["dynamic"] and path_facts("*.log")["glob"]


def test_a_project_under_documents_is_not_personal():
    project = "/Users/dana/Documents/code/app"
    inside = path_facts("src/main.py", project, project=project)
    assert inside["in_project"] and not inside["personal"]
    outside = path_facts("../../diary.txt", project, project=project)
    assert outside["path"] == "/Users/dana/Documents/diary.txt" and outside["personal"] and not outside["in_project"]
    assert path_facts("~/Desktop/x", "~/Desktop", project=project)["personal"]  # a `cd` does not move the project


@pytest.mark.parametrize(
    "host, ip",
    [
        ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"), ("10.1", "10.0.0.1"), ("0", "0.0.0.0"), ("256.1.1.1", None), ("1.2.3.4.5", None),
        ("example.com", None), ("0xfg", None),
    ],
)
def test_legacy_ipv4(host, ip):
    got = parse_legacy_ipv4(host)
    assert (str(got) if got else None) == ip


@pytest.mark.parametrize(
    "url, facts",
    [
        ("http://2130706433/", {"host": "127.0.0.1", "loopback": True, "internal": True}),
        ("http://[::1]:8080/x", {"host": "::1", "loopback": True, "port": 8080}),
        ("http://[::ffff:127.0.0.1]/", {"ip": "127.0.0.1", "loopback": True}),
        ("http://[::ffff:a9fe:a9fe]/latest", {"ip": "169.254.169.254", "metadata": True, "link_local": True}),
        ("http://169.254.169.254/latest/meta-data", {"metadata": True}),
        ("http://10.0.0.5/", {"private": True, "internal": True}),
        ("http://100.64.1.1/", {"private": True}),
        ("http://[fe80::1%25eth0]/", {"link_local": True}),
        ("HTTPS://Example.COM./a?b=1", {"scheme": "https", "host": "example.com", "port": 443, "path": "/a", "has_query": True, "internal": False}),
        ("http://bücher.example/", {"host": "xn--bcher-kva.example"}),
        ("localhost:8001/routes", {"scheme": "http", "host": "localhost", "port": 8001, "loopback": True}),
        (":9200/_cat", {"host": "localhost", "port": 9200}),
        ("https://u:p@host.example/", {"user": "u", "has_password": True}),
        ("http://metadata.google.internal/", {"metadata": True}),
        ("s3://bucket/key", {"scheme": "s3", "internal": False}),
    ],
)
def test_url_facts(url, facts):
    got = url_facts(url)
    for k, v in facts.items():
        assert got.get(k) == v, (url, k, got)


def test_url_facts_with_method_and_failures():
    assert url_facts("https://x/a", method="delete")["destructive"]
    assert url_facts("https://x/idx/_delete_by_query", method="POST")["path_verb"] == "delete"
    assert "destructive" not in url_facts("https://x/idx/_delete_by_query", method="GET")
    assert url_facts("http://[::", method="GET")["opaque"]
    assert url_facts("http://x:99999/")["opaque"]
    assert url_facts("https://x/", body_size=12)["body_size"] == 12
    assert "p4ss" not in repr(url_facts("https://u:p4ss@x/"))
    assert redact_userinfo("https://u:p4ss@x/y") == "https://u:***@x/y"
    assert redact_userinfo("https://x/y@z") == "https://x/y@z"


def test_host_facts_single_label_and_idna_errors():
    assert host_facts("build-server")["internal"]
    assert host_facts("a.b.example")["internal"] is False
    assert host_facts("xn--")["host"] == "xn--"


def test_a_project_under_srv_is_not_a_system_directory():
    assert not path_facts("app.py", "/srv/app", project="/srv/app")["system"]
    assert path_facts("/srv/other/x", "/srv/app", project="/srv/app")["system"]
    assert path_facts("/etc/hosts", "/etc", project="/etc")["system"]  # /etc is never a project
    assert path_facts("/var/lib/mysql/ibdata1", "/var/lib", project="/var/lib")["system"]
