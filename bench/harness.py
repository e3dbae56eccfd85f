"""What the benchmarks share: the SMTP sink in its own process, `digest` run as an operator
runs it (its processor time and peak memory measured by the kernel), the machine's line, and
databases to run on: a SQLite file, or a fresh PostgreSQL database dropped afterwards."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class Sink:
    """bench/sink.py in its own process."""

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "sink.py"), str(latency_ms)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout and self.proc.stdin
        self.port = int(self.proc.stdout.readline().split()[1])

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdout and self.proc.stdin
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def environment(
    work: Path, api: str, port: int, database_url: str | None = None, **extra: str
) -> dict[str, str]:
    """`digest` against the loopback listing and the sink, on `database_url` (by default a
    SQLite file in `work`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SMTP_"))}
    return {
        **env,
        "DIGEST_DATABASE_URL": database_url or f"sqlite:///{work / 'digest.db'}",
        "DIGEST_SOURCES": "huggingface",
        "DIGEST_HF_API_URL": api,
        "DIGEST_EMAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "SMTP_RETRIES": "0",
        **extra,
    }


def start(work: Path, env: dict[str, str], *args: str, log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", *args], cwd=work, env=env, stdout=log, stderr=log
    )


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, float, float]:
    """Wait for `proc`: its exit code, its peak RSS in MB and the processor seconds it used."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def digest(work: Path, env: dict[str, str], *args: str) -> tuple[int, str, float, float, float]:
    """Run the CLI; returns exit code, its output, wall seconds, its peak RSS in MB and the
    processor seconds it used."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        code, peak, cpu = finish(start(work, env, *args, log=out))
        seconds = time.perf_counter() - started
        out.seek(0)
        log = out.read()
    if code not in (0, 1):
        raise SystemExit(f"digest {' '.join(args)} failed ({code}):\n{log}")
    return code, log, seconds, peak, cpu


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"{platform.system()} {platform.release()}"
    )


def _plain(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_reachable(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(_plain(url), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def fresh_postgres(admin: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database on `admin`'s server (a copy of `template`, if given), as a
    URL; dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"digest_bench_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(_plain(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_plain(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_bytes(url: str) -> int:
    """The database's size on disk: the SQLite file and its WAL after a checkpoint, or what
    PostgreSQL reports for the database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        import sqlite3

        path = Path(parsed.database or "")
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = Path(f"{path}-wal")
        return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    engine = create_engine(url)
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return int(size)


def table_bytes(url: str) -> dict[str, int]:
    """Bytes each table holds with its indexes (SQLite: pages in use, from dbstat; the file
    also keeps free pages for reuse)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        import sqlite3

        with sqlite3.connect(parsed.database or "") as conn:
            rows = conn.execute(
                "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize - d.unused) FROM dbstat d "
                "LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY 1"
            ).fetchall()
        return {name: int(size) for name, size in rows}
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            )
        ).all()
    engine.dispose()
    return {name: int(size) for name, size in rows}
