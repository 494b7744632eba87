"""The analyzer retrains while folds and imports delete prompts: a prompt gone between reading the
labels and reading its text is left out, not a KeyError that stops the retraining (the feedback
replay on LLMRouter hit it)."""

import pytest

from routing.analysis.training import _registry_vectors, _RegistryLabels

pytestmark = pytest.mark.django_db


def test_a_prompt_deleted_since_the_labels_were_read_is_left_out():
    vectors, reencoded = _registry_vectors([987654321])
    labels = _RegistryLabels([(987654321, "code")], [(987654321, "software")], [(987654321, 0.5)])

    assert (vectors, reencoded) == ({}, 0)
    assert labels.within(vectors).ids() == []
