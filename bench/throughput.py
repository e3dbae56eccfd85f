"""How fast `digest run` mails a list, against the naive way and against the relay's limit.

    python bench/throughput.py [--sizes 1000,10000] [--huge] [--check] [--relay-latency MS]
                               [--database postgresql+psycopg://user@host/db] [--workers 1,2]

The workload comes from ../shared/data: one day of 500 corpus papers served by a loopback
Daily Papers API, and N subscribers with 3 to 8 keywords each (max_papers 10), imported
before the clock starts. Mail goes to an SMTP sink in its own process (aiosmtpd, accepting
and discarding). Three ways to mail the same list, side by side:

- naive: per recipient, the full template rendered, premailer on the whole HTML, an
  EmailMessage, and a new SMTP connection (timed on a sample of --naive recipients);
- limit: the project's final message bytes, prebuilt, streamed over as many reused
  connections as the project uses (SMTP_MAX_CONNECTIONS), with no ranking or rendering;
- project: `digest run --workers W` end to end, in its own process, for each W of --workers,
  and with no --workers (the default count, which the targets are about). Its processor time
  is that of every process of the run (the kernel's count for the run and the helpers it
  waited for), shown per message by stage: rank, compose and store (summed over the workers'
  filling threads), and the rest (sending, the lanes' database work, start-up). Peak memory
  is the largest process's.

--relay-latency MS makes the sink wait that long before answering DATA, as a relay writing
the message to its queue does; the limit then pays it too.

With --database, the project's runs are measured on a fresh PostgreSQL database on that
server too (copied from one prepared like the SQLite file), beside the SQLite figures.

--check runs a small N and only asserts correctness (every message accepted exactly once, by
both the project and the limit); CI runs it. Timing varies between machines; the ratios,
measured in the same run, are the point.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import queue
import re
import shutil
import smtplib
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import tomli_w

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import (  # noqa: E402
    Sink,
    digest,
    environment,
    finish,
    fresh_postgres,
    machine,
    postgres_reachable,
    start,
)
from sqlalchemy import select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from workload import listing_items, listing_server, subscriber_entries  # noqa: E402
from workload import topics as vocabulary  # noqa: E402

from digest import store  # noqa: E402
from digest.compose.inline import inline_html  # noqa: E402
from digest.compose.mime import WIRE, header_text  # noqa: E402
from digest.compose.render import subject_line  # noqa: E402
from digest.domain.digest import PENDING  # noqa: E402
from digest.jobs.decide import Decider, digests_for  # noqa: E402
from digest.jobs.plan import batches, plan  # noqa: E402
from digest.jobs.wiring import composer_for  # noqa: E402
from digest.progress import Silent  # noqa: E402
from digest.settings import Settings, load_settings  # noqa: E402
from digest.store import open_database, schema  # noqa: E402

DAY = date(2025, 11, 6)


@dataclass
class Result:
    seconds: float = 0.0
    messages: int = 0
    compose_per_msg: float = 0.0  # seconds
    peak_mb: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    sink: dict[str, Any] = field(default_factory=dict)
    cpu: float = 0.0  # processor seconds of the whole run, every process of it
    workers: int = 1

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def prepare(work: Path, n: int, api: str, sink: Sink, data: Path, url: str) -> None:
    """Subscribers imported into the database (where a long list lives; no subscriber file
    is configured for the runs) and the day's listing fetched once, as an operator's store
    is before a morning's run (which fetches the listing again)."""
    entries = subscriber_entries(n, vocabulary(data))
    (work / "list.toml").write_text(tomli_w.dumps({"subscriber": entries}))
    env = environment(work, api, sink.port, url)
    for command in (["subscribers", "import", "list.toml"], ["fetch", "--date", str(DAY)]):
        code, log, *_ = digest(work, env, *command)
        if code:
            raise SystemExit(log)


@contextmanager
def copy_of(prepared: str, work: Path) -> Iterator[str]:
    """A fresh copy of the prepared database, as a URL: each measurement starts from the
    same store."""
    parsed = make_url(prepared)
    if parsed.get_backend_name() == "sqlite":
        path = work / f"copy-{time.monotonic_ns()}.db"
        shutil.copy(parsed.database or "", path)
        try:
            yield f"sqlite:///{path}"
        finally:
            path.unlink()
        return
    with fresh_postgres(prepared, template=parsed.database) as url:
        yield url


def project(work: Path, api: str, sink: Sink, url: str, workers: int | None = None) -> Result:
    """`digest run` against `url` (with `--workers` when given): wall time, the processor
    time of all its processes, its peak memory and the stages it reports."""
    sink.ask("reset")
    env = environment(work, api, sink.port, url)
    extra = ["--workers", str(workers)] if workers else []
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        proc = start(work, env, "run", "--date", DAY.isoformat(), *extra, log=log)
        code, peak, cpu = finish(proc)
        seconds = time.perf_counter() - started
        log.seek(0)
        text = log.read()
    if code:
        raise SystemExit(f"digest run failed ({code}):\n{text[-3000:]}")
    sent = int(re.search(r"(\d+) sent", text).group(1))  # type: ignore[union-attr]
    timings = {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+)s", _line(text, "timings:"))}
    used = re.search(r"(\d+) worker processes", text)
    return Result(
        seconds,
        sent,
        timings.get("compose", 0.0) / max(sent, 1),
        peak,
        timings,
        sink.ask("stats"),
        cpu,
        int(used.group(1)) if used else 1,
    )


def _line(log: str, marker: str) -> str:
    return next((line for line in log.splitlines() if marker in line), "")


def prebuilt(work: Path, api: str, url: str) -> None:
    """The project's own messages left in the outbox at `url`: `digest run` against a port
    nobody listens on composes and stores every digest, then cannot deliver."""
    digest(work, environment(work, api, _closed_port(), url), "run", "--date", DAY.isoformat())


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def limit(url: str, sink: Sink, lanes: int, per_connection: int) -> Result:
    """The same bytes over `lanes` reused connections, read in chunks from the stored outbox."""
    engine = open_database(url).engine
    m, b = schema.messages, schema.bodies
    work: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=lanes * 64)
    sent = [0] * lanes

    def lane(i: int) -> None:
        conn, used = smtplib.SMTP("127.0.0.1", sink.port), 0
        conn.ehlo()
        while (item := work.get()) is not None:
            if used == per_connection:
                conn.quit()
                conn, used = smtplib.SMTP("127.0.0.1", sink.port), 0
                conn.ehlo()
            conn.sendmail("digest@localhost", [item[0]], item[1])
            used += 1
            sent[i] += 1
        conn.quit()

    sink.ask("reset")
    started = time.perf_counter()
    threads = [threading.Thread(target=lane, args=(i,)) for i in range(lanes)]
    for t in threads:
        t.start()
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.c.subscriber_email, b.c.raw)
            .join(b, b.c.message_id == m.c.message_id)
            .where(m.c.status == PENDING)
        )
        for chunk in iter(lambda: rows.fetchmany(500), []):
            for row in chunk:
                work.put((row.subscriber_email, row.raw))
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    engine.dispose()
    return Result(seconds, sum(sent), sink=sink.ask("stats"))


def ranking(work: Path, api: str, sink: Sink, url: str) -> tuple[int, float, float]:
    """Every subscriber ranked against the day's listing, as a run does it (a batch at a time,
    the top papers explained), with nothing else running: the seconds spent ranking (profiles
    compiled, scored, cut and explained, Message-IDs fixed) and, apart, reading each batch's
    subscribers and ledgers."""
    settings = load_settings(environment(work, api, sink.port, url), dotenv_path=None)
    db = open_database(settings.database.url)
    ranked = read = 0.0
    with db.reading() as conn:
        who = plan(conn, settings, DAY, Silent())
        started = time.perf_counter()
        decider = decider_of(conn, settings)
        ranked += time.perf_counter() - started
        pages = batches(db.reading, who)
        while True:
            started = time.perf_counter()
            batch = next(pages, None)
            if batch is None:
                break
            emails = [s.email for s in batch]
            sent = store.outbox.claimed(conn, emails, decider.daily.keys, decider.start)
            between = time.perf_counter()
            digests_for(batch, sent, decider.daily, decider.rarity, DAY, settings.mail.domain)
            ranked += time.perf_counter() - between
            read += between - started
    db.dispose()
    return who.receiving, ranked, read


def decider_of(conn: Any, settings: Settings) -> Decider:
    return Decider.of(conn, [DAY], False, settings.mail.domain)


def naive(work: Path, api: str, sink: Sink, sample: int, url: str) -> Result:
    """The usual way, on the first `sample` digests the project would send: render, premailer
    on the whole HTML, EmailMessage, and a new connection per recipient."""
    env = environment(work, api, sink.port, url)
    settings = load_settings(env, dotenv_path=None)
    composer = composer_for(settings)
    db = open_database(settings.database.url)
    with db.reading() as conn:
        who = plan(conn, settings, DAY, Silent())
        decider = decider_of(conn, settings)
        subs = itertools.chain.from_iterable(batches(db.reading, who))
        digests = decider.decide(conn, list(itertools.islice(subs, sample * 2)))[:sample]
    db.dispose()
    sink.ask("reset")
    composing = 0.0
    started = time.perf_counter()
    for d in digests:
        t0 = time.thread_time()
        subject = header_text(subject_line(d))
        ctx = composer.context(d, subject)
        text = composer.text_template.render(ctx)
        html = inline_html(composer.html_template.render(ctx))
        msg = EmailMessage()  # the headers the project's messages carry
        msg["Subject"] = subject
        msg["From"] = composer.sender
        msg["To"] = Address(header_text(d.subscriber.name or "", 100), addr_spec=d.subscriber.email)
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = d.message_id
        msg["List-Id"] = f"Paper Digest <paper-digest.{composer.domain}>"
        links = composer.unsubscribe_links(d.subscriber)
        msg["List-Unsubscribe"] = ", ".join(f"<{url}>" for url in links)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text, cte="quoted-printable")
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
        raw = msg.as_bytes(policy=WIRE)
        composing += time.thread_time() - t0
        with smtplib.SMTP("127.0.0.1", sink.port) as conn:
            conn.sendmail("digest@localhost", [d.subscriber.email], raw)
    seconds = time.perf_counter() - started
    return Result(seconds, len(digests), composing / max(len(digests), 1), sink=sink.ask("stats"))


def report(
    n: int,
    papers: int,
    lanes: int,
    naive_r: Result | None,
    lim: Result,
    projects: dict[str, Result],
) -> bool:
    """The table for one N; `projects` first holds the SQLite run with the default worker
    count, which the targets are about."""
    print(f"\nN = {n:,} subscribers, {papers} papers, max_papers 10, {lanes} SMTP connections")
    print(
        f"{'':26} {'messages':>9} {'seconds':>8} {'msgs/s':>8} {'x limit':>8} {'cpu s':>7} "
        f"{'cpu/msg':>9} {'peak MB':>8}"
    )
    rows = [("naive", naive_r), (f"limit ({lanes} connections)", lim), *projects.items()]
    for name, r in rows:
        if r is None:
            continue
        cpu = f"{r.cpu:.1f}" if r.cpu else "-"
        per = f"{r.cpu / r.messages * 1000:.2f} ms" if r.cpu else "-"
        peak = f"{r.peak_mb:.0f}" if r.peak_mb else "-"
        print(
            f"{name:26} {r.messages:9,} {r.seconds:8.2f} {r.rate:8.1f} "
            f"{r.seconds / lim.seconds:8.2f} {cpu:>7} {per:>9} {peak:>8}"
        )
    print("processor time per message by stage, all processes of the run together:")
    for name, r in projects.items():
        t, per = r.timings, 1000 / max(r.messages, 1)
        staged = sum(t.get(k, 0.0) for k in ("rank", "compose", "store"))
        parts = [f"{k} {t.get(k, 0.0) * per:.2f}" for k in ("rank", "compose", "store")]
        parts.append(f"sending and the rest {(r.cpu - staged) * per:.2f}")
        print(f"  {name}: " + ", ".join(parts) + f" ms ({r.workers} worker(s))")
    label, proj = next(iter(projects.items()))
    ratio = proj.seconds / lim.seconds
    per_message = proj.cpu / proj.messages * 1000
    print(f"target: {label} / limit <= 1.3: {ratio:.2f}")
    print(f"target: processor time per message <= 1.2 ms: {per_message:.2f} ms")
    print(f"target: peak memory per process < 300 MB: {proj.peak_mb:.0f} MB")
    met = ratio <= 1.3 and per_message <= 1.2 and proj.peak_mb < 300
    if naive_r is not None:
        speedup = naive_r.compose_per_msg / proj.compose_per_msg
        overall = (naive_r.seconds / naive_r.messages) / (proj.seconds / proj.messages)
        print(
            f"naive / project time per message: {overall:.1f}x end to end; "
            f"composing: {speedup:.1f}x faster (target >= 20x)"
        )
        met &= speedup >= 20
    return met


def correct(name: str, r: Result, expected: int) -> list[str]:
    s = r.sink
    problems = []
    if s["accepted"] != expected or s["recipients"] != expected or s["duplicates"]:
        problems.append(
            f"{name}: the sink accepted {s['accepted']} messages for {s['recipients']} recipients "
            f"({s['duplicates']} duplicates); expected {expected}, once each"
        )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--huge", action="store_true", help="also N = 100,000")
    parser.add_argument("--naive", type=int, default=300, help="recipients naive is timed on")
    parser.add_argument("--check", action="store_true", help="small N, correctness only")
    parser.add_argument("--database", help="a PostgreSQL server's URL to measure on too")
    parser.add_argument(
        "--workers", default="1,2", help="also with these --workers counts, e.g. 1,2"
    )
    parser.add_argument(
        "--relay-latency", type=float, default=0.0, metavar="MS", help="the sink's DATA delay"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    workers: list[int | None] = [None, *(int(w) for w in args.workers.split(",") if w)]
    if args.huge:
        sizes.append(100_000)
    if args.check:  # on the listing the project ships, so it runs on any clean checkout
        sizes, args.naive, args.data, workers = [60], 5, ROOT / "digest" / "sample", [2]
    if args.database and not postgres_reachable(args.database):
        raise SystemExit(f"{args.database} does not answer")
    lanes = load_settings({}, dotenv_path=None).mail.smtp.max_connections
    per_connection = load_settings({}, dotenv_path=None).mail.smtp.messages_per_connection
    print(f"machine: {machine()}")
    latency = f", answering DATA after {args.relay_latency:g} ms" if args.relay_latency else ""
    print(f"sink: aiosmtpd in its own process, accepting and discarding{latency}")
    items = listing_items(args.data)
    problems: list[str] = []
    met = True
    sink = Sink(args.relay_latency)
    try:
        with listing_server({DAY.isoformat(): items}) as api, tempfile.TemporaryDirectory() as tmp:
            for n in sizes:
                work = Path(tmp) / str(n)
                work.mkdir()
                prepared = {"SQLite": f"sqlite:///{work / 'prepared.db'}"}
                with contextlib.ExitStack() as stack:
                    if args.database:
                        prepared["PostgreSQL"] = stack.enter_context(fresh_postgres(args.database))
                    for url in prepared.values():
                        prepare(work, n, api, sink, args.data, url)
                    projects = {}
                    for name, url in prepared.items():
                        for w in workers:
                            with copy_of(url, work) as fresh:
                                r = project(work, api, sink, fresh, w)
                                many = "s" if r.workers > 1 else ""
                                how = "default" if w is None else "--workers"
                                projects[f"{name}, {how}: {r.workers} worker{many}"] = r
                    sqlite = prepared["SQLite"]
                    with copy_of(sqlite, work) as fresh:
                        prebuilt(work, api, fresh)
                        lim = limit(fresh, sink, lanes, per_connection)
                    naive_r = naive(work, api, sink, min(args.naive, n), sqlite)
                    profiles, rank_seconds, read_seconds = ranking(work, api, sink, sqlite)
                expected = next(iter(projects.values())).messages
                for label, r in projects.items():
                    problems += correct(label, r, expected)
                problems += correct("limit", lim, expected)
                if expected < n * 0.8:
                    problems.append(f"only {expected} of {n} subscribers were mailed")
                met &= report(n, len(items), lanes, naive_r, lim, projects)
                print(
                    f"ranking {profiles:,} profiles against {len(items)} papers, alone: "
                    f"{rank_seconds:.2f}s (target <= 1 s at 10,000); reading their "
                    f"subscribers and ledgers besides: {read_seconds:.2f}s"
                )
                met &= rank_seconds <= 1.0 * max(1, n / 10_000)
    finally:
        sink.close()
    for p in problems:
        print(f"PROBLEM: {p}")
    if args.check:
        print("check:", "every message accepted exactly once" if not problems else "FAILED")
        return 1 if problems else 0
    print("\ntargets:", "met" if met and not problems else "NOT met")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
