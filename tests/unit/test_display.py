"""How a paper's text is shown: math read as text, bounded lengths, break opportunities."""

from __future__ import annotations

import pytest

from digest.compose.text import ZWSP, breakable, columns, plain_math, trim_words, wrap_text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (r"Regret of $O(\sqrt{T})$", "Regret of O(√(T))"),
        (r"L$^{2}$NAS: Learning to Optimize", "L²NAS: Learning to Optimize"),
        (r"$f$-Divergence Regularization", "f-Divergence Regularization"),
        (r"$\alpha$-divergence and $\mathcal{O}(n^2 \log n)$", "α-divergence and 𝒪(n² log n)"),
        (r"\(\beta_t\)-VAE", "βₜ-VAE"),
        (r"$\mathbb{R}^{d\times k}$ embeddings", "ℝ^(d× k) embeddings"),
        ("Costs $5 and $10", "Costs $5 and $10"),  # money, not math: a space after the "$"
        ("100% accuracy \\ no math", "100% accuracy \\ no math"),  # "%" outside math stays
        (r"Broken $\frac{$ math", r"Broken $\frac{$ math"),  # unparseable: left as written
    ],
)
def test_inline_math_is_read_as_text(raw: str, shown: str) -> None:
    assert plain_math(raw) == shown


def test_trim_on_a_word_boundary() -> None:
    assert trim_words("alpha beta gamma delta", 12) == "alpha beta…"
    assert trim_words("short", 12) == "short"
    assert trim_words("x" * 50, 10) == "x" * 10 + "…"  # no space: cut anyway


def test_long_runs_get_break_opportunities_and_short_words_do_not() -> None:
    url = "https://example.org/" + "a" * 60
    out = breakable(f"see {url} now")
    assert out.replace(ZWSP, "") == f"see {url} now"
    assert all(len(run) <= 24 for run in out.split()[1].split(ZWSP))
    assert breakable("ordinary words stay as they are") == "ordinary words stay as they are"


def test_wrap_counts_columns_and_keeps_urls_whole() -> None:
    url = "https://example.org/" + "p" * 80
    text = wrap_text(f"{'世界模型' * 30} then {url} and {'z' * 100}", 72, 4)
    lines = text.splitlines()
    assert all(line.startswith("    ") for line in lines)
    assert all(columns(line) <= 72 for line in lines if url not in line)
    assert url in text.split() and "z" * 68 in text
    assert columns("世界") == 4 and columns("Z̵a") == 2
