"""The checks a cascade applies to a cheap model's answer before it returns it.

What format the prompt asks its answer in (a choice letter, a number, a short answer, code; long
text has none), the answer extracted from a response in that format (code has none), whether the
response kept to the format, and whether two models' answers agree. All of them read text only: the
prompt and the responses of the calls the cascade made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CHOICE = "choice"
NUMBER = "number"
SHORT = "short"
CODE = "code"

SHORT_WORDS = 6  # a short answer: a line of at most this many words
# An option line of a multiple-choice question: "A) text", "(B) text", "C. text", "D: text".
_OPTION = re.compile(r"^\s*\(?([A-H])[).:]\s+\S", re.M)
_ONLY_LETTER = re.compile(r"\s*\(?([A-H])\)?[.:]?\s*")
_LEADING_LETTER = re.compile(r"\s*\(?([A-H])(?:[).:]|\s|$)")
_STATED_LETTER = re.compile(r"answer(?: is)?:?\s*\(?([A-H])\b", re.I)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_STATED_NUMBER = re.compile(r"(?:####|answer(?: is)?:?)\s*\$?(-?\d[\d,]*(?:\.\d+)?)", re.I)
_ASKS_NUMBER = re.compile(r"\b(how many|how much|what is the (?:total|sum|value|number)|calculate|compute)\b", re.I)
# Few-shot examples whose answers are one line: "Answer: 42", "A: Paris".
_SHOWN_ANSWER = re.compile(r"^\s*(?:answer|a):\s*(.+?)\s*$", re.I | re.M)
_ASKS_CODE = re.compile(r"\b(write|implement) (a|an|the) (python |javascript |java |c\+\+ |sql )?"
                        r"(function|program|class|method|script|query)\b", re.I)
# Code in a response: a fenced block, or a line that starts a definition or an import.
_HAS_CODE = re.compile(r"```|^\s*(def|class|async def|function|import|from \S+ import|#include|public|fn|func)\s",
                       re.M)


@dataclass(frozen=True)
class AnswerFormat:
    kind: str  # CHOICE, NUMBER, SHORT or CODE
    options: str = ""  # the option letters of a choice, in order

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.options}" if self.options else self.kind


def answer_format(prompt: str) -> AnswerFormat | None:
    """The format the prompt's question asks its answer in; None for long text.

    Few-shot prompts end with the question asked (RouterBench's ARC and Winogrande prompts: five
    solved examples, then the question after the last blank line), so the question's own
    options are read from the last block that has any."""
    blocks = [b for b in re.split(r"\n\s*\n", prompt) if b.strip()]
    for block in reversed(blocks):
        letters = "".join(dict.fromkeys(_OPTION.findall(block)))
        if len(letters) >= 2 and "ABCDEFGH".startswith(letters):
            return AnswerFormat(CHOICE, letters)
    if "def " in prompt or "```" in prompt or _ASKS_CODE.search(prompt):
        return AnswerFormat(CODE)
    shown = _SHOWN_ANSWER.findall(prompt)
    if shown and all(_NUMBER.fullmatch(a.replace("$", "")) for a in shown):
        return AnswerFormat(NUMBER)
    if _ASKS_NUMBER.search(blocks[-1] if blocks else prompt):
        return AnswerFormat(NUMBER)
    if shown and all(len(a.split()) <= SHORT_WORDS for a in shown):
        return AnswerFormat(SHORT)
    return None


def extract(response: str, fmt: AnswerFormat | None) -> str | None:
    """The answer the response gives in the prompt's format, normalised; None if it gives none (and
    for code, whose answers no text comparison can tell apart or equal)."""
    if fmt is None or fmt.kind == CODE or not response.strip():
        return None
    if fmt.kind == CHOICE:
        for pattern in (_LEADING_LETTER, _STATED_LETTER):
            found = pattern.match(response) if pattern is _LEADING_LETTER else pattern.search(response)
            if found and found.group(1) in fmt.options:
                return found.group(1)
        return None
    if fmt.kind == NUMBER:
        stated = _STATED_NUMBER.findall(response)
        numbers = stated or _NUMBER.findall(response)
        return _number(numbers[-1]) if numbers else None
    line = response.strip().splitlines()[0]
    words = re.sub(r"[^\w\s]", " ", line.lower()).split()
    return " ".join(words) if 0 < len(words) <= SHORT_WORDS else None


def complies(response: str, fmt: AnswerFormat | None) -> bool:
    """Whether the response is the answer alone, as the prompt asked (a response that ignores the
    requested format is a sign that the model misread the question)."""
    if fmt is None:
        return bool(response.strip())
    if fmt.kind == CODE:
        return bool(_HAS_CODE.search(response))
    if fmt.kind == CHOICE:
        found = _ONLY_LETTER.fullmatch(response)
        return bool(found) and found.group(1) in fmt.options  # type: ignore[union-attr]
    if fmt.kind == NUMBER:
        return extract(response, fmt) is not None and len(response.split()) <= 60
    return extract(response, fmt) is not None


def agree(first: str | None, second: str | None) -> bool:
    """Two extracted answers agree: both given and equal."""
    return first is not None and first == second


def _number(text: str) -> str:
    value = float(text.replace(",", ""))
    return str(int(value)) if value.is_integer() else repr(value)
