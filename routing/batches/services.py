"""Batch mode: judge the candidates on a ~2% sample of a batch, answer every request with the model chosen.

A batch is stored whole, then Celery workers take over: `batch_run` has routing.batches.selection
draw a stratified sample, judge the candidates on it (by the registry's evidence, or by grading
their answers) and propose a model, with the next-best candidates as fallbacks;
`batch_chunk_run` answers the requests in chunks of CHUNK, on as many workers as there are.
Both are safe to run twice: the choice is made once, and an item is claimed before it is
answered (a claim older than STALE_CLAIM, from a worker that died, can be taken again).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from optiroute.api_errors import OptiRouteError
from registry.models import LLM
from registry.tokens import DEFAULT_OUTPUT_TOKENS, estimate_tokens
from routing.access.budgets import budget_left, usage_build
from routing.analysis.text import routing_text
from routing.batches.selection import batch_select
from routing.engine.preferences import preferences_resolve
from routing.engine.snapshot import snapshots
from routing.gateway.chat import PROFILE_PREFIX, named_model_for_cohort
from routing.inference.chain import AllProvidersFailed, Chain, chain_build, complete
from routing.inference.providers import ChatCall, unusable_reason
from routing.models import ApiKey, Batch, BatchItem, Decision, Usage
from routing.recorder import recorder

MAX_ITEMS = 10_000
CHUNK = 50
STALE_CLAIM = timedelta(minutes=10)


def get_batch_for_key(api_key: ApiKey, batch_id: uuid.UUID) -> Batch:
    """A batch of the key's cohort; any other is "not found"."""
    batch = Batch.objects.filter(pk=batch_id, cohort=api_key.cohort).select_related("chosen_model").first()
    if batch is None:
        raise OptiRouteError(f"no batch {batch_id} for this key's cohort", status=404, code="batch_not_found")
    return batch


def batch_create(*, api_key: ApiKey, model: str, requests: list[dict[str, Any]], options: dict[str, Any]) -> Batch:
    """Store a batch and hand it to the workers; a bad model or profile is refused before anything is stored."""
    _check_model(model, api_key, options)
    from routing.tasks import batch_run_task  # tasks import this module

    with transaction.atomic():
        batch = Batch.objects.create(api_key=api_key, cohort=api_key.cohort, model=model, options=options,
                                     total=len(requests))
        BatchItem.objects.bulk_create(
            [BatchItem(batch=batch, position=i, custom_id=r.get("custom_id") or str(i), messages=r["messages"])
             for i, r in enumerate(requests)], batch_size=1000)
        transaction.on_commit(lambda: batch_run_task.delay(str(batch.pk)))
    return batch


def _check_model(model: str, api_key: ApiKey, options: dict[str, Any]) -> None:
    if model.startswith(PROFILE_PREFIX):
        profile = model[len(PROFILE_PREFIX):]
        preferences_resolve(profile=None if profile == "auto" else profile, overrides=options.get("preferences"),
                            cohort=api_key.cohort)
        return
    named_model_for_cohort(model, api_key.cohort)


def batch_run(*, batch_id: str) -> None:
    """Route the sample, record the choice, then queue the chunks."""
    Batch.objects.filter(pk=batch_id, status=Batch.Status.QUEUED).update(status=Batch.Status.RUNNING)
    batch = Batch.objects.select_related("cohort", "api_key").get(pk=batch_id)
    if batch.status != Batch.Status.RUNNING:
        return  # finished already: a duplicate delivery
    if batch.chosen_model_id is None:
        try:
            _choose(batch)
        except OptiRouteError as exc:
            _fail(batch, exc.message)
            return
    from routing.tasks import batch_chunk_task

    for start in range(0, batch.total, CHUNK):
        batch_chunk_task.delay(str(batch.pk), start)


def _choose(batch: Batch) -> None:
    if batch.api_key is None:
        raise OptiRouteError("the batch's API key was deleted")
    snapshots.get(fresh=True)  # a batch is worth routing on the registry as it is now, not as of 5 s ago
    if not batch.model.startswith(PROFILE_PREFIX):
        llm = LLM.objects.select_related("provider").get(name=batch.model)
        if reason := unusable_reason(llm):
            raise OptiRouteError(f"{llm.name} cannot be called: {reason}")
        _record_choice(batch, [llm], {"pinned": llm.name})
        return
    selection = batch_select(batch=batch)
    options = batch.options
    ranking = selection.ranking
    chain = chain_build(ranking, allow_escalation=bool(options.get("allow_escalation")))
    if not chain.models:
        raise OptiRouteError("no model the sample's routing chose can be called: "
                             + "; ".join(f"{a['model']}: {a['error']}" for a in chain.attempts))
    _record_choice(batch, chain.models, {**selection.choice, "notices": chain.notices, "skipped": chain.attempts})


def _record_choice(batch: Batch, chain: list[LLM], details: dict[str, Any]) -> None:
    batch.chosen_model = chain[0]
    batch.sample_size = len(details.get("sample_positions", []))
    batch.choice = {**details, "chain": [m.name for m in chain]}
    batch.save(update_fields=["chosen_model", "sample_size", "choice"])


def batch_chunk_run(*, batch_id: str, start: int) -> int:
    """Answer the chunk's unanswered items with the batch's model chain; returns how many were answered."""
    batch = Batch.objects.select_related("cohort", "api_key", "chosen_model").get(pk=batch_id)
    if batch.status != Batch.Status.RUNNING or batch.api_key is None:
        return 0
    items = _claim(batch, start)
    chain_models = list(LLM.objects.filter(name__in=batch.choice["chain"]).select_related("provider"))
    chain_models.sort(key=lambda m: batch.choice["chain"].index(m.name))
    records: list[tuple[Decision, Usage | None]] = []
    # The chunk's own spending is written at its end, so the budget is read once and counted down here.
    try:
        left = budget_left(batch.cohort)
    except OptiRouteError:
        left = 0.0
    spent = 0.0
    for item in items:
        try:
            if left is not None and spent >= left:
                raise OptiRouteError(f"the monthly budget of cohort {batch.cohort.name} is spent", status=429)
            records.append(_answer(batch, item, chain_models))
            spent += item.cost_usd or 0.0
        except (OptiRouteError, AllProvidersFailed) as exc:
            item.status, item.error = BatchItem.Status.FAILED, exc.message
    recorder.write_now(records)
    BatchItem.objects.bulk_update(items, ["status", "content", "answered_by", "decision", "cost_usd", "error"])
    _finish_if_done(batch)
    return sum(item.status == BatchItem.Status.ANSWERED for item in items)


def chunk_unfinished(*, batch_id: str, start: int) -> bool:
    """Items of the chunk that another worker claimed and has not answered (it may have died)."""
    return BatchItem.objects.filter(batch_id=batch_id, batch__status=Batch.Status.RUNNING, position__gte=start,
                                    position__lt=start + CHUNK, status=BatchItem.Status.RUNNING).exists()


def _claim(batch: Batch, start: int) -> list[BatchItem]:
    now = timezone.now()
    claimable = (Q(status=BatchItem.Status.PENDING)
                 | Q(status=BatchItem.Status.RUNNING, claimed_at__lt=now - STALE_CLAIM))
    in_chunk = BatchItem.objects.filter(batch=batch, position__gte=start, position__lt=start + CHUNK)
    in_chunk.filter(claimable).update(status=BatchItem.Status.RUNNING, claimed_at=now)
    return list(in_chunk.filter(status=BatchItem.Status.RUNNING, claimed_at=now).order_by("position"))


def _answer(batch: Batch, item: BatchItem, chain_models: list[LLM]) -> tuple[Decision, Usage]:
    assert batch.api_key is not None and batch.chosen_model is not None
    tokens = routing_text(item.messages).tokens
    needed = tokens + (batch.options.get("max_output_tokens") or DEFAULT_OUTPUT_TOKENS)
    fitting = [m for m in chain_models if m.context_window is None or m.context_window >= needed]
    if not fitting:  # the sample spoke for the batch, not for this one long request
        raise OptiRouteError(f"this request needs about {needed} tokens, more than the context window of every "
                             f"model of the batch ({', '.join(m.name for m in chain_models)})")
    chain = Chain(models=fitting)
    call = ChatCall(model_id="", messages=item.messages, max_tokens=batch.options.get("max_output_tokens"),
                    temperature=None, timeout_s=settings.LLM_CALL_TIMEOUT_S)
    completion, llm = complete(chain, call)
    decision = Decision(
        mode=Decision.Mode.BATCH, api_key=batch.api_key, cohort=batch.cohort, chosen_model=batch.chosen_model,
        answered_by=llm, strategy="batch", profile=batch.model, analysis={"tokens": tokens},
        attempts=chain.attempts, notices=chain.notices, fallback_reason=chain.fallback_reason,
        explanation=(f"Batch {batch.pk}: {batch.chosen_model.name} answers all {batch.total} requests, chosen by "
                     f"routing {batch.sample_size or 'none'} sampled ones."))
    assert batch.api_key is not None
    usage = usage_build(decision=decision, api_key=batch.api_key, llm=llm,
                        input_tokens=completion.input_tokens or tokens,
                        output_tokens=completion.output_tokens or estimate_tokens(completion.content))
    item.status, item.content, item.answered_by, item.decision = (BatchItem.Status.ANSWERED, completion.content,
                                                                   llm, decision)
    item.cost_usd, item.error = usage.cost_usd, ""
    return decision, usage


def _finish_if_done(batch: Batch) -> None:
    if batch.items.filter(status__in=[BatchItem.Status.PENDING, BatchItem.Status.RUNNING]).exists():
        return
    answered = batch.items.filter(status=BatchItem.Status.ANSWERED).exists()
    Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING).update(
        status=Batch.Status.SUCCEEDED if answered else Batch.Status.FAILED, finished_at=timezone.now(),
        error="" if answered else "no request could be answered")


def _fail(batch: Batch, message: str) -> None:
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.FAILED, error=message, finished_at=timezone.now())
    batch.items.filter(status=BatchItem.Status.PENDING).update(status=BatchItem.Status.FAILED, error=message)


def batch_summary(batch: Batch) -> dict[str, Any]:
    counts = dict(batch.items.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {"id": str(batch.pk), "object": "optiroute.batch", "status": batch.status, "model": batch.model,
            "total": batch.total, "answered": counts.get(BatchItem.Status.ANSWERED, 0),
            "failed": counts.get(BatchItem.Status.FAILED, 0),
            "pending": counts.get(BatchItem.Status.PENDING, 0) + counts.get(BatchItem.Status.RUNNING, 0),
            "sample_size": batch.sample_size,
            "chosen_model": batch.chosen_model.name if batch.chosen_model else None,
            "choice": batch.choice, "error": batch.error or None,
            "cost_usd": round(batch.items.aggregate(total=Sum("cost_usd"))["total"] or 0.0, 8),
            "created_at": batch.created_at.isoformat(),
            "finished_at": batch.finished_at.isoformat() if batch.finished_at else None}


def batch_results(batch: Batch) -> list[dict[str, Any]]:
    rows = batch.items.order_by("position").values_list("custom_id", "status", "answered_by__name", "content",
                                                         "cost_usd", "error", "decision_id")
    return [{"custom_id": custom_id, "status": status, "model": model, "content": content if status == "answered"
             else None, "cost_usd": cost, "error": error or None,
             "decision_id": str(decision_id) if decision_id else None}
            for custom_id, status, model, content, cost, error, decision_id in rows]
