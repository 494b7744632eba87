"""Token counts where no tokenizer's count is known: the one rule every estimate uses.

About four characters make a token in English text under the tokenizers of the models in the
catalog; an empty text is no tokens. Where an answer's length is unknown, DEFAULT_OUTPUT_TOKENS
stands in for it (routing a request, estimating an evaluation result's cost).
"""

from __future__ import annotations

import math

CHARS_PER_TOKEN = 4
DEFAULT_OUTPUT_TOKENS = 256


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)
