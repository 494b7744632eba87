"""Grading a candidate's answer to a sampled batch request.

Against the user's reference answer, with a metric that fits the reference and the task: a
number is matched as a number, free text (summaries, translations, writing) by token F1, and
anything else (a label, a choice, a short answer) by exact match after normalising. Or by a
judge model from the registry with a rubric, when the user names one.
"""

from __future__ import annotations

import re
import string
from collections import Counter

FREE_TEXT_TASKS = frozenset({"summarisation", "translation", "creative_writing", "chat"})
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
RELATIVE_TOLERANCE = 1e-6
DEFAULT_RUBRIC = ("Is the answer correct and does it do what the request asks? "
                  "0 is wrong or unhelpful, 10 is fully correct and complete.")
JUDGE_SCORE = re.compile(r"score\s*[:=]\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def metric_for(reference: str, task_type: str) -> str:
    if _number(reference.strip()) is not None and NUMBER.fullmatch(reference.strip().replace(" ", "")):
        return "numeric"
    if task_type in FREE_TEXT_TASKS:
        return "token_f1"
    return "exact"


def reference_grade(answer: str, reference: str, task_type: str = "") -> float:
    """How well `answer` matches `reference`, from 0 to 1."""
    metric = metric_for(reference, task_type)
    if metric == "numeric":
        return _numeric(answer, reference)
    if metric == "token_f1":
        return token_f1(answer, reference)
    return _exact(answer, reference)


def normalise(text: str) -> str:
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(text.split())


def _exact(answer: str, reference: str) -> float:
    wanted = normalise(reference)
    if not wanted:
        return 0.0
    # Models often wrap a short answer ("The answer is B."): the last line, or the whole
    # answer, equal to the reference counts; so does the reference as the answer's first word.
    lines = [normalise(line) for line in answer.strip().splitlines() if line.strip()]
    said = normalise(answer)
    if said == wanted or (lines and lines[-1] == wanted):
        return 1.0
    return float(said.split()[:len(wanted.split())] == wanted.split() and len(wanted.split()) <= 3)


def _numeric(answer: str, reference: str) -> float:
    expected = _number(reference.strip())
    numbers = NUMBER.findall(answer)
    if expected is None or not numbers:
        return 0.0
    given = _number(numbers[-1])  # the final number: working usually comes first
    if given is None:
        return 0.0
    return float(abs(given - expected) <= RELATIVE_TOLERANCE * max(1.0, abs(expected)))


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def token_f1(answer: str, reference: str) -> float:
    said, wanted = normalise(answer).split(), normalise(reference).split()
    if not said or not wanted:
        return float(said == wanted)
    common = sum((Counter(said) & Counter(wanted)).values())
    if not common:
        return 0.0
    precision, recall = common / len(said), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def judge_messages(*, request: str, answer: str, reference: str | None, rubric: str) -> list[dict[str, str]]:
    parts = [f"Rubric: {rubric}", f"Request: {request}"]
    if reference:
        parts.append(f"Reference answer: {reference}")
    parts += [f"Answer: {answer}", "Reply with one line: Score: N, where N is from 0 to 10."]
    return [{"role": "system", "content": "You grade answers to requests, strictly, by the rubric."},
            {"role": "user", "content": "\n\n".join(parts)}]


def judge_score(verdict: str) -> float | None:
    """The judge's 0-10 score as 0..1; None when it gave none."""
    found = JUDGE_SCORE.search(verdict)
    if found is None:
        return None
    return min(1.0, max(0.0, float(found.group(1)) / 10))
