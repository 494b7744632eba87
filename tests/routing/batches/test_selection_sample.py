"""A batch's sample: clustered, stratified by cluster, with a floor per cluster; and its interval."""

import numpy as np
import pytest

from routing.batches.selection import CLUSTER_FLOOR, MIN_SAMPLE, interval, sample_draw


def blobs(*sizes, dims=16, seed=0):
    """Well-separated groups of rows, one per size, in order."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dims)[: len(sizes)] * 10
    return np.vstack([centre + rng.normal(scale=0.1, size=(size, dims)) for centre, size in zip(centres, sizes)])


def test_it_clusters_the_batch_and_draws_about_two_percent_stratified_by_cluster():
    vectors = blobs(3000, 800, 200)
    sample = sample_draw(vectors, seed="batch-1")
    assert sample.cluster_sizes() == [3000, 800, 200]
    groups = [range(0, 3000), range(3000, 3800), range(3800, 4000)]
    assert [len(set(sample.labels[list(g)])) for g in groups] == [1, 1, 1]  # each group is one cluster
    drawn = [sum(p in g for p in sample.positions) for g in groups]
    assert drawn == [60, 16, 4]  # 2% of 4,000, split by cluster size
    assert len(set(sample.positions)) == len(sample.positions)
    shown = sample.as_dict()
    assert [(c["size"], c["sampled"]) for c in shown["clusters"]] == [(3000, 60), (800, 16), (200, 4)]
    assert shown["sample_positions"] == sorted(sample.positions)


def test_the_same_batch_gets_the_same_sample():
    vectors = blobs(3000, 800, 200)
    assert sample_draw(vectors, seed="b").positions == sample_draw(vectors, seed="b").positions


def test_every_round_of_grading_sees_every_cluster():
    sample = sample_draw(blobs(3000, 800, 200), seed="b")
    first_round = sample.positions[:3]
    assert sorted(int(sample.labels[p]) for p in first_round) == [0, 1, 2]


def test_a_small_cluster_gets_the_floor_and_a_small_batch_at_least_the_minimum():
    sample = sample_draw(blobs(3950, 45, 5), seed="b")
    assert sample.cluster_sizes() == [3950, 45, 5]
    drawn = [sum(sample.labels[p] == c for p in sample.positions) for c in range(3)]
    assert drawn[2] == CLUSTER_FLOOR  # 2% of 5 rounds to nothing
    small = sample_draw(blobs(300), seed="b")
    assert len(small.positions) == MIN_SAMPLE


def test_a_batch_smaller_than_the_minimum_is_sampled_whole():
    sample = sample_draw(blobs(15), seed="b")
    assert sorted(sample.positions) == list(range(15))


def test_only_eligible_rows_are_drawn_but_clusters_count_the_whole_batch():
    vectors = blobs(3000, 800, 200)
    eligible = np.zeros(4000, dtype=bool)
    eligible[::10] = True  # e.g. the rows with a reference answer
    sample = sample_draw(vectors, seed="b", eligible=eligible)
    assert sample.cluster_sizes() == [3000, 800, 200]
    assert all(eligible[p] for p in sample.positions)
    assert MIN_SAMPLE <= len(sample.positions) <= MIN_SAMPLE + CLUSTER_FLOOR  # the floor may add a row or two


def test_the_stratified_mean_weighs_clusters_by_their_size_in_the_batch():
    sample = sample_draw(blobs(3950, 45, 5), seed="b")
    # A score of 1 on the big cluster's rows only: the floor over-draws the small ones, the weights undo it.
    scores = [1.0 if sample.labels[p] == 0 else 0.0 for p in sample.positions]
    mean, _, _ = interval(scores, sample.weights(sample.positions), population=4000)
    assert mean == pytest.approx(3950 / 4000)


def test_the_interval_stays_open_when_every_sampled_score_is_perfect_and_closes_on_the_whole_batch():
    mean, low, high = interval([1.0] * 20, np.ones(20), population=1000)
    assert mean == 1.0 and high == 1.0 and 0.7 < low < 1.0
    mean, low, high = interval([1.0, 0.0, 1.0], np.ones(3), population=3)
    assert low == mean == high == pytest.approx(2 / 3)


def test_a_batch_of_repeated_requests_has_no_more_clusters_than_distinct_requests(recwarn):
    vectors = np.vstack([np.ones((3990, 8)), np.zeros((10, 8))])
    sample = sample_draw(vectors, seed="b")
    assert sample.cluster_sizes() == [3990, 10]
    assert not [w for w in recwarn if "distinct clusters" in str(w.message)]
