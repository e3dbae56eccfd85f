"""What every process of a run does, the run's own and its helpers': fill the outbox with its
part of the list while sending from it, over its share of the relay."""

from __future__ import annotations

from collections.abc import Callable

from ..deliver.sender import Delivery
from ..errors import DeliveryError
from ..progress import Advance
from .decide import Decider
from .fill import Filler
from .plan import Part, Plan
from .send import Backlog, Worker


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
    if worker.settings.mail.smtp.max_connections == 0:  # the other processes send
        backlog = Backlog(worker.db, lambda: True)
        for _ in filler.fill(who, decider, run_id, advance, None, part):
            backlog.wait()
        filled()
        return
    filling = filler.fill(who, decider, run_id, advance, worker.kept, part)
    delivery = Delivery()
    try:
        sender = worker.sender(
            reporter, advance=advance, more=more, delivery=delivery, stop=filler.stop
        )
    except DeliveryError as exc:  # nothing can go now: every digest is still stored
        left = earlier + sum(filling)
        filled()
        if left:
            result.delivery_error = str(exc)
            result.deferred += left
            reporter.error(f"{exc}; {left} message(s) left pending")
        return
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
