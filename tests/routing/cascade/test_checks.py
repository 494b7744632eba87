"""The cascade's checks: the answer format a prompt asks for, extraction, compliance, agreement."""

from routing.cascade.checks import CHOICE, CODE, NUMBER, AnswerFormat, agree, answer_format, complies, extract

FEW_SHOT = """Which is a mammal?
A) trout
B) whale
Print only a single choice from "A" or "B" without explanation. Answer:
B

Lasers are used in surgery for
A) making fine incisions.
B) disinfecting instruments.
C) illuminating operating fields.
D) stitching wounds.
Print only a single choice from "A" or "B" or "C" or "D" without explanation.
Answer:"""


def test_it_reads_the_options_of_the_question_asked_not_of_the_examples():
    assert answer_format(FEW_SHOT) == AnswerFormat(CHOICE, "ABCD")


def test_it_gives_long_text_no_format():
    assert answer_format("Write an essay on the history of the bicycle.") is None


def test_it_reads_no_answer_from_code_but_fails_a_response_without_any():
    fmt = answer_format("Write a python function to count the substrings of a string.")
    assert fmt == AnswerFormat(CODE)
    written = "Here it is:\n\n```python\ndef count(s):\n    return len(s) * (len(s) + 1) // 2\n```"
    assert extract(written, fmt) is None
    assert complies(written, fmt) and complies("def count(s):\n    return 0", fmt)
    assert not complies("You can count them with a formula: n times n plus one, halved.", fmt)


def test_it_asks_a_number_of_arithmetic_questions():
    assert answer_format("Q: 3 apples and 4 more?\nAnswer: 7\n\nQ: 10 less 2?\nAnswer:") == AnswerFormat(NUMBER)
    assert extract("First 12, then 40. The answer is 1,250.", AnswerFormat(NUMBER)) == "1250"


def test_it_extracts_a_choice_letter_in_the_usual_spellings():
    fmt = AnswerFormat(CHOICE, "ABCD")
    assert [extract(r, fmt) for r in ("C", "C\n", "(B)", "A) making fine incisions.", "The answer is D.")] == \
        ["C", "C", "B", "A", "D"]
    assert extract("I do not know", fmt) is None
    assert extract("E", fmt) is None  # not one of the options


def test_it_fails_a_response_that_ignores_the_requested_format():
    fmt = AnswerFormat(CHOICE, "AB")
    assert complies("B", fmt) and complies(" A)\n", fmt)
    assert not complies("A) home, because it is smaller", fmt)
    assert not complies("I do not think either fits", fmt)


def test_two_answers_agree_only_when_both_are_given_and_equal():
    assert agree("B", "B")
    assert not agree("B", "C") and not agree(None, None) and not agree("B", None)
