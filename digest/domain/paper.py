"""A paper as sources list it and the store keeps it, and the one key it has across versions,
re-listings and sources."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

_ARXIV_NEW = re.compile(r"^(\d{4}\.\d{4,5})(?:v\d+)?$")
_ARXIV_OLD = re.compile(r"^([a-z][a-z.-]+/\d{7})(?:v\d+)?$", re.IGNORECASE)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# An arXiv category ("cs.LG", "hep-th", "cond-mat.stat-mech") or a whole archive ("cs").
CATEGORY = re.compile(r"^[a-z][a-z-]*(\.[A-Za-z][A-Za-z-]*)?$")


def arxiv_id(raw: str | None) -> str | None:
    """The arXiv id without its version suffix, or None when `raw` is not an arXiv id."""
    if not raw:
        return None
    raw = raw.strip()
    if raw.lower().startswith("arxiv:"):
        raw = raw[6:]
    m = _ARXIV_NEW.match(raw) or _ARXIV_OLD.match(raw)
    return m.group(1).lower() if m else None


_ARXIV_LINK = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/(.+?)(?:\.pdf)?/?$"
)


def arxiv_ids(names: Iterable[str]) -> tuple[str, ...]:
    """Papers a reader names, as arXiv ids ("2401.12345", "arXiv:2401.12345v2", or an
    arxiv.org abs or pdf link), each once and without version; ValueError naming the first
    that is not one."""
    out: list[str] = []
    for name in names:
        link = _ARXIV_LINK.match(name.strip())
        found = arxiv_id(link.group(1) if link else name)
        if found is None:
            raise ValueError(f"{name!r} is not an arXiv id like 2401.12345")
        if found not in out:
            out.append(found)
    return tuple(out)


def arxiv_categories(names: Iterable[str], *, known: bool = True) -> tuple[str, ...]:
    """`names` as arXiv categories (or archives), written as arXiv writes them ("cs.lg" is
    cs.LG), each once in its first place; ValueError naming the first that is not one: a
    category arXiv does not have filters out every paper, so a digest that names one would
    silently stop. `known=False` (a profile stored before the taxonomy was checked) checks
    the shape only."""
    out: list[str] = []
    for c in names:
        if not CATEGORY.match(c):
            raise ValueError(f"{c!r} is not an arXiv category like cs.RO or hep-th")
        spelled = _SPELLED.get(c.lower())
        if spelled is None and known:
            raise ValueError(f"{c!r} is not an arXiv category (arxiv.org/category_taxonomy)")
        out.append(spelled or c)
    return tuple(dict.fromkeys(out))


def _taxonomy(groups: dict[str, str]) -> frozenset[str]:
    return frozenset(
        f"{archive}.{sub}" if sub else archive
        for archive, subs in groups.items()
        for sub in (subs.split() or [""])
    )


# arXiv's category taxonomy (arxiv.org/category_taxonomy): archive -> its subject classes.
_GROUPS = {
    "cs": "AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM MS "
    "NA NE NI OH OS PF PL RO SC SD SE SI SY",
    "econ": "EM GN TH",
    "eess": "AS IV SP SY",
    "math": "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR "
    "QA RA RT SG SP ST",
    "astro-ph": "CO EP GA HE IM SR",
    "cond-mat": "dis-nn mes-hall mtrl-sci other quant-gas soft stat-mech str-el supr-con",
    "gr-qc": "",
    "hep-ex": "",
    "hep-lat": "",
    "hep-ph": "",
    "hep-th": "",
    "math-ph": "",
    "nlin": "AO CD CG PS SI",
    "nucl-ex": "",
    "nucl-th": "",
    "physics": "acc-ph ao-ph app-ph atm-clus atom-ph bio-ph chem-ph class-ph comp-ph data-an "
    "ed-ph flu-dyn gen-ph geo-ph hist-ph ins-det med-ph optics plasm-ph pop-ph soc-ph space-ph",
    "q-bio": "BM CB GN MN NC OT PE QM SC TO",
    "q-fin": "CP EC GN MF PM PR RM ST TR",
    "quant-ph": "",
    "stat": "AP CO ME ML OT TH",
}
ARXIV_ARCHIVES = frozenset(_GROUPS)
ARXIV_TAXONOMY = _taxonomy(_GROUPS)
_SPELLED = {c.lower(): c for c in ARXIV_ARCHIVES | ARXIV_TAXONOMY}


def normalize_title(title: str) -> str:
    """Case, accents, punctuation and spacing folded away, so re-typeset titles compare equal."""
    folded = unicodedata.normalize("NFKD", title).casefold()
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return _NON_WORD.sub(" ", folded).strip()


def canonical_key(source_id: str | None, title: str) -> str:
    """One key per paper across versions, re-listings and sources (ARCHITECTURE, step 2)."""
    aid = arxiv_id(source_id)
    if aid:
        return f"arxiv:{aid}"
    return f"title:{normalize_title(title)}"


def http_url(raw: object) -> str | None:
    """`raw` if it is an http(s) URL, else None: a listing's links must not become `javascript:`."""
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    if re.match(r"^https?://[^\s<>\"'\x00-\x1f\x7f]+$", raw, re.IGNORECASE):
        return raw
    return None


@dataclass(frozen=True, slots=True)
class Paper:
    key: str
    source: str
    source_id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None
    listed_on: date | None = None
    upvotes: int | None = None
    url: str | None = None
    pdf_url: str | None = None
    code_url: str | None = None
    project_url: str | None = None
    organization: str | None = None
    ai_keywords: tuple[str, ...] = ()
    ai_summary: str | None = None
    github_stars: int | None = None
    categories: tuple[str, ...] = ()  # arXiv's, the primary first; () where no source says
    discussion_url: str | None = None  # the Hugging Face page, when `url` is another

    @property
    def arxiv_id(self) -> str | None:
        return arxiv_id(self.source_id)
