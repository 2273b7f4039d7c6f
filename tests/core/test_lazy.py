"""The packages' lazy re-exports: names resolve on first use, unknown names fail as for any module."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from bastion._lazy import lazy_exports

PACKAGES = ["bastion", "bastion.approvals", "bastion.lifecycle", "bastion.integrations", "bastion.state"]


def test_a_name_is_imported_from_its_module_and_kept_when_asked() -> None:
    kept: dict[str, object] = {}
    getattr_ = lazy_exports("pkg", {"dumps": "json"}, kept)
    import json

    assert getattr_("dumps") is json.dumps
    assert kept == {"dumps": json.dumps}
    assert lazy_exports("pkg", {"dumps": "json"})("dumps") is json.dumps


def test_an_unknown_name_says_which_module() -> None:
    with pytest.raises(AttributeError, match=r"^module 'pkg' has no attribute 'nope'$"):
        lazy_exports("pkg", {"dumps": "json"})("nope")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None
    with pytest.raises(AttributeError, match=rf"^module '{package}' has no attribute 'nope'$"):
        module.nope  # noqa: B018


def test_importing_bastion_loads_no_engine() -> None:
    code = "import sys, bastion; print([m for m in ('bastion.engine', 'bastion.model', 'bastion.integrations') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
