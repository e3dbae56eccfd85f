"""arXiv announcement feeds in the shape rss.arxiv.org serves them (info.arxiv.org/help/
rss_specifications.html): RSS 2.0 and Atom, with new, cross and replace items, the empty feed
of a weekend, and the error document an unknown category gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

EASTERN = timezone(timedelta(hours=-5))
NS = (
    'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:atom="http://www.w3.org/2005/Atom" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/"'
)


@dataclass(frozen=True)
class Item:
    id: str  # with its version, as the feed's guid has it: "2511.00001v1"
    title: str
    abstract: str = "An abstract."
    kind: str = "new"  # new, cross, replace, replace-cross
    categories: tuple[str, ...] = ("cs.LG",)
    authors: str = "Ada Lovelace, Alan Turing and Grace Hopper"

    @property
    def bare(self) -> str:
        return self.id.rsplit("v", 1)[0]


def announced(day: date) -> datetime:
    return datetime.combine(day, time(), EASTERN)


def built(day: date) -> datetime:
    return datetime.combine(day, time(5, 0, 11), UTC)


def rss(query: str, day: date, items: list[Item], built_at: datetime | None = None) -> bytes:
    pub = format_datetime(announced(day))
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f'<rss {NS} version="2.0">',
        "<channel>",
        f"<title>{escape(query)} updates on arXiv.org</title>",
        f"<link>http://rss.arxiv.org/rss/{escape(query)}</link>",
        f"<description>{escape(query)} updates on the arXiv.org e-print archive.</description>",
        f'<atom:link href="http://rss.arxiv.org/rss/{escape(query)}" rel="self" '
        'type="application/rss+xml"/>',
        "<docs>http://www.rssboard.org/rss-specification</docs>",
        "<language>en-us</language>",
        f"<lastBuildDate>{format_datetime(built_at or built(day))}</lastBuildDate>",
        "<managingEditor>rss-help@arxiv.org</managingEditor>",
        f"<pubDate>{pub}</pubDate>",
        "<skipDays><day>Saturday</day><day>Sunday</day></skipDays>",
    ]
    for it in items:
        parts += [
            "<item>",
            f"<title>{escape(it.title)}</title>",
            f"<link>https://arxiv.org/abs/{it.bare}</link>",
            f"<description>arXiv:{it.id} Announce Type: {it.kind} \n"
            f"Abstract: {escape(it.abstract)}</description>",
            f'<guid isPermaLink="false">oai:arXiv.org:{it.id}</guid>',
            *(f"<category>{escape(c)}</category>" for c in it.categories),
            f"<pubDate>{pub}</pubDate>",
            f"<arxiv:announce_type>{it.kind}</arxiv:announce_type>",
            "<dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>",
            f"<dc:creator>{escape(it.authors)}</dc:creator>",
            "</item>",
        ]
    parts += ["</channel>", "</rss>"]
    return "\n".join(parts).encode()


def atom(query: str, day: date, items: list[Item], built_at: datetime | None = None) -> bytes:
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xml:lang="en-us">',
        f"<id>http://rss.arxiv.org/atom/{escape(query)}</id>",
        f"<title>{escape(query)} updates on arXiv.org</title>",
        f"<updated>{(built_at or built(day)).isoformat()}</updated>",
        f'<link href="http://rss.arxiv.org/atom/{escape(query)}" rel="self" '
        'type="application/atom+xml"/>',
        f"<subtitle>{escape(query)} updates on the arXiv.org e-print archive.</subtitle>",
    ]
    for it in items:
        parts += [
            "<entry>",
            f"<id>oai:arXiv.org:{it.id}</id>",
            f"<title>{escape(it.title)}</title>",
            f"<updated>{announced(day).isoformat()}</updated>",
            f'<link href="https://arxiv.org/abs/{it.bare}" rel="alternate" type="text/html"/>',
            f"<summary>arXiv:{it.id} Announce Type: {it.kind}\n"
            f"Abstract: {escape(it.abstract)}</summary>",
            *(
                f"<category term={quoteattr(c)} scheme='http://arxiv.org/schemas/atom'/>"
                for c in it.categories
            ),
            f"<published>{announced(day).isoformat()}</published>",
            f"<arxiv:announce_type>{it.kind}</arxiv:announce_type>",
            "<dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>",
            f"<dc:creator>{escape(it.authors)}</dc:creator>",
            "</entry>",
        ]
    parts.append("</feed>")
    return "\n".join(parts).encode()


def feed_error(query: str) -> bytes:
    """What rss.arxiv.org answers (with 200) for a category it does not know."""
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        f'<rss {NS} version="2.0"><channel>'
        f"<title>Feed error for query: {escape(query)}</title>"
        f"<link>http://rss.arxiv.org/rss/{escape(query)}</link>"
        f"<description>Bad Request: {escape(query)} is not a valid category</description>"
        "<docs>http://www.rssboard.org/rss-specification</docs><language>en-us</language>"
        "</channel></rss>"
    ).encode()


def api_answer(found: list[Item | str]) -> bytes:
    """An export API answer: an entry per Item; for each bare id (one arXiv does not know)
    the empty entry arXiv answers with."""
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom">',
        "<id>https://arxiv.org/api/query</id>",
        "<title>arXiv Query</title>",
        f"<opensearch:totalResults>{len(found)}</opensearch:totalResults>",
    ]
    for it in found:
        if isinstance(it, str):
            parts.append("<entry><updated>2025-11-06T00:00:00Z</updated></entry>")
            continue
        parts += [
            "<entry>",
            f"<id>http://arxiv.org/abs/{it.bare}v2</id>",
            "<updated>2024-02-01T00:00:00Z</updated>",
            "<published>2024-01-20T00:00:00Z</published>",
            f"<title>{escape(it.title)}</title>",
            f"<summary>{escape(it.abstract)}</summary>",
            *(f"<author><name>{escape(a.strip())}</name></author>" for a in it.authors.split(",")),
            f'<link href="http://arxiv.org/abs/{it.bare}v2" rel="alternate" type="text/html"/>',
            *(f"<category term={quoteattr(c)}/>" for c in it.categories),
            "</entry>",
        ]
    parts.append("</feed>")
    return "\n".join(parts).encode()
