"""``${{ ... }}`` references: typed whole values, text inside strings, never a split."""

from __future__ import annotations

import pytest

from lifeboat.runbook import templates
from lifeboat.runbook.templates import Scope, TemplateError

SCOPE = Scope(
    params={"port": 8443, "msg": "a b; rm -rf / $(id)", "flag": True},
    hosts={"web-b": {"address": "198.51.100.7", "port": 2222, "user": "deploy", "site": "fra-1"}},
    sites={"fra-1": {"provider": "aws", "region": "eu-central-1", "datacenter": None}},
    run={"mode": "drill"},
)


def test_whole_reference_keeps_its_type() -> None:
    assert templates.render("${{ params.port }}", SCOPE) == 8443
    assert templates.render("${{hosts.web-b.port}}", SCOPE) == 2222
    assert templates.render("${{ params.flag }}", SCOPE) is True


def test_reference_inside_text_is_substituted() -> None:
    rendered = templates.render("https://${{ hosts.web-b.address }}:${{ params.port }}/", SCOPE)
    assert rendered == "https://198.51.100.7:8443/"
    assert templates.render("mode=${{ run.mode }} on=${{ params.flag }}", SCOPE) == (
        "mode=drill on=true"
    )


def test_rendered_value_stays_one_argv_item() -> None:
    argv = templates.render(["echo", "${{ params.msg }}", "say ${{ params.msg }}"], SCOPE)
    assert argv == ["echo", "a b; rm -rf / $(id)", "say a b; rm -rf / $(id)"]


def test_missing_optional_field_renders_empty_text() -> None:
    assert templates.render("dc=${{ sites.fra-1.datacenter }}", SCOPE) == "dc="


def test_nested_structures_are_rendered() -> None:
    value = {"a": ["${{ run.mode }}", {"b": "${{ sites.fra-1.region }}"}], "n": 3}
    assert templates.render(value, SCOPE) == {"a": ["drill", {"b": "eu-central-1"}], "n": 3}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("params.nope", "undefined parameter 'nope' in 'params.nope'"),
        ("params.port.x", "'params.port.x': write params.NAME"),
        ("hosts.web-z.address", "undefined host 'web-z' in 'hosts.web-z.address'"),
        ("hosts.web-b", "'hosts.web-b': write hosts.NAME.FIELD"),
        ("hosts.web-b.password", "'hosts.web-b.password': a host has address, port, user, site"),
        ("run.secret", "'run.secret': run has mode, reason, incident, detected_at, id"),
        (
            "env.HOME",
            "invalid reference 'env.HOME': use params.NAME, hosts.NAME.FIELD, "
            "sites.NAME.FIELD or run.FIELD",
        ),
        (
            "params.port | shell",
            "invalid reference 'params.port | shell': use params.NAME, "
            "hosts.NAME.FIELD, sites.NAME.FIELD or run.FIELD",
        ),
    ],
)
def test_bad_references_are_named(expression: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        templates.check(expression, SCOPE)
    assert str(info.value) == message


def test_unclosed_reference() -> None:
    with pytest.raises(TemplateError, match="unclosed"):
        templates.references("x ${{ params.port")


def test_strings_walks_with_paths() -> None:
    found = list(templates.strings({"a": ["x", {"b": "y"}], "c": 1}, ("root",)))
    assert found == [(("root", "a", 0), "x"), (("root", "a", 1, "b"), "y")]
