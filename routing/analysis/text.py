"""What the analyzer reads of a request: a conversation's latest message with its context, and a
very long text pruned to its two ends and a sample of its middle."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from registry.tokens import estimate_tokens

# Pruning: the instruction and the actual question usually sit at the two ends of a long prompt.
PRUNE_MIN_WORDS: Final = 10_000
PRUNE_EDGE_WORDS: Final = 500
PRUNE_MIDDLE_SENTENCES: Final = 16
PRUNE_SENTENCE_MAX_WORDS: Final = 40
PRUNE_SEPARATOR: Final = "\n...\n"
# A conversation is analysed as its latest user message; the instructions and the last
# CONTEXT_TURNS earlier user turns add their embedding at CONTEXT_WEIGHT (below 1, so they never
# outweigh the message: "Hi there!" after a coding question is small talk, not code).
CONTEXT_TURNS: Final = 3
CONTEXT_WEIGHT: Final = 0.3

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def prune(text: str) -> tuple[str, bool]:
    """The first and last words of a very long text plus evenly spaced sentences between them."""
    words = text.split()
    if len(words) < PRUNE_MIN_WORDS:
        return text, False
    middle = _middle_sample(words[PRUNE_EDGE_WORDS:-PRUNE_EDGE_WORDS])
    head = " ".join(words[:PRUNE_EDGE_WORDS])
    tail = " ".join(words[-PRUNE_EDGE_WORDS:])
    return PRUNE_SEPARATOR.join([head, *middle, tail]), True


def _middle_sample(words: list[str]) -> list[str]:
    sentences = _SENTENCE_END.split(" ".join(words))
    count = min(PRUNE_MIDDLE_SENTENCES, len(sentences))
    # The centre of each of `count` equal slices: deterministic, and spread over the whole middle.
    picks = [sentences[(2 * k + 1) * len(sentences) // (2 * count)] for k in range(count)]
    # A "sentence" can be the whole middle when it has no punctuation; cap it.
    return [" ".join(s.split()[:PRUNE_SENTENCE_MAX_WORDS]) for s in picks]


@dataclass(frozen=True)
class RoutingText:
    """What routing reads of a conversation."""

    latest: str  # the latest user message (the instructions when there is none): it drives the analysis
    context: str  # the instructions and the last few earlier user turns: they add to it, never outweigh it
    tokens: int  # the whole conversation's, answers included: the model is billed for all of it


def routing_text(messages: list[dict[str, Any]]) -> RoutingText:
    """The one reading of a conversation that the route API, chat completions, browser chat and batches share."""
    said = [(m.get("role"), str(m.get("content") or "")) for m in messages]
    instructions = [text for role, text in said if role in ("system", "developer") and text.strip()]
    asked = [text for role, text in said if role == "user" and text.strip()]
    tokens = estimate_tokens("\n".join(text for _, text in said))
    if not asked:
        return RoutingText(latest="\n".join(instructions), context="", tokens=tokens)
    context = "\n".join([*instructions, *asked[-1 - CONTEXT_TURNS:-1]])
    return RoutingText(latest=asked[-1], context=context, tokens=tokens)
