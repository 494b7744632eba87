"""Rated answers among a request's neighbours add to the evaluations' evidence: closer than every
evaluated prompt, they do not lower the weight of the evaluated prompts for the models nobody rated."""

import numpy as np

from routing.learning.quality import KNN, neighbour_estimate

NAN = np.nan


def test_rated_answers_leave_the_unrated_models_estimate_as_the_evaluations_give_it():
    # Two evaluated prompts scoring both models, at similarity 0.80 and 0.70.
    evaluated = np.array([[1.0, 0.0], [0.0, 1.0]])
    sims = np.array([0.80, 0.70])
    priors = np.array([0.5, 0.5])
    before, _ = neighbour_estimate(evaluated, sims, priors, **KNN)
    # Ten rated answers of model 0, much closer to the request (0.95).
    rated = np.array([[1.0, NAN]] * 10)
    scores, all_sims = np.vstack([rated, evaluated]), np.r_[[0.95] * 10, sims]
    reference = np.r_[[False] * 10, [True, True]]

    after, weight = neighbour_estimate(scores, all_sims, priors, reference=reference, **KNN)

    assert after[1] == before[1]  # model 1 has no rated answers: its evidence is unchanged
    assert after[0] > before[0] and weight[0] > weight[1]  # model 0's ratings count, each at most fully
    diluted, _ = neighbour_estimate(scores, all_sims, priors, **KNN)
    assert abs(diluted[1] - priors[1]) < abs(before[1] - priors[1])  # without the reference: shrunk to the prior
