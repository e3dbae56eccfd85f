"""The composed message: structure, headers, escaping, links, size."""

from __future__ import annotations

import dataclasses
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

from digest.compose import GMAIL_CLIP_BYTES, Composer, trim_words
from digest.models import Digest, Keyword, Match, Paper, Ranked, Subscriber

from .conftest import make_settings

EVIL = '<script>alert("x")</script> World Models & <b>friends</b>'


def digest(
    n: int = 3, name: str | None = "Ada", abstract: str = "We study world models."
) -> Digest:
    papers = [
        Ranked(
            Paper(
                key=f"arxiv:2511.0000{i}",
                source="huggingface",
                source_id=f"2511.0000{i}",
                title=EVIL if i == 0 else f"Paper {i} on world models",
                abstract=abstract,
                authors=tuple(f"Author {j}" for j in range(7)),
                upvotes=12,
                url=f"https://huggingface.co/papers/2511.0000{i}",
                pdf_url=f"https://arxiv.org/pdf/2511.0000{i}",
                code_url="https://github.com/o/r" if i == 0 else None,
            ),
            score=3.0,
            matches=(Match("world model", "title", 1, 3.0),),
        )
        for i in range(n)
    ]
    sub = Subscriber(email="ada@example.org", name=name, keywords=(Keyword("world model"),))
    return Digest(sub, date(2025, 11, 6), papers)


def composer(tmp_path: Path) -> Composer:
    return Composer(make_settings(tmp_path, DIGEST_FROM="Paper Digest <digest@papers.example>"))


def test_multipart_alternative_with_headers(tmp_path: Path) -> None:
    c = composer(tmp_path).compose(digest())
    msg = message_from_bytes(c.message.as_bytes(), policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in msg.iter_parts())
    assert msg["Subject"] == "3 new papers on world model"
    assert msg["From"] == "Paper Digest <digest@papers.example>"
    assert msg["To"] == "Ada <ada@example.org>"
    assert msg["Message-ID"].startswith("<digest.20251106.") and msg["Message-ID"].endswith(
        "@papers.example>"
    )
    assert msg["List-Id"] == "Paper Digest <paper-digest.papers.example>"
    assert msg["Date"] and msg["List-Unsubscribe"]


def test_message_id_is_deterministic_per_decided_digest(tmp_path: Path) -> None:
    comp = composer(tmp_path)
    first, again = comp.compose(digest()), comp.compose(digest())
    assert first.message["Message-ID"] == again.message["Message-ID"]
    assert (
        comp.compose(digest(2)).message["Message-ID"]
        != comp.compose(digest(3)).message["Message-ID"]
    )


def test_untrusted_title_stays_text(tmp_path: Path) -> None:
    c = composer(tmp_path).compose(digest())
    msg = message_from_bytes(c.message.as_bytes(), policy=policy.default)
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "<script>" not in html and "<b>friends</b>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;friends&lt;/b&gt;" in html
    assert '<script>alert("x")</script> World Models & <b>friends</b>' in " ".join(text.split())


def test_each_paper_has_its_links_authors_votes_and_chips(tmp_path: Path) -> None:
    c = composer(tmp_path).compose(digest())
    for i in range(3):
        assert f'href="https://huggingface.co/papers/2511.0000{i}"' in c.html
        assert f'href="https://arxiv.org/pdf/2511.0000{i}"' in c.html
        assert f"https://arxiv.org/pdf/2511.0000{i}" in c.text
    assert 'href="https://github.com/o/r"' in c.html and "Code:    https://github.com/o/r" in c.text
    assert "Author 0, Author 1, Author 2, Author 3 et al." in c.html
    assert "12 upvotes" in c.html and "12 upvotes" in c.text
    assert ">world model</span>" in c.html
    assert 'style="' in c.html and "<style" in c.html  # inlined, media queries kept


def test_text_part_is_wrapped_at_72(tmp_path: Path) -> None:
    c = composer(tmp_path).compose(digest(abstract="word " * 200))
    assert max(len(line) for line in c.text.splitlines()) <= 72


def test_a_full_digest_stays_under_gmail_clipping(tmp_path: Path) -> None:
    c = composer(tmp_path).compose(digest(10, abstract="long abstract text " * 300))
    assert len(c.html.encode()) < GMAIL_CLIP_BYTES


def test_one_upvote_is_singular(tmp_path: Path) -> None:
    d = digest(1)
    d.papers[0] = Ranked(
        dataclasses.replace(d.papers[0].paper, upvotes=1), 3.0, d.papers[0].matches
    )
    c = composer(tmp_path).compose(d)
    assert "1 upvote" in c.html and "1 upvotes" not in c.html
    assert "1 upvote" in c.text and "1 upvotes" not in c.text


def test_trim_on_a_word_boundary() -> None:
    assert trim_words("alpha beta gamma delta", 12) == "alpha beta…"
    assert trim_words("short", 12) == "short"
