"""Fixtures: real parts for tests, built from tests.support (an SMTP server, HTTP servers for
the sources' APIs, a working directory with a subscriber file)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import HOW, admin_url, database_url, fresh_postgres
from tests.support.http import FakeArxiv, FakeHF
from tests.support.listings import ANNOUNCED
from tests.support.settings import SUBSCRIBERS
from tests.support.smtp import SMTPServer
from tests.support.tls import self_signed_cert


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command line."""
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def hf_api() -> Iterator[FakeHF]:
    with FakeHF() as server:
        yield server


@pytest.fixture
def arxiv_feed() -> Iterator[FakeArxiv]:
    with FakeArxiv(ANNOUNCED) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The test runs twice: on a SQLite file in its folder, and on a PostgreSQL database of its
    own; what it starts in its folder (settings, `digest` processes) uses that one."""
    if request.param == "sqlite":
        yield database_url(tmp_path)
        return
    if admin_url() is None:
        if os.environ.get("CI"):
            pytest.fail(HOW)
        pytest.skip(HOW)
    with fresh_postgres(tmp_path) as url:
        yield url


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "subscribers.toml").write_text(SUBSCRIBERS)
    return tmp_path
