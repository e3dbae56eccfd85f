"""The composed message: structure, headers, escaping, links, size."""

from __future__ import annotations

import dataclasses
import itertools
import re
from datetime import date
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.compose.fit import GMAIL_CLIP_BYTES, HTML_BUDGET, html_size
from digest.compose.mime import HEADERS, header_block, plain_address, plain_line
from digest.compose.render import Composer
from digest.compose.text import columns
from digest.domain.digest import Digest, Match, Ranked
from digest.domain.paper import Paper
from digest.domain.subscriber import Keyword, Subscriber
from digest.jobs.wiring import composer_for
from tests.support.settings import make_settings

EVIL = '<script>alert("x")</script> World Models & <b>friends</b>'


def digest(
    n: int = 3,
    name: str | None = "Ada",
    abstract: str = "We study world models.",
    authors: int = 7,
    **paper: object,
) -> Digest:
    papers = [
        Ranked(
            Paper(
                **{
                    "key": f"arxiv:2511.{i:05d}",
                    "source": "huggingface",
                    "source_id": f"2511.{i:05d}",
                    "title": EVIL if i == 0 else f"Paper {i} on world models",
                    "abstract": abstract,
                    "authors": tuple(f"Author {j}" for j in range(authors)),
                    "upvotes": 12,
                    "url": f"https://huggingface.co/papers/2511.{i:05d}",
                    "pdf_url": f"https://arxiv.org/pdf/2511.{i:05d}",
                    "code_url": "https://github.com/o/r" if i == 0 else None,
                    **paper,
                }  # type: ignore[arg-type]
            ),
            score=3.0 - i / 1000,
            matches=(Match("world model", "title", 1, 3.0),),
        )
        for i in range(n)
    ]
    sub = Subscriber(email="ada@example.org", name=name, keywords=(Keyword("world model"),))
    return Digest.decided(sub, date(2025, 11, 6), papers, "papers.example")


def composer(tmp_path: Path) -> Composer:
    return composer_for(make_settings(tmp_path, DIGEST_FROM="Paper Digest <digest@papers.example>"))


def test_multipart_alternative_with_headers(tmp_path: Path) -> None:
    c = composer(tmp_path).compose(digest())
    msg = message_from_bytes(c.message.as_bytes(), policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in msg.iter_parts())
    # the top paper and the day: a subject of its own each day (no threading across days)
    top = '<script>alert("x")</script> World Models & <b>friends</b>'
    assert msg["Subject"].strip() == f"{top} and 2 more (6 Nov)"
    assert "3 new papers on world model" in c.html  # the headline says how many, and on what
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


def test_each_paper_has_its_links_authors_votes_and_reason(tmp_path: Path) -> None:
    c = composer(tmp_path).compose(digest())
    for i in range(3):
        # the title is the link to the paper page; no other link repeats it
        assert c.html.count(f'href="https://huggingface.co/papers/2511.{i:05d}"') == 1
        assert f'href="https://arxiv.org/pdf/2511.{i:05d}"' in c.html
        assert f"https://arxiv.org/pdf/2511.{i:05d}" in c.text
        assert f"Paper:          https://huggingface.co/papers/2511.{i:05d}" in c.text
    assert (
        'href="https://github.com/o/r"' in c.html
        and "Code:           https://github.com/o/r" in c.text
    )
    assert "Author 0, Author 1, Author 2 et al." in c.html
    assert "12 upvotes" in c.html and "12 upvotes" in c.text
    assert re.search(r"<b[^>]*>world model</b> in the title", c.html)
    assert "Why: world model in the title" in c.text
    assert 'style="' in c.html and "<style" in c.html  # inlined, media queries kept


def test_plain_text_is_numbered_aligned_wrapped_and_has_every_link(tmp_path: Path) -> None:
    long_url = "https://example.org/" + "x" * 90
    d = digest(
        12,
        abstract=f"word {'w' * 120} 世界模型 " * 40 + f" see {long_url}",
        project_url="https://example.org/project",
    )
    text = composer(tmp_path).compose(d).text
    lines = text.splitlines()
    numbered = [line for line in lines if line[:5].strip().rstrip(".").isdigit()]
    assert [line[:5] for line in numbered] == [f"{i:>3}. " for i in range(1, 13)]
    body = [line for line in lines if (line.strip() and not line.startswith("  ")) or line[:5]]
    assert body and all(columns(line) <= 72 for line in lines if long_url not in line)
    words = text.split()
    for r in d.papers:
        p = r.paper
        for url in (p.url, p.pdf_url, p.code_url, p.project_url):
            assert url is None or url in words  # whole, never broken across lines
    assert "Code:           https://github.com/o/r" in text and "Project:        https://" in text
    assert text.rstrip().endswith("Unsubscribe: mailto:digest@papers.example?subject=unsubscribe")


def heavy_digest(n: int) -> Digest:
    """Every field long and every link present: the most a card can weigh."""
    return digest(
        n,
        abstract="A long abstract about world models and planning. " * 80,
        authors=30,
        title="A long title about world models, offline reinforcement learning and more " * 2,
        github_stars=12345,
        organization="An Organization With A Rather Long Name For A Lab",
        code_url="https://github.com/some-org/some-repository",
        project_url="https://some-org.github.io/some-project/",
    )


def test_a_digest_of_25_long_papers_stays_whole_under_gmail_clipping(tmp_path: Path) -> None:
    d = heavy_digest(25)
    c = composer(tmp_path).compose(d)
    assert html_size(c.html) <= HTML_BUDGET < GMAIL_CLIP_BYTES
    assert c.html.count('class="blurb"') == 25  # nothing needed shortening
    blurbs = re.findall(r'class="blurb"[^>]*>(?:<span class="why".*?</span> )?([^<]*)</p>', c.html)
    assert len(blurbs) == 25 and all(len(b) > 100 for b in blurbs)


def test_too_much_content_shortens_the_least_relevant_cards_first(tmp_path: Path) -> None:
    d = heavy_digest(100)
    c = composer(tmp_path).compose(d)
    assert html_size(c.html) <= HTML_BUDGET
    cards = c.html.split('<tr><td class="')[3:]  # after the gutter and the header
    assert len(cards) == 101  # 100 papers, then the footer
    kinds = [
        "full"
        if "…</p>" in card and 'class="blurb"' in card
        else "card"
        if card.startswith("card")
        else "line"
        if card.startswith("line")
        else "footer"
        for card in cards
    ]
    assert kinds[0] == "full" and kinds[-2] == "line" and kinds[-1] == "footer"
    rank = {"full": 3, "card": 2, "line": 1, "footer": 0}
    assert all(rank[a] >= rank[b] for a, b in itertools.pairwise(kinds))
    for r in d.papers:  # every paper still has its linked title
        assert f'href="{r.paper.url}"' in c.html
    starts = [line for line in c.text.splitlines() if line.startswith("     A long abstract")]
    assert len(starts) == 100  # the text part is not clipped, so it keeps every abstract


def test_ai_summary_is_shown_where_the_listing_has_one(tmp_path: Path) -> None:
    d = digest(2, abstract="The long abstract.")
    summarized = Ranked(
        dataclasses.replace(d.papers[1].paper, ai_summary="One line on $O(\\sqrt{T})$ regret."),
        2.0,
        d.papers[1].matches,
    )
    d = dataclasses.replace(d, papers=(d.papers[0], summarized))
    c = composer(tmp_path).compose(d)
    assert "One line on O(√(T)) regret." in c.html and "One line on O(√(T)) regret." in c.text
    assert c.html.count("The long abstract.") == 1


def test_preheader_says_what_the_subject_does_not(tmp_path: Path) -> None:
    c = composer(tmp_path).compose(digest(3))
    pre = c.html.split('class="preheader"', 1)[1].split("</div>", 1)[0]
    assert "3 new papers on world model" in pre  # the subject already names the top paper


def test_templates_dir_overrides_some_templates_and_keeps_the_rest(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "digest.css").write_text(".title a { color: #ab1234; }\n")
    (mine / "digest.txt.j2").write_text("{% for card in cards %}{{ card.title }}\n{% endfor %}")
    c = composer_for(make_settings(tmp_path, DIGEST_TEMPLATES_DIR=str(mine))).compose(digest(2))
    assert "color:#ab1234" in c.html and 'class="card"' in c.html  # built-in HTML, my CSS
    assert c.text.splitlines()[1] == "Paper 1 on world models"


def test_a_handful_of_upvotes_or_stars_is_not_shown(tmp_path: Path) -> None:
    d = digest(2)
    few = Ranked(
        dataclasses.replace(d.papers[0].paper, upvotes=1, github_stars=3), 3.0, d.papers[0].matches
    )
    d = dataclasses.replace(d, papers=(few, d.papers[1]))
    c = composer(tmp_path).compose(d)
    assert "1 upvote" not in c.html and "1 upvote" not in c.text
    assert "GitHub star" not in c.html.split("Paper 1 on world models")[0]
    assert "12 upvotes" in c.html and "12 upvotes" in c.text  # enough to say something


HOSTILE_TITLES = [
    "Gödel, Escher, 圖靈: $O(\\sqrt{T})$ regret for 世界模型",
    "نماذج العالم للروبوتات",
    'Quote " and <b>bold</b> & an ampersand',
    "x" * 180,
]


def test_the_template_inlined_once_gives_what_premailer_gives_each_message(
    tmp_path: Path,
) -> None:
    """Every card shape (full, short, bare, one line), hostile text, and the footer with and
    without the subscriber pages: the same document as premailer run on the rendering."""
    from digest.compose.cards import BARE, FULL, LINE, SHORT
    from digest.compose.inline import inline_html, same_document

    for env in ({}, {"DIGEST_BASE_URL": "https://d.example", "DIGEST_SECRET_KEY": "k" * 20}):
        c = composer_for(make_settings(tmp_path, **env))
        assert c.inlined is not None and c.fallback is None
        d = digest(4)
        d = dataclasses.replace(
            d,
            papers=tuple(
                dataclasses.replace(r, paper=dataclasses.replace(r.paper, title=t))
                for r, t in zip(d.papers, HOSTILE_TITLES, strict=True)
            ),
            subscriber=dataclasses.replace(d.subscriber, uid="u1"),
        )
        ctx = c.context(d, "subject", [FULL, SHORT, BARE, LINE])
        fast = c.render_html(ctx)
        slow = inline_html(c.html_template.render(ctx))
        assert same_document(fast, slow)
        assert not same_document(fast, slow.replace("Gödel", "Godel"))  # the check can fail


def test_a_template_that_cannot_be_inlined_once_is_inlined_per_message(
    tmp_path: Path,
) -> None:
    own = tmp_path / "own"
    own.mkdir()
    source = (Path(__file__).parents[2] / "templates" / "digest.html.j2").read_text()
    (own / "digest.html.j2").write_text(
        source.replace('<td class="card">', '<td class="card" style="{{ \'color:#123456\' }}">')
    )
    c = composer_for(make_settings(tmp_path, DIGEST_TEMPLATES_DIR=str(own)))
    composed = c.compose(digest())
    assert c.fallback and c.inlined is None
    assert "color:#123456" in composed.html.replace(" ", "")
    assert 'class="title"' in composed.html and "style=" in composed.html


def test_the_html_part_reads_back_as_composed(tmp_path: Path) -> None:
    """Sent as 7-bit with character references where it can: a mail client decoding the
    part gets the very document composed, non-ASCII titles and all."""
    from digest.compose.inline import same_document

    d = digest(4)
    d = dataclasses.replace(
        d,
        papers=tuple(
            dataclasses.replace(r, paper=dataclasses.replace(r.paper, title=t))
            for r, t in zip(d.papers, HOSTILE_TITLES, strict=True)
        ),
    )
    c = composer(tmp_path).compose(d)
    part = c.message.get_body(("html",))
    assert part["Content-Transfer-Encoding"] == "7bit"
    assert same_document(part.get_content(), c.html)
    from lxml import html as lxml_html

    shown = lxml_html.document_fromstring(part.get_content()).text_content()
    assert "圖靈" in shown and "نماذج العالم" in shown and c.raw.isascii()


def test_a_part_that_holds_the_boundary_is_quoted_printable() -> None:
    from digest.compose.mime import BOUNDARY, text_body

    assert text_body("plain\nlines\n").encoding == "7bit"
    hostile = text_body(f"a\n--{BOUNDARY}--\nb")
    assert hostile.encoding == "quoted-printable"
    assert f"\r\n--{BOUNDARY}".encode() not in b"\r\n" + hostile.data
    assert text_body("x" * 1200).encoding == "quoted-printable"


ATEXT = st.sampled_from(list("abcXYZ019!#$%&'*+/=?^_`{|}~-"))
WORD = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=14)


@settings(max_examples=400, deadline=None)
@given(st.lists(WORD, min_size=1, max_size=8).map(" ".join))
def test_a_header_written_directly_is_what_the_email_package_writes(value: str) -> None:
    """The shortcut for a message's own headers, checked against the slow path it replaces:
    wherever it applies, the bytes are the email package's."""
    fast = plain_line("Subject", value)
    head = EmailMessage(policy=HEADERS)
    head["Subject"] = value
    if fast is not None:
        assert fast == header_block(head)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.text(ATEXT, min_size=1, max_size=8), max_size=3).map(" ".join),
    st.lists(st.text(ATEXT, min_size=1, max_size=8), min_size=1, max_size=3).map(".".join),
    st.sampled_from(["example.org", "a-b.c0.io", "x"]),
)
def test_an_address_written_directly_is_what_the_email_package_writes(
    name: str, local: str, domain: str
) -> None:
    text = plain_address(name, f"{local}@{domain}")
    assert text is not None
    fast = plain_line("To", text)
    head = EmailMessage(policy=HEADERS)
    head["To"] = Address(display_name=name, addr_spec=f"{local}@{domain}")
    if fast is not None:
        assert fast == header_block(head)
    assert plain_address("J. Smith", "a@example.org") is None  # the package quotes it


def test_headers_are_the_email_packages_whatever_way_they_are_made(tmp_path: Path) -> None:
    """A message composed with the shortcut and one composed without it are the same bytes
    but for the Date; a name or subject the shortcut cannot write goes the slow way."""
    composer = composer_for(make_settings(tmp_path))
    for name in ("Ada", 'Ada "the" Lovelace, PhD', "Zoë"):
        d = digest(name=name)
        fast = composer.compose(d).raw
        composer.plain_headers = False
        slow = composer.compose(d).raw
        composer.plain_headers = True
        date_line = re.compile(rb"Date: [^\r]*\r\n")
        assert date_line.sub(b"", fast) == date_line.sub(b"", slow)
        parsed = message_from_bytes(fast, policy=policy.default)
        assert parsed["To"].addresses[0].display_name == name


def test_each_card_carries_signed_rating_links_and_says_when_a_rating_moved_it(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path,
        DIGEST_FROM="Paper Digest <digest@papers.example>",
        DIGEST_BASE_URL="https://digest.example",
        DIGEST_SECRET_KEY="k" * 32,
    )
    d = digest(3)
    first = d.papers[0]
    why = Match("like “Legged <robots>”, which you liked", "rated", 1, 0.25)
    moved = dataclasses.replace(first, matches=(*first.matches, why), score=first.score + 0.25)
    d = dataclasses.replace(
        d, papers=(moved, *d.papers[1:]), subscriber=dataclasses.replace(d.subscriber, uid="u1")
    )
    c = composer_for(settings).compose(d)
    assert c.html.count(">More like this</a>") == c.html.count(">Less like this</a>") == 3
    assert c.text.count("More like this: https://digest.example/rate/") == 3
    links = re.findall(r"https://digest.example/rate/[\w.\-]+", c.text)
    assert len(set(links)) == 6  # one per paper and verdict
    assert "like “Legged &lt;robots&gt;”, which you liked" in c.html
    assert "like “Legged <robots>”, which you liked" in " ".join(c.text.split())
    assert "which you liked" not in c.html.split("Paper 1 on world models")[1]


def test_papers_that_did_not_fit_are_counted_and_linked_and_the_digest_reads_elsewhere(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path, DIGEST_BASE_URL="https://digest.example", DIGEST_SECRET_KEY="k" * 32
    )
    d = dataclasses.replace(
        digest(3),
        passed_over=tuple(f"arxiv:2511.1{i:04d}" for i in range(4)),
        subscriber=dataclasses.replace(digest(3).subscriber, uid="u1", max_papers=3),
    )
    c = composer_for(settings).compose(d)
    # the one-click URL as mail clients read it: literally, never as encoded words
    assert re.search(
        rb"\r\nList-Unsubscribe: <https://digest\.example/unsubscribe/\S+>,\r\n ", c.raw
    )
    assert c.message["List-Unsubscribe"].startswith("<https://digest.example/unsubscribe/")
    html = " ".join(c.html.split())
    assert "4 more papers matched your keywords but did not fit in 3." in html
    assert re.search(r'<a href="https://digest.example/view/[^"#]+#more"[^>]*>See all 7</a>', html)
    assert re.search(
        r'<a href="https://digest.example/preferences/[^"]+"[^>]*>get more a day', html
    )
    text = " ".join(c.text.split())
    assert "4 more papers matched your keywords but did not fit in 3." in text
    assert re.search(r"All of them: https://digest.example/view/\S+#more", text)
    for label, path in (("View in browser", "view"), ("Past digests", "archive"), ("Feed", "feed")):
        assert re.search(rf'href="https://digest.example/{path}/[^"]+"[^>]*>{label}</a>', html)
    # without the web app: the count, and nothing to follow
    plain = composer(tmp_path).compose(dataclasses.replace(d, subscriber=digest(3).subscriber))
    assert "4 more papers matched" in plain.html and "/view/" not in plain.html


def test_a_trending_section_is_shortened_before_any_pick_and_the_part_still_fits(
    tmp_path: Path,
) -> None:
    heavy = heavy_digest(100)
    hot = tuple(
        Ranked(dataclasses.replace(r.paper, key=f"hot:{i}", title=f"Hot {i} " * 20), 0.0, ())
        for i, r in enumerate(heavy_digest(20).papers)
    )
    d = dataclasses.replace(heavy, trending=hot)
    c = composer(tmp_path).compose(d)
    assert html_size(c.html) <= HTML_BUDGET
    lines = c.html.split('<tr><td class="line"')
    assert all("Hot " in line for line in lines[-20:])  # the trending cards went first
