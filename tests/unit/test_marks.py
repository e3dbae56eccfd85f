"""The "sent" marks of a process's lanes share commits, and no lane goes on before its own
mark is committed."""

from __future__ import annotations

import threading

import pytest

from digest.jobs.outbox import Marks, NotRecorded


def test_marks_that_arrive_during_a_commit_share_the_next_one() -> None:
    commits: list[list[tuple[str, str]]] = []
    first = threading.Event()
    release = threading.Event()

    def write(group: list[tuple[str, str]]) -> None:
        if not commits:
            first.set()
            release.wait(5)
        commits.append(group)

    marks = Marks(write)
    done: list[str] = []
    lead = threading.Thread(target=lambda: (marks.record(("m0", "a")), done.append("m0")))
    lead.start()
    first.wait(5)
    others = [
        threading.Thread(target=lambda i=i: (marks.record((f"m{i}", "a")), done.append(f"m{i}")))
        for i in range(1, 5)
    ]
    for t in others:
        t.start()
    while len(marks.waiting) < 4:
        threading.Event().wait(0.01)
    assert done == []  # nobody goes on while the commit holding its mark is not done
    release.set()
    for t in [lead, *others]:
        t.join(5)
    assert sorted(done) == [f"m{i}" for i in range(5)]
    assert [len(g) for g in commits] == [1, 4]


def test_a_failed_commit_fails_every_lane_whose_mark_it_held() -> None:
    def write(group: list[tuple[str, str]]) -> None:
        raise OSError("disk I/O error\nmore detail")

    with pytest.raises(NotRecorded, match=r"OSError: disk I/O error$"):
        Marks(write).record(("m0", "a"))
