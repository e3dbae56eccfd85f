"""What every process of a run does, the run's own and its helpers': fill the outbox with its
part of the list while sending from it, over its share of the relay."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..deliver.sender import Delivery, Sender
from ..errors import DeliveryError
from ..progress import Advance
from .decide import Decider
from .fill import Filler
from .outbox import Kept
from .plan import Part, Plan
from .result import RunResult
from .send import Backlog, Worker, waiting_messages


def mail(
    worker: Worker,
    filler: Filler,
    who: Plan,
    decider: Decider,
    run_id: int,
    part: Part,
    advance: Advance,
    *,
    more: Callable[[], bool],
    filled: Callable[[], None],
    earlier: int = 0,
) -> None:
    """Decide, compose and store `part`, sending each batch as soon as it is stored; call
    `filled` once it is all stored, then send until the outbox is empty and `more` says
    nothing more will come. A process with no share of the relay's connections only
    composes. When the relay cannot be used at all, everything is still stored, for the next
    run (`earlier`: the messages that were already waiting, left pending too)."""
    result, reporter = filler.result, filler.reporter

    def fill(kept: Kept | None = None) -> Iterator[int]:
        return filler.fill(who, decider, run_id, advance, kept, part)

    if worker.wanted == 0:  # the run's other processes send
        _compose_only(worker, fill())
        filled()
        return
    delivery = Delivery()
    try:
        sender = worker.sender(
            reporter, advance=advance, more=more, delivery=delivery, stop=filler.stop
        )
    except DeliveryError as exc:  # nothing can go now: every digest is still stored
        _undeliverable(filler, earlier + sum(fill()), exc)
        filled()
        return
    if sender is None:  # other workers (another host's run) hold every relay connection
        reporter.info("every relay connection is in use by other workers: composing first")
        stored = _compose_only(worker, fill())
        filled()
        try:
            sender = worker.sender(
                reporter,
                advance=advance,
                more=more,
                delivery=delivery,
                stop=filler.stop,
                waiting=lambda: more() or waiting_messages(worker.db) > 0,
            )
        except DeliveryError as exc:
            _undeliverable(filler, earlier + stored, exc)
            return
        if sender is None:  # stopped while waiting, or the others sent it all
            result.stopped = result.stopped or bool(filler.stop and filler.stop.is_set())
            return
        _send(worker, sender, iter(()), result, delivery, None)
        return
    _send(worker, sender, fill(worker.kept), result, delivery, filled)


def _send(
    worker: Worker,
    sender: Sender,
    filling: Iterator[int],
    result: RunResult,
    delivery: Delivery,
    filled: Callable[[], None] | None,
) -> None:
    """Send while `filling` stores (`filled` once it is all stored), then until the outbox
    is empty; the connection slots given back however it ends."""
    sender.start()
    backlog = Backlog(worker.db, lambda: sender.sending)
    try:
        for _ in filling:
            sender.notify()
            backlog.wait()
        if filled is not None:
            filled()
        sender.finish()
    except BaseException:  # Ctrl-C or a failure anywhere: the lanes stop first
        sender.abort()
        raise
    finally:  # counted even when something cut delivery short
        result.delivered(delivery)
        worker.let_go()


def _compose_only(worker: Worker, filling: Iterator[int]) -> int:
    """Fill the outbox while other processes send, no further ahead of them than the
    backlog allows: how many messages it stored."""
    backlog = Backlog(worker.db, lambda: True)
    stored = 0
    for count in filling:
        stored += count
        backlog.wait()
    return stored


def _undeliverable(filler: Filler, left: int, exc: DeliveryError) -> None:
    """The relay cannot be used: the `left` messages stored are left pending."""
    if left:
        filler.result.delivery_error = str(exc)
        filler.result.deferred += left
        filler.reporter.error(f"{exc}; {left} message(s) left pending")
