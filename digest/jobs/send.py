"""Sending, as one worker among any number on one outbox: the daily run sends while it fills
the outbox, a run that waits for another to finish deciding sends alongside it, and
`digest send` drains the outbox. Each leases what it sends (`jobs.outbox`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from .. import store
from ..deliver.sender import Delivery, Sender, lease_seconds, open_lanes
from ..domain.digest import PENDING
from ..errors import DeliveryError
from ..progress import Advance, Reporter, Silent, ignore
from ..settings import Settings, SMTPSettings
from ..store import Database
from ..store.lock import forget, gone, holder, presence
from .outbox import Kept, StoreLedger, worker_id
from .result import RunResult
from .wiring import opened, transport_for


@dataclass(frozen=True)
class Worker:
    """This process as one of the database's workers: present while it works, so its leases
    hold; gone (however it ends) and they are void."""

    db: Database
    settings: Settings
    id: str
    kept: Kept = field(default_factory=Kept)  # what this process stored, for its lanes

    def ledger(self) -> StoreLedger:
        smtp = self.settings.mail.smtp
        return StoreLedger(
            self.db, self.id, self.settings.mail.suppress_after, lease_seconds(smtp), self.kept
        )

    @property
    def wanted(self) -> int:
        """How many relay connections this process may hold (its share in a run)."""
        smtp = self.settings.mail.smtp
        return smtp.max_connections if smtp.share is None else smtp.share

    def hold(self) -> SMTPSettings | None:
        """Take this process's connection slots (`store.slots`): the relay settings to send
        with, one connection per slot held and those slots' allowance of the rate limit;
        None while other workers hold every slot (or every slot that carries some rate)."""
        smtp = self.settings.mail.smtp
        total = smtp.max_connections
        if self.settings.mail.backend != "smtp":  # no relay to share: the run's split only
            return replace(smtp, rate_limit=smtp.rate_limit * self.wanted / total)
        held = self.db.retried(
            lambda conn: store.slots.take(
                conn, self.id, self.wanted, total, lambda who: gone(self.db, who)
            )
        )
        rate = allowance(smtp.rate_limit, total, held)
        if not held or (smtp.rate_limit and not rate):
            self.let_go()
            return None
        return replace(smtp, max_connections=len(held), rate_limit=rate, share=None)

    def let_go(self) -> None:
        """Give back this process's connection slots."""
        if self.settings.mail.backend == "smtp":
            self.db.retried(lambda conn: store.slots.give_back(conn, self.id))

    def sender(
        self,
        reporter: Reporter,
        *,
        advance: Advance,
        more: Callable[[], bool],
        delivery: Delivery,
        stop: threading.Event | None,
        waiting: Callable[[], bool] | None = None,
    ) -> Sender | None:
        """Lanes connected to the relay over the slots this process holds (DeliveryError
        when it cannot be used at all). None when other workers hold every slot, after
        waiting for one while `waiting` says there is something to send."""
        smtp = self.hold()
        if smtp is None and waiting is not None:
            reporter.info("every relay connection is in use by other workers; waiting for one")
            while smtp is None and waiting():
                if stop is not None and stop.wait(0.5):
                    return None
                if stop is None:
                    time.sleep(0.5)
                smtp = self.hold()
        if smtp is None:
            return None
        settings = replace(self.settings, mail=replace(self.settings.mail, smtp=smtp))
        try:
            lanes = open_lanes(lambda: transport_for(settings))
        except DeliveryError:
            self.let_go()
            raise
        self.db.warm(len(lanes) + 1)
        return Sender(
            self.ledger(),
            lanes,
            smtp,
            reporter,
            advance=advance,
            more=more,
            delivery=delivery,
            stop=stop,
        )


@contextmanager
def working(db: Database, settings: Settings, *, vacuum: bool = True) -> Iterator[Worker]:
    worker = Worker(db, settings, worker_id())
    with presence(db, worker.id):
        try:
            yield worker
        finally:
            worker.let_go()
    forget(db, worker.id)
    if vacuum:  # what was deleted, reusable now
        db.vacuum("bodies", "passed", "messages", "claims")


class Deciding:
    """Whether a run holds the run lock (deciding, so more messages may come), looked up at
    most every second; after IDLE seconds with nothing new to send, a holder that stored
    nothing is taken to be stuck, and waiting for it ends."""

    IDLE = 600.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self.checked = float("-inf")
        self.held = True
        self.since = time.monotonic()
        self.seen = -1

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.checked >= 1.0:
            self.checked = now
            self.held = holder(self.db) is not None
            count = waiting_messages(self.db)
            if count != self.seen:
                self.seen, self.since = count, now
        return self.held and not self.stuck

    @property
    def stuck(self) -> bool:
        return self.held and time.monotonic() - self.since >= self.IDLE


class Backlog:
    """How far filling the outbox may run ahead of sending it. While more than LIMIT messages
    wait and sending moves them, the run waits before composing more, so the outbox holds a
    few thousand messages' bytes at a time rather than a whole run's. Once sending stalls
    (the relay deferring everything) or stops, the run waits no more."""

    LIMIT = 2000
    STALL = 5.0  # seconds without the backlog shrinking

    def __init__(self, db: Database, sending: Callable[[], bool]) -> None:
        self.db = db
        self.sending = sending
        self.stalled = False

    def wait(self) -> None:
        lowest, since = None, time.monotonic()
        while not self.stalled and self.sending():
            waiting = waiting_messages(self.db)
            if waiting <= self.LIMIT:
                return
            if lowest is None or waiting < lowest:
                lowest, since = waiting, time.monotonic()
            elif time.monotonic() - since >= self.STALL:
                self.stalled = True
            time.sleep(0.1)


def alongside(
    worker: Worker, result: RunResult, reporter: Reporter, stop: threading.Event | None
) -> bool:
    """Send what the outbox holds while another run decides (it holds the run lock), until
    the outbox has nothing more and that run is done deciding. False when that run seems
    stuck (nothing new for Deciding.IDLE seconds) or the relay cannot be used."""
    delivery = Delivery()
    deciding = Deciding(worker.db)
    try:
        sender = worker.sender(
            reporter,
            advance=ignore,
            more=deciding,
            delivery=delivery,
            stop=stop,
            waiting=lambda: deciding() or waiting_messages(worker.db) > 0,
        )
    except DeliveryError as exc:
        result.delivery_error = str(exc)
        reporter.error(str(exc))
        return False
    if sender is None:  # stopped, or the others sent everything while this one waited
        result.stopped = result.stopped or bool(stop and stop.is_set())
        return not deciding.stuck
    sender.start()
    try:
        sender.finish()
    except BaseException:
        sender.abort()
        raise
    finally:
        result.delivered(delivery)
        worker.let_go()
    return not deciding.stuck


def allowance(rate: float, total: int, slots: Iterable[int]) -> float:
    """The part of the rate limit (messages a second; 0: none) that these of `total` slots
    carry. Each slot carries whole messages a second, the first ones one more, so any
    processes on any hosts holding different slots together never exceed it (a rate below 1
    is carried by slot 0 alone)."""
    if not rate:
        return 0.0
    if rate < 1:
        return rate if 0 in slots else 0.0
    whole = int(rate)
    return float(sum(whole // total + (1 if n < whole % total else 0) for n in slots))


def waiting_messages(db: Database) -> int:
    with db.reading() as conn:
        return store.outbox.count(conn, PENDING)


def drain(
    settings: Settings, *, reporter: Reporter | None = None, stop: threading.Event | None = None
) -> RunResult:
    """`digest send`: one more worker on the outbox, sending what it holds and what a run
    deciding now stores, until there is nothing more to take and no run is deciding."""
    reporter = reporter or Silent()
    result = RunResult(days=[], dry_run=False)
    result.destination = transport_for(settings).describe()
    with opened(settings) as db, working(db, settings) as worker:
        with db.reading() as conn:
            result.earlier = store.outbox.count(conn, PENDING)
        alongside(worker, result, reporter, stop)
    return result
