"""Realistic workloads from ../shared/data for the benchmarks: a day's listing in the shape of
the Hugging Face Daily Papers API, keyword profiles drawn from the field's topics, and a
loopback server that serves the listing the way the real API pages it (the tests' own)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TOPICS = """world model, offline RL, VLA, diffusion policy, LLM agent, tool use, function calling,
planning, RLHF, DPO, reward model, reasoning, chain of thought, test-time scaling, code generation,
program synthesis, theorem proving, math reasoning, retrieval-augmented generation, RAG,
long context, KV cache, quantization, pruning, distillation, mixture of experts, MoE,
state space model, Mamba, linear attention, transformer, vision transformer, ViT, CLIP,
contrastive learning, self-supervised learning, masked autoencoder, image generation,
text-to-image, video generation, video understanding, 3D reconstruction, NeRF,
Gaussian splatting, SLAM, depth estimation, optical flow, object detection, segmentation,
multimodal LLM, VLM, visual question answering, OCR, document understanding, speech recognition,
text-to-speech, audio generation, music generation, robot manipulation, locomotion,
imitation learning, behavior cloning, sim-to-real, dexterous manipulation, navigation,
autonomous driving, motion planning, model predictive control, MPC, multi-agent, self-play,
game, imperfect information, POMDP, memory, recurrent, partially observable, exploration,
curiosity, meta-learning, continual learning, federated learning, differential privacy,
adversarial robustness, jailbreak, alignment, safety, interpretability, mechanistic
interpretability, sparse autoencoder, hallucination, evaluation, benchmark, dataset,
graph neural network, GNN, molecule generation, protein design, drug discovery, weather
forecasting, time series, anomaly detection, recommendation, search, ranking""".replace("\n", " ")


def day_files(data: Path) -> list[Path]:
    """The recorded Daily Papers days: ../shared/data/hf-daily-papers/, or the sample listing
    the project ships (digest/sample/), which has the same two days."""
    found = sorted((data / "hf-daily-papers").glob("*.json")) or sorted(data.glob("20*.json"))
    if not found:
        raise SystemExit(f"no Daily Papers listings in {data}: pass --data")
    return found


def topics(data: Path) -> list[str]:
    """Realistic keywords: a list of the field's topics, the listings' own short
    ai_keywords, and the judged profiles' keywords."""
    terms = {t.strip() for t in TOPICS.split(",")}
    for day_file in day_files(data):
        for item in json.loads(day_file.read_text()):
            terms.update(k for k in item["paper"].get("ai_keywords", []) if len(k.split()) <= 3)
    judged = data / "relevance-dev.json"
    if judged.is_file():
        for prof in json.loads(judged.read_text())["profiles"]:
            terms.update(prof["keywords"])
    return sorted(terms)


def listing_items(data: Path, n: int = 500) -> list[dict[str, Any]]:
    """`n` corpus papers as Daily Papers API items: the listing's own item (ai_keywords,
    upvotes) where the two recorded days have the paper, else one built like it, with a
    code and a project link as many real items carry."""
    listed = {i["paper"]["id"]: i for f in day_files(data) for i in json.loads(f.read_text())}
    corpus_file = data / "papers-corpus.json"
    if not corpus_file.is_file():  # the shipped sample: its own items, as many as it has
        return list(listed.values())[:n]
    corpus = json.loads(corpus_file.read_text())
    if n > len(corpus):
        raise SystemExit(f"the corpus has {len(corpus)} papers, fewer than {n}")
    items = []
    for i, p in enumerate(corpus[:n]):
        item = listed.get(p["id"])
        if item is None:
            paper = {
                "id": p["id"],
                "authors": [],
                "publishedAt": "2025-11-05T17:00:00.000Z",
                "submittedOnDailyAt": "2025-11-06T03:00:00.000Z",
                "title": p["title"],
                "summary": p["summary"],
                "upvotes": (i * 7) % 40,
                "ai_keywords": [],
            }
            if i % 3 == 0:
                paper["githubRepo"] = f"https://github.com/example/{p['id']}"
            item = {"paper": paper, "title": p["title"], "summary": p["summary"]}
        items.append(item)
    return items


def subscriber_entries(n: int, vocab: list[str], seed: int = 7) -> list[dict[str, Any]]:
    """`n` subscriber-file entries of 3 to 8 keywords each, max_papers 10."""
    rng = random.Random(seed)
    return [
        {
            "email": f"reader{i:07d}@example.org",
            "keywords": rng.sample(vocab, rng.randint(3, 8)),
            "max_papers": 10,
        }
        for i in range(n)
    ]


@contextmanager
def listing_server(days: dict[str, list[dict[str, Any]]]) -> Iterator[str]:
    """The tests' loopback Daily Papers API (limit/p paging, [] past the end) serving `days`;
    yields its base URL."""
    from tests.support.http import FakeHF

    with FakeHF() as api:
        api.days.update(days)
        yield api.api_url
