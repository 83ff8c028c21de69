"""Redaction of known secrets and secret-shaped text."""

from __future__ import annotations

from lifeboat.redact import MASK, Redactor


def test_known_secret_inside_longer_text() -> None:
    assert Redactor(["s3cr3t-value"]).text("auth=s3cr3t-value;") == f"auth={MASK};"


def test_url_credentials() -> None:
    redactor = Redactor()
    assert redactor.text("mailtos://me:pa55@smtp.example.com:465") == (
        f"mailtos://me:{MASK}@smtp.example.com:465"
    )
    assert redactor.text("json://127.0.0.1:8080/hook") == "json://127.0.0.1:8080/hook"


def test_secret_query_parameters() -> None:
    assert (
        Redactor().text("https://h/x?a=1&api_key=XYZ&b=2") == f"https://h/x?a=1&api_key={MASK}&b=2"
    )


def test_secret_named_keys_in_nested_data() -> None:
    data = {"db": {"password": "pw", "user": "u"}, "items": [{"token": "t0k3n"}], "n": 3}
    assert Redactor().data(data) == {
        "db": {"password": MASK, "user": "u"},
        "items": [{"token": MASK}],
        "n": 3,
    }


def test_tiny_secrets_are_not_masked_everywhere() -> None:
    assert Redactor(["a"]).text("a cat") == "a cat"


def test_a_port_before_a_query_with_an_address_is_no_password() -> None:
    url = "mailto://127.0.0.1:2525?from=lifeboat@example.com&to=ops@example.com"
    assert Redactor().text(url) == url
    assert Redactor().text("mailto://bob:s3cret@smtp.example.com:2525?to=a@b.c") == (
        f"mailto://bob:{MASK}@smtp.example.com:2525?to=a@b.c"
    )
