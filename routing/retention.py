"""Prompt retention per cohort: after `retention_days`, what people sent and got back is kept only
as a SHA-256 hash, or dropped, in conversations, batches and decisions alike (a periodic task).

- Conversations: each message's text (and a conversation's title, taken from its first message)
  goes; "hash" keeps the message with its text's hash, "drop" deletes it, and a conversation left
  empty. A person's conversations follow their chat's cohort (their first cohort by name, else
  the default one), as the chat does.
- Batches, once finished or cancelled: each row's request, reference answer and answer; "hash"
  keeps their hashes in place of the text.
- Decisions never hold the request's text; both policies remove the request's embedding.
What routing learned (evidence rows) and the accounting (usage, costs) stay.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from routing.models import Batch, BatchItem, Cohort, Conversation, Decision, Message

FINISHED = [Batch.Status.SUCCEEDED, Batch.Status.FAILED, Batch.Status.CANCELLED, Batch.Status.STOPPED]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def prompt_retention_apply(*, now: datetime | None = None) -> Counter[str]:
    """Apply every cohort's policy to what is older than its retention; safe to run any number of times."""
    now = now or timezone.now()
    done: Counter[str] = Counter()
    # Hash before drop: a person under both (two cohorts over time) ends with the stricter.
    for cohort in Cohort.objects.exclude(prompt_retention=Cohort.Retention.KEEP).order_by("-prompt_retention"):
        cutoff = now - timedelta(days=cohort.retention_days)
        drop = cohort.prompt_retention == Cohort.Retention.DROP
        done["decisions"] += Decision.objects.filter(cohort=cohort, created_at__lt=cutoff,
                                                     embedding__isnull=False).update(embedding=None)
        done["batches"] += _batches(cohort, cutoff, drop=drop, now=now)
        done["messages"] += _messages(cohort, cutoff, drop=drop, now=now)
    return done


def _batches(cohort: Cohort, cutoff: datetime, *, drop: bool, now: datetime) -> int:
    batches = Batch.objects.filter(cohort=cohort, status__in=FINISHED, created_at__lt=cutoff,
                                   prompts_removed_at__isnull=True)
    count = 0
    for batch_id in batches.values_list("pk", flat=True):
        with transaction.atomic():
            items = BatchItem.objects.filter(batch_id=batch_id)
            if drop:
                items.update(messages=[], reference="", content="")
            else:
                for item in items.only("pk", "messages", "reference", "content").iterator(chunk_size=500):
                    BatchItem.objects.filter(pk=item.pk).update(
                        messages=[{"role": m.get("role", ""), "content_sha256": sha256(_text(m))} for m in item.messages],
                        reference=f"sha256:{sha256(item.reference)}" if item.reference else "",
                        content=f"sha256:{sha256(item.content)}" if item.content else "")
            Batch.objects.filter(pk=batch_id).update(prompts_removed_at=now)
        count += 1
    return count


def _text(message: dict[str, Any]) -> str:
    content = message.get("content", "")
    return content if isinstance(content, str) else str(content)


def _messages(cohort: Cohort, cutoff: datetime, *, drop: bool, now: datetime) -> int:
    old = Message.objects.filter(conversation__user_id__in=_people_of(cohort), created_at__lt=cutoff,
                                 removed_at__isnull=True)
    conversations = set(old.values_list("conversation_id", flat=True))
    if drop:
        count, _ = old.delete()
        Conversation.objects.filter(pk__in=conversations, messages__isnull=True).delete()
    else:
        count = 0
        for message in old.only("pk", "content", "meta").iterator(chunk_size=500):
            meta = {**message.meta, "sha256": sha256(message.content)}
            count += Message.objects.filter(pk=message.pk).update(content="", meta=meta, removed_at=now)
    for conversation in Conversation.objects.filter(pk__in=conversations).only("pk", "created_at"):
        Conversation.objects.filter(pk=conversation.pk).update(
            title=f"Conversation of {conversation.created_at:%Y-%m-%d} (text removed)")
    return count


def _people_of(cohort: Cohort) -> list[int]:
    """Whose chat this cohort governs: people whose first cohort by name it is (the default
    cohort: people in none), as routing.access.keys.get_chat_key_for_user decides."""
    default = Cohort.objects.filter(name="default").values_list("pk", flat=True).first()
    people = get_user_model().objects.filter(conversations__isnull=False).distinct().prefetch_related("cohorts")
    governed = []
    for person in people:
        cohorts = sorted(person.cohorts.all(), key=lambda c: c.name)
        if (cohorts[0].pk if cohorts else default) == cohort.pk:
            governed.append(person.pk)
    return governed
