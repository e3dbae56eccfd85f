"""What every process of a run does, the run's own and its helpers': fill the outbox with its
part of the list while sending from it, over its share of the relay."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..deliver.sender import Delivery
from ..errors import DeliveryError
from ..progress import Advance
from .decide import Decider
from .fill import Filler
from .plan import Part, Plan
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
    if worker.wanted == 0:  # the run's other processes send
        _compose_only(worker, filler, who, decider, run_id, part, advance)
        filled()
        return
    delivery = Delivery()
    try:
        sender = worker.sender(
            reporter, advance=advance, more=more, delivery=delivery, stop=filler.stop
        )
    except DeliveryError as exc:  # nothing can go now: every digest is still stored
        stored = filler.fill(who, decider, run_id, advance, None, part)
        _undeliverable(filler, earlier + sum(stored), exc)
        filled()
        return
    if sender is None:  # other workers (another host's run) hold every relay connection
        reporter.info("every relay connection is in use by other workers: composing first")
        _compose_only(worker, filler, who, decider, run_id, part, advance)
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
            _undeliverable(filler, waiting_messages(worker.db), exc)
            return
        if sender is None:  # stopped, or the other workers sent it all
            return
        filling: Iterator[int] = iter(())
    else:
        filling = filler.fill(who, decider, run_id, advance, worker.kept, part)
    sender.start()
    backlog = Backlog(worker.db, lambda: sender.sending)
    try:
        for _ in filling:
            sender.notify()
            backlog.wait()
        filled()
        sender.finish()
    except BaseException:  # Ctrl-C or a failure anywhere: the lanes stop first
        sender.abort()
        raise
    finally:  # counted even when something cut delivery short
        result.delivered(delivery)
        worker.let_go()


def _compose_only(
    worker: Worker,
    filler: Filler,
    who: Plan,
    decider: Decider,
    run_id: int,
    part: Part,
    advance: Advance,
) -> None:
    """Fill the outbox with `part` while other processes send, no further ahead of them
    than the backlog allows."""
    backlog = Backlog(worker.db, lambda: True)
    for _ in filler.fill(who, decider, run_id, advance, None, part):
        backlog.wait()


def _undeliverable(filler: Filler, left: int, exc: DeliveryError) -> None:
    """The relay cannot be used: the `left` messages stored are left pending."""
    if left:
        filler.result.delivery_error = str(exc)
        filler.result.deferred += left
        filler.reporter.error(f"{exc}; {left} message(s) left pending")
