"""What else a keyword may be written as: the field's abbreviations, spellings and compounds.

A keyword's variants are the keyword itself, its subscriber's own synonyms, and every phrase
made by swapping a part of one of those for an equivalent from `GROUPS`: "offline RL" also
reads as "offline reinforcement learning", "LLM agent" as "large language model agent".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .terms import fold, tokens

# Each line is one interest, written every way papers write it. Only unambiguous abbreviations:
# "CV" or "IL" mean too many things to be expanded silently.
GROUPS: tuple[str, ...] = (
    "reinforcement learning | RL",
    "deep reinforcement learning | deep RL | DRL",
    "offline reinforcement learning | batch reinforcement learning",
    "multi-agent reinforcement learning | MARL",
    "inverse reinforcement learning | IRL",
    "reinforcement learning from human feedback | RLHF",
    "reinforcement learning from AI feedback | RLAIF",
    "reinforcement learning with verifiable rewards | RLVR",
    "large language model | LLM | language model | LM",
    "small language model | SLM",
    "large reasoning model | LRM",
    "multimodal large language model | MLLM | multimodal LLM",
    "vision-language model | VLM | large vision-language model | LVLM",
    "vision-language-action | VLA",
    "vision-and-language navigation | vision-language navigation | VLN",
    "LLM agent | language agent | agentic LLM",
    "function calling | tool calling | function call | tool call",
    "tool use | tool usage | use of tools | using tools | tool-using",
    "model predictive control | MPC | receding horizon control",
    "PID | proportional-integral-derivative",
    "partially observable | partial observability | POMDP",
    "Markov decision process | MDP",
    "recurrent neural network | RNN",
    "long short-term memory | LSTM",
    "convolutional neural network | CNN | ConvNet",
    "graph neural network | GNN",
    "multilayer perceptron | MLP",
    "vision transformer | ViT",
    "state space model | state-space model | SSM",
    "mixture of experts | mixture-of-experts | MoE",
    "retrieval-augmented generation | retrieval augmented generation | RAG",
    "chain of thought | chain-of-thought | CoT",
    "tree of thoughts | ToT",
    "in-context learning | ICL",
    "neural radiance field | NeRF",
    "Gaussian splatting | 3D Gaussian splatting | 3DGS",
    "generative adversarial network | GAN",
    "variational autoencoder | VAE",
    "denoising diffusion probabilistic model | DDPM",
    "low-rank adaptation | LoRA",
    "parameter-efficient fine-tuning | PEFT",
    "supervised fine-tuning | SFT",
    "direct preference optimization | DPO",
    "proximal policy optimization | PPO",
    "group relative policy optimization | GRPO",
    "soft actor-critic | SAC",
    "Monte Carlo tree search | MCTS",
    "natural language processing | NLP",
    "automatic speech recognition | speech recognition | ASR",
    "optical character recognition | OCR",
    "visual question answering | VQA",
    "named entity recognition | NER",
    "knowledge graph | KG",
    "simultaneous localization and mapping | SLAM",
    "behavior cloning | behavioral cloning | behaviour cloning | behavioural cloning",
    "game theory | game-theoretic | game theoretical",
    "autonomous driving | self-driving",
    "sim-to-real | sim2real",
    "human-robot interaction | HRI",
    "neural architecture search | NAS",
    "out-of-distribution | OOD",
    "physics-informed neural network | PINN",
    "ordinary differential equation | ODE",
    "partial differential equation | PDE",
    "stochastic differential equation | SDE",
    "Gaussian process | GP",
    "Bayesian optimization | BayesOpt",
    "key-value cache | KV cache",
    "text-to-image | T2I",
    "text-to-video | T2V",
    "artificial intelligence | AI",
    "machine learning | ML",
)

# Prefixes that English writes open, hyphenated or closed: "multi-agent", "multiagent".
PREFIXES = ("multi", "self", "pre", "post", "non", "semi", "meta", "cross", "sub")
MAX_VARIANTS = 32


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of writing a keyword: how to show it, the tokens that match it, and between
    which of them other words may stand. Words written apart ("LLM agent") may have a word
    or two between them ("LLM-based agents"); the parts of a compound ("multi-agent") may
    not, or "multi-task agents" would be a multi-agent paper."""

    label: str
    tokens: tuple[str, ...]
    loose: tuple[bool, ...]  # for each junction between two tokens: may other words stand there


def _words(phrase: str) -> tuple[str, ...]:
    return tuple(fold(phrase).split())


def _variant(words: tuple[str, ...]) -> Variant:
    toks: list[str] = []
    loose: list[bool] = []
    for word in words:
        parts = tokens(word)
        if not parts:
            continue
        if toks:
            loose.append(True)
        loose.extend(False for _ in parts[1:])
        toks.extend(parts)
    return Variant(" ".join(words), tuple(toks), tuple(loose))


def _compounds(words: tuple[str, ...]) -> Iterable[tuple[str, ...]]:
    """The same words with one prefix closed up ("self play", "self-play" -> "selfplay")
    or split off ("multiagent" -> "multi-agent")."""
    for i, word in enumerate(words):
        head, _, rest = word.partition("-")
        if head in PREFIXES and rest:
            yield (*words[:i], head + rest, *words[i + 1 :])
        if i + 1 < len(words) and word in PREFIXES:
            yield (*words[:i], word + words[i + 1], *words[i + 2 :])
        for p in PREFIXES:
            if word.startswith(p) and len(word) - len(p) >= 4 and word[len(p) :].isalpha():
                yield (*words[:i], f"{p}-{word[len(p) :]}", *words[i + 1 :])


class Thesaurus:
    """Phrase substitution over token sequences, so one table expands every keyword."""

    def __init__(self, groups: Iterable[str] = GROUPS) -> None:
        self._by_tokens: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        self._group: dict[tuple[str, ...], int] = {}
        self._groups = 0
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[Variant, ...]] = {}
        for line in groups:
            self.add([p.strip() for p in line.split("|")])

    def add(self, phrases: Iterable[str]) -> None:
        self._cache.clear()
        members = [w for w in (_words(p) for p in phrases) if w]
        group = self._groups
        self._groups += 1
        for words in members:
            key = tokens(" ".join(words))
            self._group.setdefault(key, group)
            alternatives = self._by_tokens.setdefault(key, [])
            for other in members:
                if other != words and other not in alternatives:
                    alternatives.append(other)

    def variants(self, term: str, synonyms: Sequence[str] = ()) -> tuple[Variant, ...]:
        """`term` first, then its own synonyms, then substitutions; at most MAX_VARIANTS.
        Cached: ten thousand profiles share far fewer distinct keywords."""
        key = (term, tuple(synonyms))
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._expand(term, key[1])
        return found

    def _expand(self, term: str, synonyms: Sequence[str]) -> tuple[Variant, ...]:
        queue = [w for w in (_words(t) for t in (term, *synonyms)) if w]
        seen: dict[tuple[tuple[str, ...], tuple[bool, ...]], Variant] = {}
        while queue and len(seen) < MAX_VARIANTS:
            words = queue.pop(0)
            v = _variant(words)
            if not v.tokens or (v.tokens, v.loose) in seen:
                continue
            seen[v.tokens, v.loose] = v
            queue.extend(self._swaps(words))
            queue.extend(_compounds(words))
        return tuple(seen.values())

    def _swaps(self, words: tuple[str, ...]) -> Iterable[tuple[str, ...]]:
        """Each known part swapped for its equivalents, but not a part inside a longer
        part of the same group: "large language model" never becomes "large LLM"."""
        stems = [tokens(w) for w in words]
        known = {
            (i, j): key
            for i in range(len(words))
            for j in range(i + 1, len(words) + 1)
            if (key := tuple(t for s in stems[i:j] for t in s)) in self._group
        }
        for (i, j), key in known.items():
            if any(
                a <= i and j <= b and (a, b) != (i, j) and self._group[k] == self._group[key]
                for (a, b), k in known.items()
            ):
                continue
            for alt in self._by_tokens[key]:
                yield (*words[:i], *alt, *words[j:])


THESAURUS = Thesaurus()
