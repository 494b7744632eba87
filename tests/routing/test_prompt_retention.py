"""Prompt retention per cohort: after N days, conversations', batches' and decisions' prompts and
answers are kept only as hashes, or dropped; a cohort that keeps them keeps them."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from registry.models import LLM, Provider
from routing.models import Batch, BatchItem, Cohort, Conversation, Decision, Message
from routing.retention import prompt_retention_apply, sha256

pytestmark = pytest.mark.django_db
SECRET = "Our merger with Zebra Corp closes on Friday; draft the memo."


@pytest.fixture
def history(owner, outsider):
    """Forty-day-old and fresh records of the owner (cohort A) and the outsider (cohort B)."""
    llm = LLM.objects.create(name="m", provider=Provider.objects.create(name="p", kind="openai"))
    made = {}
    for persona in (owner, outsider):
        cohort = persona.cohort
        old = timezone.now() - timedelta(days=40)
        conversation = Conversation.objects.create(user=persona.user, title=SECRET[:40])
        asked = Message.objects.create(conversation=conversation, role="user", content=SECRET)
        answered = Message.objects.create(conversation=conversation, role="assistant", content="Here is the memo.")
        fresh = Message.objects.create(conversation=conversation, role="user", content="And a fresh one.")
        Message.objects.filter(pk__in=[asked.pk, answered.pk]).update(created_at=old)
        batch = Batch.objects.create(api_key=persona.key, cohort=cohort, model="m", total=1, status="succeeded")
        Batch.objects.filter(pk=batch.pk).update(created_at=old)
        item = BatchItem.objects.create(batch=batch, position=0, messages=[{"role": "user", "content": SECRET}],
                                        reference="42", content="The memo.")
        decision = Decision.objects.create(cohort=cohort, chosen_model=llm, strategy="knn",
                                           embedding=np.ones(384, dtype=np.float32) / np.sqrt(384))
        Decision.objects.filter(pk=decision.pk).update(created_at=old)
        made[persona.cohort.name] = {"conversation": conversation, "asked": asked, "fresh": fresh, "item": item,
                                     "batch": batch, "decision": decision}
    return made


def set_policy(persona, policy, days=30):
    Cohort.objects.filter(pk=persona.cohort.pk).update(prompt_retention=policy, retention_days=days)


def test_hash_keeps_only_hashes_of_what_is_older_than_the_retention(history, owner, outsider):
    set_policy(owner, "hash")
    prompt_retention_apply()
    mine = history[owner.cohort.name]
    asked = Message.objects.get(pk=mine["asked"].pk)
    assert asked.content == "" and asked.meta["sha256"] == sha256(SECRET) and asked.removed_at
    assert Message.objects.get(pk=mine["fresh"].pk).content == "And a fresh one."  # younger than 30 days
    assert SECRET[:20] not in Conversation.objects.get(pk=mine["conversation"].pk).title
    item = BatchItem.objects.get(pk=mine["item"].pk)
    assert item.messages == [{"role": "user", "content_sha256": sha256(SECRET)}]
    assert item.reference == f"sha256:{sha256('42')}" and item.content.startswith("sha256:")
    assert Decision.objects.get(pk=mine["decision"].pk).embedding is None
    # The other cohort keeps everything.
    theirs = history[outsider.cohort.name]
    assert Message.objects.get(pk=theirs["asked"].pk).content == SECRET
    assert BatchItem.objects.get(pk=theirs["item"].pk).messages[0]["content"] == SECRET
    assert Decision.objects.get(pk=theirs["decision"].pk).embedding is not None
    # Twice changes nothing more.
    assert sum(prompt_retention_apply().values()) == 0


def test_drop_deletes_old_messages_and_empties_old_batches(history, owner):
    set_policy(owner, "drop")
    prompt_retention_apply()
    mine = history[owner.cohort.name]
    assert not Message.objects.filter(pk=mine["asked"].pk).exists()
    assert Message.objects.filter(pk=mine["fresh"].pk).exists()  # its conversation stays with it
    item = BatchItem.objects.get(pk=mine["item"].pk)
    assert item.messages == [] and item.content == "" and item.reference == ""
    assert Batch.objects.get(pk=mine["batch"].pk).prompts_removed_at is not None


def test_a_running_batch_keeps_its_prompts_until_it_ends(history, owner):
    set_policy(owner, "drop")
    Batch.objects.filter(pk=history[owner.cohort.name]["batch"].pk).update(status="running")
    prompt_retention_apply()
    assert BatchItem.objects.get(pk=history[owner.cohort.name]["item"].pk).messages[0]["content"] == SECRET


def test_the_chat_says_the_text_was_removed(history, owner):
    set_policy(owner, "hash")
    prompt_retention_apply()
    page = owner.client.get(f"/chat/c/{history[owner.cohort.name]['conversation'].pk}/").content.decode()
    assert "Text removed on" in page and SECRET not in page and "And a fresh one." in page
