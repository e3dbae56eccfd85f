"""Does a run cost more as the service ages? Consecutive daily runs against one database.

    python bench/growth.py [--days 30 | --year] [--subscribers 2000] [--papers 500]
                           [--postgres URL | --no-postgres]

Each day a loopback Daily Papers API lists --papers new papers (the corpus of ../shared/data,
under new arXiv ids and day-marked titles, so every day is as much work as the first), and
`digest run --date DAY` mails --subscribers subscribers (3 to 8 keywords each, imported
before day 1) into an SMTP sink in its own process. On a SQLite file, and on a fresh
PostgreSQL database when a server answers (the one on 127.0.0.1:5432, or --postgres).

Printed per day: the run's processor time and stage timings, messages sent, and the
database's size. Then the two targets, against day 1 of the same run: the last days'
processor time within 1.15x of the first days' (medians of three, as single runs are noisy),
and the database growing at most 3 MB a day per 1,000 subscribers after the first week;
and what that growth comes to for 100,000 subscribers over a year.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import tomli_w

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import (  # noqa: E402
    POSTGRES,
    Sink,
    database_bytes,
    digest,
    environment,
    fresh_postgres,
    machine,
    postgres_reachable,
    table_bytes,
)
from workload import listing_items, listing_server, subscriber_entries  # noqa: E402
from workload import topics as vocabulary  # noqa: E402

FIRST = date(2026, 1, 5)
MB = 1024 * 1024


def day_listing(items: list[dict[str, Any]], d: int) -> list[dict[str, Any]]:
    """The corpus as day `d`'s new papers: new arXiv ids, titles marked with the day."""
    out = []
    for i, item in enumerate(items):
        paper = {**item["paper"], "id": f"{2600 + d:04d}.{i:05d}"}
        paper["title"] = f"{paper['title']} ({d + 1})"
        out.append({**item, "paper": paper, "title": paper["title"]})
    return out


def measure(url: str, label: str, api: str, days: int, n: int, data: Path, sink: Sink) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        entries = subscriber_entries(n, vocabulary(data))
        (work / "list.toml").write_text(tomli_w.dumps({"subscriber": entries}))
        env = environment(work, api, sink.port, url, SMTP_MAX_CONNECTIONS="4")
        code, log, *_ = digest(work, env, "subscribers", "import", "list.toml")
        if code:
            raise SystemExit(log)
        print(f"\n{label}: {n:,} subscribers, {days} days")
        print(
            f"{'day':>4} {'cpu s':>7} {'rank':>6} {'compose':>8} {'store':>6} {'sent':>6} {'MB':>8}"
        )
        cpu, size, tables = [], [], []
        for d in range(days):
            day = FIRST + timedelta(days=d)
            code, log, _, _, seconds = digest(work, env, "run", "--date", day.isoformat())
            if code:
                raise SystemExit(f"day {d + 1} failed:\n{log[-3000:]}")
            t = dict(re.findall(r"(\w+) ([\d.]+)s", _line(log, "timings:")))
            sent = int(re.search(r"(\d+) sent", log).group(1))  # type: ignore[union-attr]
            cpu.append(seconds)
            size.append(database_bytes(url) / MB)
            tables.append(table_bytes(url))
            print(
                f"{d + 1:4} {seconds:7.2f} {float(t.get('rank', 0)):6.2f} "
                f"{float(t.get('compose', 0)):8.2f} {float(t.get('store', 0)):6.2f} "
                f"{sent:6} {size[-1]:8.1f}"
            )
        last = sorted(tables[-1].items(), key=lambda t: -t[1])
        print("by table: " + ", ".join(f"{t} {b / MB:.1f} MB" for t, b in last if b >= MB / 10))
    met = verdict(cpu, size, n)
    extrapolate(tables, n)
    return met


def verdict(cpu: list[float], size: list[float], n: int) -> bool:
    first, last = statistics.median(cpu[:3]), statistics.median(cpu[-3:])
    ratio = last / first
    print(
        f"processor time: first days {first:.2f}s, last days {last:.2f}s: {ratio:.2f}x "
        "(target <= 1.15; medians of three days)"
    )
    week = min(7, len(size) - 1)
    daily = (size[-1] - size[week]) / max(len(size) - 1 - week, 1)
    per_thousand = daily / (n / 1000)
    print(
        f"database: {size[0]:.1f} MB after day 1, {size[-1]:.1f} MB after day {len(size)}; "
        f"after the first week {daily:.2f} MB a day, {per_thousand:.2f} MB a day per 1,000 "
        "subscribers (target <= 3)"
    )
    return ratio <= 1.15 and per_thousand <= 3


# What each table's size scales with: subscribers and days (a message and its ledger rows
# per subscriber a day), days alone (the papers listed), or subscribers alone (the rest:
# what was passed over is kept for a bounded number of days, the bytes only until sent).
PER_SUBSCRIBER_DAY = {"messages", "claims"}
PER_DAY = {"papers", "listings", "sources", "runs"}


def extrapolate(tables: list[dict[str, int]], n: int, subscribers: int = 100_000) -> None:
    """A year at `subscribers`, from each table's growth after the first week."""
    week = min(7, len(tables) - 1)
    span = max(len(tables) - 1 - week, 1)

    def growth(names: set[str]) -> float:
        return sum(tables[-1].get(t, 0) - tables[week].get(t, 0) for t in names) / span

    scale = subscribers / n
    per_sub = growth(PER_SUBSCRIBER_DAY) * scale
    per_day = growth(PER_DAY)
    bounded = sum(b for t, b in tables[-1].items() if t not in PER_SUBSCRIBER_DAY | PER_DAY)
    year = (per_sub + per_day) * 365 + bounded * scale
    print(
        f"at {subscribers:,} subscribers, a year of daily runs: about {year / MB / 1024:.0f} GB "
        f"of rows ({per_sub / MB:.0f} MB a day of messages and ledger, {per_day / MB:.1f} MB a "
        f"day of papers, {bounded * scale / MB / 1024:.1f} GB that does not grow with time)"
    )


def _line(log: str, marker: str) -> str:
    return next((line for line in log.splitlines() if marker in line), "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--year", action="store_true", help="365 days")
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--papers", type=int, default=500)
    parser.add_argument("--postgres", default=POSTGRES, help="a server to run on too")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    days = 365 if args.year else args.days
    items = listing_items(args.data, args.papers)
    listing = {(FIRST + timedelta(days=d)).isoformat(): day_listing(items, d) for d in range(days)}
    print(f"machine: {machine()}")
    met = True
    sink = Sink()
    try:
        with listing_server(listing) as api, tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'digest.db'}"
            met &= measure(url, "SQLite", api, days, args.subscribers, args.data, sink)
            if not args.no_postgres and postgres_reachable(args.postgres):
                with fresh_postgres(args.postgres) as pg:
                    met &= measure(pg, "PostgreSQL", api, days, args.subscribers, args.data, sink)
            elif not args.no_postgres:
                print(f"\nPostgreSQL: {args.postgres} does not answer; skipped")
    finally:
        sink.close()
    print("\ntargets:", "met" if met else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
