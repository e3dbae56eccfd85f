"""The subscriber file is read whole or refused whole, with the entry named."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.domain.subscriber import Keyword
from digest.errors import ConfigError
from digest.subscriptions.file import load_subscribers

GOOD = """
[[subscriber]]
email = "Ada@Example.org"
name = "Ada"
keywords = ["world model", { term = "diffusion policy", weight = 2.0 }]
exclude = ["survey"]
authors = ["Sergey Levine"]
max_papers = 3
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "subscribers.toml"
    path.write_text(text)
    return path


def test_reads_the_contract_shape(tmp_path: Path) -> None:
    (s,) = load_subscribers(write(tmp_path, GOOD))
    assert s.email == "ada@example.org"
    assert s.keywords == (Keyword("world model"), Keyword("diffusion policy", 2.0))
    assert (s.exclude, s.authors, s.max_papers) == (("survey",), ("Sergey Levine",), 3)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            'email = "not-an-address"\nkeywords = ["x"]',
            "subscriber #2 (not-an-address): invalid email",
        ),
        (
            'email = "b@example.org"\nkeywords = []',
            "subscriber #2 (b@example.org): 'keywords' must be a non-empty list",
        ),
        (
            'email = "b@example.org"\nkeywords = ["x"]\ncolour = "red"',
            "subscriber #2 (b@example.org): unknown key(s): colour",
        ),
        (
            'email = "b@example.org"\nkeywords = [{ term = "x", weight = -1 }]',
            "must be a number above 0 and at most 100",
        ),
        ('email = "b@example.org"\nkeywords = ["x"]\nmax_papers = 0', "'max_papers' must be"),
        (
            'email = "ADA@example.org"\nkeywords = ["x"]',
            "subscriber #2 (ADA@example.org): duplicate email",
        ),
        ('email = "b@example.org"\nkeywords = ["  "]', "'keywords' has an empty entry"),
    ],
)
def test_one_bad_entry_refuses_the_whole_file(tmp_path: Path, entry: str, message: str) -> None:
    path = write(tmp_path, GOOD + "\n[[subscriber]]\n" + entry + "\n")
    with pytest.raises(ConfigError) as err:
        load_subscribers(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "\n[[subscriber]\nemail = 1\n")
    with pytest.raises(ConfigError, match=r"subscribers.toml: not valid TOML: .*line 10"):
        load_subscribers(path)


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="subscriber file not found"):
        load_subscribers(tmp_path / "nope.toml")


def test_a_name_with_a_newline_is_folded_to_one_line(tmp_path: Path) -> None:
    (s,) = load_subscribers(write(tmp_path, GOOD.replace('"Ada"', '"Ada\\nBcc: evil@example.com"')))
    assert s.name == "Ada Bcc: evil@example.com"


def test_categories_are_written_as_arxiv_writes_them_and_stored_ones_still_read() -> None:
    from digest.domain.subscriber import parse_entry

    cats = ["cs.lg", "cond-mat.Stat-Mech"]
    sub = parse_entry({"email": "a@example.org", "keywords": ["x"], "categories": cats})
    assert sub.categories == ("cs.LG", "cond-mat.stat-mech")
    with pytest.raises(ValueError, match=r"'cs\.XYZ' is not an arXiv category"):
        parse_entry({"email": "a@example.org", "keywords": ["x"], "categories": ["cs.XYZ"]})
    # a profile the database kept from before the taxonomy was checked is still read
    old = {"email": "a@example.org", "keywords": ["x"], "categories": ["cs.XYZ"]}
    assert parse_entry(old, stored=True).categories == ("cs.XYZ",)
