"""Settings from the environment and a `.env` file, validated once at start."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

N = TypeVar("N", int, float)

BACKENDS = ("smtp", "file", "console")
SECURITY = ("starttls", "ssl", "none")
SOURCES = ("huggingface", "arxiv", "sample")
DEFAULT_FROM = "Paper Digest <digest@localhost>"


class ConfigError(Exception):
    """A setting or input file is unusable; the message names which one and why."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///digest.db"
    subscribers_path: Path = Path("subscribers.toml")
    subscribers_required: bool = False  # DIGEST_SUBSCRIBERS was set: a missing file is an error
    sources: tuple[str, ...] = ("huggingface",)
    hf_api_url: str = "https://huggingface.co/api"
    arxiv_rss_url: str = "https://rss.arxiv.org/rss"
    arxiv_categories: tuple[str, ...] = ()
    arxiv_cross_lists: bool = False
    email_backend: str = "file"
    outbox_dir: Path = Path("outbox")
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_security: str = "starttls"
    smtp_timeout: float = 30.0
    smtp_retries: int = 3
    smtp_retry_delay: float = 10.0
    smtp_max_connections: int = 4
    smtp_rate_limit: float = 0.0  # messages per second over all connections; 0: no limit
    smtp_messages_per_connection: int = 100
    suppress_after: int = 3
    from_address: Address = field(default_factory=lambda: _from_address(DEFAULT_FROM))
    base_url: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    schedule: str = "0 7 * * *"
    timezone: str = "UTC"
    weekly_day: int = 0  # Monday
    lookback_days: int = 3
    templates_dir: Path | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _number(
    env: Mapping[str, str], name: str, default: N, lo: N, hi: N, kind: Callable[[str], N]
) -> N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}={raw!r} is not {what}") from None
    if not lo <= value <= hi:  # also refuses nan
        raise ConfigError(f"{name}={raw} is out of range ({lo:g} to {hi:g})")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not true or false")


def _categories(raw: str, needed: bool) -> tuple[str, ...]:
    from .models import arxiv_categories

    try:
        cats = arxiv_categories(c.strip() for c in raw.replace("+", ",").split(",") if c.strip())
    except ValueError as exc:
        raise ConfigError(f"DIGEST_ARXIV_CATEGORIES: {exc}") from None
    if needed and not cats:
        raise ConfigError(
            "DIGEST_SOURCES includes arxiv but DIGEST_ARXIV_CATEGORIES is empty "
            "(e.g. DIGEST_ARXIV_CATEGORIES=cs.LG,cs.AI)"
        )
    return cats


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip() or default
    if not raw.lower().startswith(("http://", "https://")):
        raise ConfigError(f"{name}={raw!r} is not an http(s) URL")
    return raw.rstrip("/")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of: {', '.join(choices)}")
    return value


def _from_address(raw: str) -> Address:
    name, addr = parseaddr(raw)
    if "@" not in addr or any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise ConfigError(f"DIGEST_FROM={raw!r} is not an address like 'Name <user@host>'")
    local, _, domain = addr.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MIN_SECRET = 16


def _weekday(raw: str) -> int:
    value = raw.strip().lower()
    for i, name in enumerate(WEEKDAYS):
        if value and name.startswith(value) and len(value) >= 3:
            return i
    raise ConfigError(f"DIGEST_WEEKLY_DAY={raw!r} is not a weekday (monday ... sunday)")


def _cron(raw: str) -> str:
    from .schedule import trigger

    try:
        trigger(raw, "UTC")
    except ValueError as exc:
        raise ConfigError(f"DIGEST_SCHEDULE={raw!r} is not a cron expression: {exc}") from None
    return raw


def _secret(raw: str | None) -> str | None:
    if raw is not None and len(raw) < MIN_SECRET:
        raise ConfigError(
            f"DIGEST_SECRET_KEY is too short (at least {MIN_SECRET} characters; make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return raw


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv_path: Path | None = Path(".env")
) -> Settings:
    """Merge `.env` under the process environment (the environment wins) and validate."""
    env: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    env.update(os.environ if environ is None else environ)

    sources = tuple(s.strip().lower() for s in env.get("DIGEST_SOURCES", "huggingface").split(","))
    sources = tuple(s for s in sources if s)
    for s in sources:
        if s not in SOURCES:
            raise ConfigError(f"DIGEST_SOURCES: unknown source {s!r} (known: {', '.join(SOURCES)})")
    if not sources:
        raise ConfigError("DIGEST_SOURCES is empty")

    smtp_host = env.get("SMTP_HOST", "").strip() or None
    backend = _choice(env, "DIGEST_EMAIL_BACKEND", "smtp" if smtp_host else "file", BACKENDS)
    if backend == "smtp" and not smtp_host:
        raise ConfigError("DIGEST_EMAIL_BACKEND=smtp needs SMTP_HOST")

    security = _choice(env, "SMTP_SECURITY", "starttls", SECURITY)
    default_port = 465 if security == "ssl" else 587
    timezone = env.get("DIGEST_TIMEZONE", "").strip() or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"DIGEST_TIMEZONE={timezone!r} is not a known time zone") from None

    database_url = env.get("DIGEST_DATABASE_URL", "").strip() or "sqlite:///digest.db"
    if "://" not in database_url:
        raise ConfigError(f"DIGEST_DATABASE_URL={database_url!r} is not a database URL")

    templates = env.get("DIGEST_TEMPLATES_DIR", "").strip()
    if templates and not Path(templates).is_dir():
        raise ConfigError(f"DIGEST_TEMPLATES_DIR={templates!r} is not a directory")

    return Settings(
        database_url=database_url,
        subscribers_path=Path(env.get("DIGEST_SUBSCRIBERS", "").strip() or "subscribers.toml"),
        subscribers_required=bool(env.get("DIGEST_SUBSCRIBERS", "").strip()),
        sources=sources,
        hf_api_url=(env.get("DIGEST_HF_API_URL", "").strip() or Settings.hf_api_url).rstrip("/"),
        arxiv_rss_url=_url(env, "DIGEST_ARXIV_RSS_URL", Settings.arxiv_rss_url),
        arxiv_categories=_categories(
            env.get("DIGEST_ARXIV_CATEGORIES", ""), needed="arxiv" in sources
        ),
        arxiv_cross_lists=_flag(env, "DIGEST_ARXIV_CROSS_LISTS", False),
        email_backend=backend,
        outbox_dir=Path(env.get("DIGEST_OUTBOX_DIR", "").strip() or "outbox"),
        smtp_host=smtp_host,
        smtp_port=_number(env, "SMTP_PORT", default_port, 1, 65535, int),
        smtp_username=env.get("SMTP_USERNAME", "").strip() or None,
        smtp_password=env.get("SMTP_PASSWORD") or None,
        smtp_security=security,
        smtp_timeout=_number(env, "SMTP_TIMEOUT", 30.0, 0.1, 600, float),
        smtp_retries=_number(env, "SMTP_RETRIES", 3, 0, 20, int),
        smtp_retry_delay=_number(env, "SMTP_RETRY_DELAY", 10.0, 0, 3600, float),
        smtp_max_connections=_number(env, "SMTP_MAX_CONNECTIONS", 4, 1, 100, int),
        smtp_rate_limit=_number(env, "SMTP_RATE_LIMIT", 0.0, 0, 100_000, float),
        smtp_messages_per_connection=_number(
            env, "SMTP_MESSAGES_PER_CONNECTION", 100, 1, 1_000_000, int
        ),
        suppress_after=_number(env, "DIGEST_SUPPRESS_AFTER", 3, 1, 100, int),
        from_address=_from_address(env.get("DIGEST_FROM", "").strip() or DEFAULT_FROM),
        base_url=(env.get("DIGEST_BASE_URL", "").strip().rstrip("/") or None),
        secret_key=_secret(env.get("DIGEST_SECRET_KEY") or None),
        schedule=_cron(env.get("DIGEST_SCHEDULE", "").strip() or "0 7 * * *"),
        timezone=timezone,
        weekly_day=_weekday(env.get("DIGEST_WEEKLY_DAY", "").strip() or "monday"),
        lookback_days=_number(env, "DIGEST_LOOKBACK_DAYS", 3, 1, 60, int),
        templates_dir=Path(templates) if templates else None,
    )
