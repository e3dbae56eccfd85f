"""Which bad setting is named first when several are bad: the order an operator has always
seen (those that decide what others mean come first)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digest.errors import ConfigError
from digest.settings import load_settings


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DIGEST_TIMEZONE": "Bad/Zone", "SMTP_PORT": "0"}, "DIGEST_TIMEZONE"),
        (
            {"DIGEST_DATABASE_URL": "nourl", "DIGEST_ARXIV_RSS_URL": "ftp://x"},
            "DIGEST_DATABASE_URL",
        ),
        ({"DIGEST_TEMPLATES_DIR": "/nonexistent", "DIGEST_FROM": "nobody"}, "DIGEST_TEMPLATES_DIR"),
        ({"DIGEST_SECRET_KEY": "short", "DIGEST_SCHEDULE": "* * *"}, "DIGEST_SECRET_KEY"),
        ({"SMTP_SECURITY": "tls", "DIGEST_SOURCES": "nope"}, "DIGEST_SOURCES"),
        ({"DIGEST_SUPPRESS_AFTER": "0", "DIGEST_FROM": "nobody"}, "DIGEST_SUPPRESS_AFTER"),
    ],
)
def test_the_first_bad_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(env, dotenv_path=None)
    assert str(raised.value).startswith(named)


def test_every_setting_is_documented() -> None:
    """An operator finds each variable the program reads in .env.example and the README."""
    root = Path(__file__).resolve().parents[2]
    read = set(
        re.findall(r'"((?:DIGEST|SMTP)_[A-Z_]+)"', (root / "digest/settings.py").read_text())
    )
    assert {"DIGEST_DATABASE_URL", "DIGEST_AUTO_MIGRATE", "SMTP_HOST"} <= read
    example = (root / ".env.example").read_text()
    readme = (root / "README.md").read_text()
    assert sorted(n for n in read if f"{n}=" not in example) == []
    table = "\n".join(line.split(" | ")[0] for line in readme.splitlines() if line[:3] == "| `")
    assert sorted(n for n in read if f"`{n}`" not in table) == []


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u:p@h:5433/db", "postgresql+psycopg://u:p@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///state/digest.db", "sqlite:///state/digest.db"),
    ],
)
def test_database_urls_as_hosting_services_write_them(given: str, used: str) -> None:
    assert load_settings({"DIGEST_DATABASE_URL": given}, dotenv_path=None).database.url == used


@pytest.mark.parametrize(
    "given", ["mysql://root:hunter2@h/db", "postgresql+psycopg2://u@h/db", "u:hunter2@h/db"]
)
def test_an_unsupported_database_url_is_one_line_without_its_password(given: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"DIGEST_DATABASE_URL": given}, dotenv_path=None)
    message = str(raised.value)
    assert "postgresql+psycopg://" in message and "\n" not in message
    assert "hunter2" not in message


def test_a_password_holding_an_at_sign_is_masked_whole() -> None:
    from digest.store.engine import safe_url

    shown = safe_url("postgresql+psycopg://digest:top@secret@db.example.org/pd")
    assert shown == "'postgresql+psycopg://digest:***@db.example.org/pd'"


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("javascript:alert(1)", "is not an http(s) URL with a host"),
        ("https:///no-host", "is not an http(s) URL with a host"),
        ("https://digest.example:99999", "is not an http(s) URL with a host"),
        ("https://digest example.org", "is not an http(s) URL with a host"),
        ("http://digest.example.org", "must be https://"),
        ("https://digest.example.org/?x=1", "must not have a query"),
    ],
)
def test_a_base_url_digests_cannot_use_is_refused_at_start(value: str, needle: str) -> None:
    """Every digest's unsubscribe, preferences and rating links carry DIGEST_BASE_URL."""
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_settings({"DIGEST_BASE_URL": value}, dotenv_path=None)
    ok = load_settings({"DIGEST_BASE_URL": "https://digest.example.org/"}, dotenv_path=None)
    assert ok.web.base_url == "https://digest.example.org"
    local = load_settings({"DIGEST_BASE_URL": "http://127.0.0.1:8000"}, dotenv_path=None)
    assert local.web.base_url == "http://127.0.0.1:8000"


def test_a_rate_limit_no_relay_has_is_refused_at_start() -> None:
    """1e-300 messages a second waited past the end of the calendar, 73 s into a run."""
    for raw in ("1e-300", "0.0001", "-1", "nan", "1e9"):
        with pytest.raises(ConfigError, match="SMTP_RATE_LIMIT"):
            load_settings({"SMTP_RATE_LIMIT": raw}, dotenv_path=None)
    for raw, rate in (("0", 0.0), ("0.001", 0.001), ("14", 14.0)):
        settings = load_settings({"SMTP_RATE_LIMIT": raw}, dotenv_path=None)
        assert settings.mail.smtp.rate_limit == rate


@pytest.mark.parametrize("name", ["SMTP_USERNAME", "SMTP_PASSWORD"])
def test_a_login_smtplib_cannot_send_is_named_at_start_without_its_value(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({name: "pässwörd-secret"}, dotenv_path=None)
    assert str(raised.value).startswith(name) and "secret" not in str(raised.value)
