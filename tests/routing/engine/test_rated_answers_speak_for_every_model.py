"""A rated answer scores the model that gave it. What it says of the other models there is read
from the evaluations: where one model fails, how the others fared on the same prompts. Without
it, a model rated down on hard prompts looked worse there than every unrated model, and routing
paid for a stronger model that fails them too (the feedback replay on LLMRouter)."""

import warnings

import numpy as np
import pytest

from routing.engine.snapshot import Evidence

NAN = np.nan
CHEAP, PRICEY, FIELD = 0, 1, 1000  # llm ids; prompt ids from 1000 are rated answers


def evidence() -> Evidence:
    # Four evaluated prompts of dataset 7: pricey passes wherever cheap does, and half the others.
    scores = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0],
                       [0.0, NAN],   # a rated answer: cheap failed
                       [1.0, NAN]],  # a rated answer: cheap passed
                      dtype=np.float32)
    prompts = [1, 2, 3, 4, FIELD, FIELD + 1]
    return Evidence(rows={pid: i for i, pid in enumerate(prompts)}, columns={CHEAP: 0, PRICEY: 1}, scores=scores,
                    costs=np.zeros_like(scores), field_rows=frozenset({FIELD, FIELD + 1}),
                    datasets=np.array([7, 7, 7, 7, 9, 9]))


def test_the_links_are_read_from_the_evaluations_only():
    links = evidence().outcome_links((7,))
    assert links[CHEAP, 0, PRICEY] == pytest.approx(0.5)  # where cheap failed, pricey passed half the time
    assert links[CHEAP, 1, PRICEY] == pytest.approx(1.0)
    assert links[PRICEY, 1, CHEAP] == pytest.approx(2 / 3)


def test_a_rated_answer_fills_in_the_other_models_from_the_links():
    ev = evidence()
    scores, _ = ev.neighbourhood([FIELD, 1, FIELD + 1], [CHEAP, PRICEY])
    field = np.array([True, False, True])

    merged, sims, merged_field = ev.field_merged(scores, np.array([0.9, 0.8, 0.7]), field, [CHEAP, PRICEY], (7,))

    assert merged.tolist()[0] == [1.0, 1.0]  # the evaluated prompt first, as it was
    assert merged[1:].ravel().tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert sims.tolist() == pytest.approx([0.8, 0.9, 0.7]) and merged_field.tolist() == [False, True, True]
    assert np.isnan(scores[0, 1]), "the neighbourhood read by the cost estimates is left as it was"


def test_the_rated_answers_of_one_request_merge_into_one_neighbour():
    """Rated round after round, one request would otherwise fill the neighbours with copies of itself."""
    ev = evidence()
    scores = np.array([[0.0, NAN], [NAN, 1.0]], dtype=np.float32)  # cheap failed, then pricey passed it

    merged, sims, field = ev.field_merged(scores, np.array([0.9, 0.9]), np.array([True, True]), [CHEAP, PRICEY], (7,))

    assert merged.tolist() == [[0.0, 1.0]] and sims.tolist() == pytest.approx([0.9]) and field.tolist() == [True]


def test_datasets_out_of_scope_say_nothing():
    ev = evidence()
    scores, _ = ev.neighbourhood([FIELD], [CHEAP, PRICEY])
    merged, _, _ = ev.field_merged(scores, np.array([0.9]), np.array([True]), [CHEAP, PRICEY], (8,))
    assert np.isnan(merged[0, 1])


def test_a_merge_with_no_evaluations_to_complete_it_from_raises_no_warning():
    ev = evidence()
    scores = np.array([[0.0, NAN], [NAN, 1.0]], dtype=np.float32)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # np.nanmean warned "Mean of empty slice" on every such request
        merged, _, _ = ev.field_merged(scores, np.array([0.9, 0.9]), np.array([True, True]), [CHEAP, PRICEY], (8,))

    assert merged.tolist() == [[0.0, 1.0]]
