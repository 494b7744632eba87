"""Batch mode: judge the candidates on a ~2% sample of a batch, propose the model chosen, answer
every request with it.

A batch is stored whole, then Celery workers take over: `batch_run` has routing.batches.selection
draw a stratified sample, judge the candidates on it (by the registry's evidence, or by grading
their answers) and choose a model, with the next-best candidates as fallbacks (one call,
`_choose`); it projects the whole batch's cost, and the batch waits as `proposed` until the user
confirms it (or runs at once with `auto_run`). `batch_chunk_run` then answers the requests of a
chunk, then any left in the batch, on as many workers as there are.

Exactly once: a row is claimed (a token, under a lock on the batch row) before its call, and
its answer, decision and usage are stored in one transaction that only the claim's holder can
commit; the usage row is unique per row. A worker killed mid-call leaves a claim that goes
stale after OPTIROUTE_BATCH_CLAIM_TIMEOUT_S; another worker takes the row then. Budgets are
checked at the claim, with the most each row in flight may cost held against them.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from optiroute import metrics
from optiroute.api_errors import OptiRouteError
from registry.models import LLM
from registry.tokens import DEFAULT_OUTPUT_TOKENS, estimate_tokens
from routing.access.budgets import budget_left, usage_build
from routing.analysis.text import routing_text
from routing.batches.selection import Selection, batch_select
from routing.engine.preferences import preferences_resolve
from routing.engine.snapshot import snapshots
from routing.gateway.chat import PROFILE_PREFIX, named_model_for_cohort
from routing.inference.chain import AllProvidersFailed, Chain, chain_build, complete
from routing.inference.providers import ChatCall, unusable_reason
from routing.models import ApiKey, Batch, BatchItem, Decision, Usage, fast_commit

MAX_ITEMS = 10_000  # a request body's or an upload's requests; more come in further chunks
MAX_BATCH_ROWS = 100_000  # a batch's requests over all its chunks
CHUNK = 50
MAX_ATTEMPTS = 3  # a row whose calls fail this many times is reported failed with the last error
OPEN = [Batch.Status.QUEUED, Batch.Status.PROPOSED, Batch.Status.RUNNING]
UNFINISHED = [BatchItem.Status.PENDING, BatchItem.Status.RUNNING]
WORKER = f"{socket.gethostname()}:{os.getpid()}"


def claim_timeout() -> timedelta:
    return timedelta(seconds=settings.OPTIROUTE_BATCH_CLAIM_TIMEOUT_S)


def get_batch_for_key(api_key: ApiKey, batch_id: uuid.UUID) -> Batch:
    """A batch of the key's cohort; any other is "not found"."""
    batch = Batch.objects.filter(pk=batch_id, cohort=api_key.cohort).select_related("chosen_model").first()
    if batch is None:
        raise OptiRouteError(f"no batch {batch_id} for this key's cohort", status=404, code="batch_not_found")
    return batch


def batch_create(*, api_key: ApiKey, model: str, requests: list[dict[str, Any]], options: dict[str, Any],
                 auto_run: bool = False, budget_usd: float | None = None, max_tokens: int | None = None,
                 more_to_come: bool = False) -> Batch:
    """Store a batch and hand it to the workers (with `more_to_come`, once its last chunk is appended);
    a bad model or profile is refused before anything is stored."""
    _check_model(model, api_key, options)
    with transaction.atomic():
        batch = Batch.objects.create(api_key=api_key, cohort=api_key.cohort, model=model, options=options,
                                     total=len(requests), auto_run=auto_run, budget_usd=budget_usd,
                                     max_tokens=max_tokens or options.get("max_output_tokens"),
                                     awaiting_more=more_to_come)
        _items_store(batch, requests, start=0)
        if not more_to_come:
            _queue_choice(batch)
    return batch


def batch_items_append(*, batch: Batch, requests: list[dict[str, Any]], more_to_come: bool = False) -> Batch:
    """Append a chunk of requests to a batch created with `more_to_come`, before its model is chosen;
    the chunk is stored whole or not at all. Choosing starts once a chunk says no more come."""
    with transaction.atomic():
        # The batch row's lock orders concurrent chunks: each takes the positions after the last.
        locked = Batch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != Batch.Status.QUEUED or not locked.awaiting_more:
            raise OptiRouteError(
                f"batch {batch.pk} is {locked.status} and takes no more requests: requests are appended only to "
                "a batch created with more_to_come, until a chunk sent without it", status=409, code="batch_state")
        if locked.total + len(requests) > MAX_BATCH_ROWS:
            raise OptiRouteError(f"batch {batch.pk} holds {locked.total} requests; {len(requests)} more would pass "
                                 f"the {MAX_BATCH_ROWS:,} a batch may hold")
        ids = [r.get("custom_id") or str(locked.total + i) for i, r in enumerate(requests)]
        if taken := locked.items.filter(custom_id__in=ids).values_list("custom_id", flat=True).first():
            raise OptiRouteError(f"custom_id {taken!r} is already in batch {batch.pk}; custom_id values must be "
                                 "unique within a batch")
        _items_store(locked, requests, start=locked.total)
        Batch.objects.filter(pk=batch.pk).update(total=locked.total + len(requests), awaiting_more=more_to_come)
        if not more_to_come:
            _queue_choice(locked)
    batch.refresh_from_db()
    return batch


def _items_store(batch: Batch, requests: list[dict[str, Any]], *, start: int) -> None:
    BatchItem.objects.bulk_create(
        [BatchItem(batch=batch, position=start + i, custom_id=r.get("custom_id") or str(start + i),
                   messages=r["messages"], max_tokens=r.get("max_tokens"), reference=r.get("reference") or "")
         for i, r in enumerate(requests)], batch_size=1000)


def _queue_choice(batch: Batch) -> None:
    from routing.tasks import batch_run_task  # tasks import this module

    transaction.on_commit(lambda: batch_run_task.delay(str(batch.pk)))


def _check_model(model: str, api_key: ApiKey, options: dict[str, Any]) -> None:
    if model.startswith(PROFILE_PREFIX):
        profile = model[len(PROFILE_PREFIX):]
        preferences_resolve(profile=None if profile == "auto" else profile, overrides=options.get("preferences"),
                            cohort=api_key.cohort)
        return
    named_model_for_cohort(model, api_key.cohort)


def batch_run(*, batch_id: str) -> None:
    """Choose the batch's model, then propose it (or, with auto_run, start answering)."""
    batch = Batch.objects.select_related("cohort", "api_key").filter(pk=batch_id).first()
    if batch is None or batch.status != Batch.Status.QUEUED or batch.awaiting_more:
        return  # proposed or running already (a duplicate delivery), or more requests are to come
    if batch.chosen_model_id is None:
        try:
            _choose(batch)
        except OptiRouteError as exc:
            _fail(batch, exc.message)
            return
    _propose(batch)


def _propose(batch: Batch) -> None:
    batch.choice = {**batch.choice, "proposal": batch_projection(batch)}
    status = Batch.Status.RUNNING if batch.auto_run else Batch.Status.PROPOSED
    with transaction.atomic():
        # Conditional: a cancel (or a second delivery's proposal) that came first stands.
        moved = Batch.objects.filter(pk=batch.pk, status=Batch.Status.QUEUED).update(
            status=status, choice=batch.choice, started_at=timezone.now())
        if moved and status == Batch.Status.RUNNING:
            _queue_chunks(batch)


def batch_projection(batch: Batch) -> dict[str, Any]:
    """The chosen model's expected quality and the whole batch's projected cost, the sample's included.

    The answers' cost is the chosen model's cost per row as measured on the sample (graded) or
    estimated there (evidence), else, for a named model, each row's prompt with its longest answer."""
    llm = batch.chosen_model
    assert llm is not None
    candidates = batch.choice.get("candidates", {})
    extra: dict[str, Any] = {}
    if candidates.get(llm.name, {}).get("cost_per_row_usd") is not None:
        to_answer = dict(batch.items.filter(status=BatchItem.Status.PENDING).values_list("cluster")
                         .annotate(n=Count("id")).values_list("cluster", "n"))
        models = {cluster: llm.name for cluster in to_answer}
        if per_cluster := batch.choice.get("per_cluster"):
            models.update({int(cluster): name for cluster, name in per_cluster.items()})
            extra["per_cluster"] = [{"cluster": c, "model": name, "rows": to_answer.get(c, 0)}
                                    for c, name in sorted(models.items(), key=lambda m: (m[0] is None, m[0]))
                                    if c is not None]
        answers = sum(float(candidates[models[c]]["cost_per_row_usd"]) * n for c, n in to_answer.items())
    else:
        answers = 0.0
        for messages, max_tokens in batch.items.values_list("messages", "max_tokens").iterator(chunk_size=1000):
            output = max_tokens or batch.max_tokens or DEFAULT_OUTPUT_TOKENS
            answers += llm.estimated_cost_usd(routing_text(messages).tokens, output) or 0.0
    sample = float(batch.choice.get("sample_cost_usd") or 0.0)
    # Sampled rows the answering model answered in grading keep that answer: paid with the sample.
    extra["answered_in_sample"] = batch.items.filter(from_sample=True).count()
    return {**batch.choice.get("proposal", {}), "model": llm.name, **extra,
            "expected_quality": batch.choice.get("expected_quality"), "interval": batch.choice.get("interval"),
            "answers_cost_usd": round(answers, 8), "sample_cost_usd": round(sample, 8),
            "cost_usd": round(answers + sample, 8), "projected_cost_usd": round(answers + sample, 8)}


def batch_confirm(*, batch: Batch) -> Batch:
    """Run a proposed batch with its proposed model."""
    with transaction.atomic():
        if not Batch.objects.filter(pk=batch.pk, status=Batch.Status.PROPOSED).update(
                status=Batch.Status.RUNNING, started_at=timezone.now()):
            raise _conflict(batch, "confirmed", "only a proposed batch can be")
        _queue_chunks(batch)
    batch.refresh_from_db()
    return batch


def batch_cancel(*, batch: Batch) -> Batch:
    """Stop a batch: rows being answered finish (their calls are made), no other row starts."""
    if not Batch.objects.filter(pk=batch.pk, status__in=OPEN).update(status=Batch.Status.CANCELLED):
        raise _conflict(batch, "cancelled", "it has finished")
    batch.refresh_from_db()
    return batch


def batch_resume(*, batch: Batch, budget_usd: float | None = None) -> Batch:
    """Go on with a cancelled or stopped batch, with a new total budget if given; rows answered stay answered."""
    changes: dict[str, Any] = {"error": "", "finished_at": None, "started_at": timezone.now()}
    if budget_usd is not None:
        changes["budget_usd"] = budget_usd
    resumable = Batch.objects.filter(pk=batch.pk, status__in=[Batch.Status.CANCELLED, Batch.Status.STOPPED])
    with transaction.atomic():
        if batch.chosen_model_id is None:  # cancelled before its model was chosen
            moved = resumable.update(status=Batch.Status.QUEUED, **changes)
            if moved:
                _queue_choice(batch)
        else:
            moved = resumable.update(status=Batch.Status.RUNNING, **changes)
            if moved:
                _queue_chunks(batch)
        if not moved:
            raise _conflict(batch, "resumed", "only a cancelled or stopped batch can be")
    batch.refresh_from_db()
    return batch


def _conflict(batch: Batch, action: str, rule: str) -> OptiRouteError:
    batch.refresh_from_db(fields=["status"])
    return OptiRouteError(f"batch {batch.pk} is {batch.status}: it cannot be {action} ({rule})", status=409,
                          code="batch_state")


def _queue_chunks(batch: Batch) -> None:
    from routing.tasks import batch_chunk_task

    starts = range(0, batch.total, CHUNK)
    transaction.on_commit(lambda: [batch_chunk_task.delay(str(batch.pk), start) for start in starts])


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
    _record_clusters(batch, selection.labels)
    options = batch.options
    ranking = selection.ranking
    chain = chain_build(ranking, allow_escalation=bool(options.get("allow_escalation")))
    if not chain.models:
        raise OptiRouteError("no model the sample's routing chose can be called: "
                             + "; ".join(f"{a['model']}: {a['error']}" for a in chain.attempts))
    details = {**selection.choice, "notices": chain.notices, "skipped": chain.attempts}
    if "per_cluster" in details:
        details["per_cluster"] = _callable_per_cluster(details["per_cluster"], details["notices"])
    # The model that answers first (the proposal, unless it cannot be called): what its sample said.
    judged = selection.choice.get("candidates", {}).get(chain.models[0].name, {})
    details.update(expected_quality=judged.get("quality"), interval=judged.get("interval"))
    with transaction.atomic():
        _record_choice(batch, chain.models, details)
        _sample_answers_reuse(batch, selection, chain.models[0].name, details.get("per_cluster") or {})


def _sample_answers_reuse(batch: Batch, selection: Selection, model: str, per_cluster: dict[str, str]) -> None:
    """The sampled rows that the model which will answer them answered in grading keep that answer:
    the call was made and billed then, so it is neither made nor billed again (its usage row becomes
    the row's)."""
    now = timezone.now()
    for (position, name), answer in selection.answers.items():
        if name != per_cluster.get(str(selection.labels[position]), model):
            continue
        item = batch.items.get(position=position)
        batch.items.filter(pk=item.pk, status=BatchItem.Status.PENDING).update(
            status=BatchItem.Status.ANSWERED, content=answer.content, answered_by=answer.decision.answered_by,
            decision=answer.decision, input_tokens=answer.input_tokens, output_tokens=answer.output_tokens,
            cost_usd=answer.cost_usd, answered_at=now, attempts=1, from_sample=True, error="")
        Usage.objects.filter(decision=answer.decision).update(batch_item=item)


def _record_clusters(batch: Batch, labels: Any) -> None:
    """Each row's cluster (one UPDATE a cluster): with one model per cluster, it says which model answers."""
    for cluster in range(int(labels.max()) + 1 if len(labels) else 0):
        positions = [int(p) for p in (labels == cluster).nonzero()[0]]
        batch.items.filter(position__in=positions).update(cluster=cluster)


def _callable_per_cluster(per_cluster: dict[str, str], notices: list[str]) -> dict[str, str]:
    """The clusters' best models that can be called; a cluster whose model cannot goes with the batch's chain."""
    models = {m.name: m for m in LLM.objects.filter(name__in=set(per_cluster.values())).select_related("provider")}
    kept = {}
    for cluster, name in per_cluster.items():
        if reason := unusable_reason(models[name]):
            notices.append(f"cluster {int(cluster) + 1}'s best model {name} cannot be called ({reason}): "
                           "the batch's model answers it")
        else:
            kept[cluster] = name
    return kept


def _record_choice(batch: Batch, chain: list[LLM], details: dict[str, Any]) -> None:
    batch.chosen_model = chain[0]
    batch.sample_size = len(details.get("sample_positions", []))
    batch.choice = {**details, "chain": [m.name for m in chain]}
    batch.save(update_fields=["chosen_model", "sample_size", "choice"])




def batch_chunk_run(*, batch_id: str, start: int) -> int:
    """Answer the chunk's rows, then any row of the batch still waiting; returns how many this call answered.

    Each row is claimed, answered and stored on its own, so progress counts every answer and a
    worker that dies loses at most the row it was answering (it is taken again once stale).
    """
    batch = Batch.objects.select_related("cohort", "api_key", "chosen_model").filter(pk=batch_id).first()
    if batch is None or batch.status != Batch.Status.RUNNING or batch.api_key is None:
        return 0
    chains = _chains(batch)
    answered = 0
    for scope in (Q(position__gte=start, position__lt=start + CHUNK), Q()):
        while (item := _claim_next(batch, chains, scope)) is not None:
            answered += _work(batch, item, chains.get(item.cluster, chains[None]))
    _finish_if_done(batch)
    return answered


def _chains(batch: Batch) -> dict[int | None, list[LLM]]:
    """The models that answer, in order, by cluster: None is the batch's chain, and a cluster with
    a model of its own (one model per cluster) has it first, then the batch's chain."""
    per_cluster: dict[str, str] = batch.choice.get("per_cluster") or {}
    names = [*batch.choice["chain"], *per_cluster.values()]
    models = {m.name: m for m in LLM.objects.filter(name__in=names).select_related("provider")}
    chain = [models[name] for name in batch.choice["chain"] if name in models]
    chains: dict[int | None, list[LLM]] = {None: chain}
    for cluster, name in per_cluster.items():
        if name in models:
            chains[int(cluster)] = [models[name], *(m for m in chain if m.name != name)]
    return chains


def batch_has_claims(*, batch_id: str) -> bool:
    """Rows of a running batch that other workers hold (if one of them died, its claim goes stale)."""
    return BatchItem.objects.filter(batch_id=batch_id, batch__status=Batch.Status.RUNNING,
                                    status=BatchItem.Status.RUNNING).exists()


def _claim_next(batch: Batch, chains: dict[int | None, list[LLM]], scope: Q) -> BatchItem | None:
    """The next row to answer, claimed with a fresh token; None when there is none or a budget would break.

    Committed without waiting for the WAL flush: a claim a database crash loses only makes the
    answer unstorable (its token no longer matches), so another worker answers the row.
    """
    with fast_commit():
        # The batch row's lock makes the budget check and the claim one step among all workers.
        status = Batch.objects.select_for_update().filter(pk=batch.pk).values_list("status", flat=True).first()
        if status != Batch.Status.RUNNING:
            return None
        now = timezone.now()
        claimable = Q(status=BatchItem.Status.PENDING) | Q(status=BatchItem.Status.RUNNING,
                                                           claimed_at__lt=now - claim_timeout())
        while True:
            item = (batch.items.filter(scope).filter(claimable).order_by("position")
                    .select_for_update(skip_locked=True).first())
            if item is None:
                return None
            if item.attempts < MAX_ATTEMPTS:
                break
            # Its workers died answering it, again and again: report it rather than try once more.
            item.status, item.error = BatchItem.Status.FAILED, item.error or "its worker stopped while answering it"
            item.save(update_fields=["status", "error"])
        bound = 0.0
        # Without budgets there is nothing to hold (and no need to sum the batch's spending per row).
        if batch.budget_usd is not None or batch.cohort.monthly_budget_usd is not None:
            bound = _cost_bound(batch, item, chains.get(item.cluster, chains[None]))
            if problem := _budget_problem(batch, bound):
                Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.STOPPED, error=problem)
                return None
        item.status, item.claim, item.claimed_at = BatchItem.Status.RUNNING, uuid.uuid4(), now
        item.claimed_by, item.reserved_usd, item.attempts = WORKER, bound, item.attempts + 1
        item.save(update_fields=["status", "claim", "claimed_at", "claimed_by", "reserved_usd", "attempts"])
        return item


def _output_tokens(batch: Batch, item: BatchItem) -> int | None:
    return item.max_tokens or batch.max_tokens


def _cost_bound(batch: Batch, item: BatchItem, chain_models: list[LLM]) -> float:
    """The most this row's answer may cost: its tokens and longest answer at the dearest model of the
    chain, and no less than the dearest answer of the batch so far (token estimates run short of
    what providers count)."""
    tokens = routing_text(item.messages).tokens
    output = _output_tokens(batch, item) or DEFAULT_OUTPUT_TOKENS
    estimate = max((m.estimated_cost_usd(tokens, output) or 0.0 for m in chain_models), default=0.0)
    dearest = batch.items.filter(status=BatchItem.Status.ANSWERED).aggregate(m=Max("cost_usd"))["m"] or 0.0
    return max(estimate, dearest)


def _budget_problem(batch: Batch, bound: float) -> str | None:
    """Why answering one more row could break the batch's or the cohort's budget, or None."""
    fresh = timezone.now() - claim_timeout()
    totals = batch.items.aggregate(
        spent=Sum("cost_usd", filter=Q(status=BatchItem.Status.ANSWERED, from_sample=False)),
        held=Sum("reserved_usd", filter=Q(status=BatchItem.Status.RUNNING, claimed_at__gte=fresh)))
    spent = float(batch.choice.get("sample_cost_usd") or 0.0) + (totals["spent"] or 0.0)
    held = totals["held"] or 0.0
    if batch.budget_usd is not None and spent + held + bound > batch.budget_usd:
        return (f"stopped before going over the batch's budget of {_usd(batch.budget_usd)}: {_usd(spent)} spent, "
                f"the next request may cost up to {_usd(bound)}; raise the budget and resume to go on")
    try:
        left = budget_left(batch.cohort)
    except OptiRouteError as exc:
        return f"stopped: {exc.message}"
    if left is not None and held + bound > left:
        return (f"stopped before going over the monthly budget of cohort {batch.cohort.name}: {_usd(left)} left, "
                f"the next request may cost up to {_usd(bound)}")
    return None


def _usd(amount: float) -> str:
    return f"${amount:.6f}".rstrip("0").rstrip(".") if amount else "$0"


def _work(batch: Batch, item: BatchItem, chain_models: list[LLM]) -> int:
    """Answer a claimed row and store the answer; 1 if this worker's answer is the row's."""
    try:
        return _store(batch, item, chain_models[0], *_call(batch, item, chain_models))
    except AllProvidersFailed as exc:
        _release(item, exc.message, retry=item.attempts < MAX_ATTEMPTS)
    except OptiRouteError as exc:
        _release(item, exc.message, retry=False)
    return 0


def _call(batch: Batch, item: BatchItem, chain_models: list[LLM]) -> tuple[Any, LLM, Chain, int]:
    tokens = routing_text(item.messages).tokens
    max_tokens = _output_tokens(batch, item)
    needed = tokens + (max_tokens or DEFAULT_OUTPUT_TOKENS)
    fitting = [m for m in chain_models if m.context_window is None or m.context_window >= needed]
    if not fitting:  # the sample spoke for the batch, not for this one long request
        raise OptiRouteError(f"this request needs about {needed} tokens, more than the context window of every "
                             f"model of the batch ({', '.join(m.name for m in chain_models)})")
    chain = Chain(models=fitting)
    call = ChatCall(model_id="", messages=item.messages, max_tokens=max_tokens, temperature=None,
                    timeout_s=settings.LLM_CALL_TIMEOUT_S)
    completion, llm = complete(chain, call)
    return completion, llm, chain, tokens


def _store(batch: Batch, item: BatchItem, planned: LLM, completion: Any, llm: LLM, chain: Chain, tokens: int) -> int:
    """The answer, its decision and its usage, in one transaction that only the claim's holder commits."""
    assert batch.api_key is not None
    decision = Decision(
        mode=Decision.Mode.BATCH, api_key=batch.api_key, cohort=batch.cohort, chosen_model=planned,
        answered_by=llm, strategy="batch", profile=batch.model, analysis={"tokens": tokens},
        attempts=chain.attempts, notices=chain.notices, fallback_reason=chain.fallback_reason,
        explanation=_explanation(batch, item, planned))
    usage = usage_build(decision=decision, api_key=batch.api_key, llm=llm,
                        input_tokens=completion.input_tokens or tokens,
                        output_tokens=completion.output_tokens or estimate_tokens(completion.content))
    # Without waiting for the WAL flush: a database crash may lose the last instant's answers with
    # their usage (the rows are answered again), never keep one without the other.
    with fast_commit():
        decision.save()
        mine = BatchItem.objects.filter(pk=item.pk, claim=item.claim, status=BatchItem.Status.RUNNING)
        if not mine.update(status=BatchItem.Status.ANSWERED, content=completion.content, answered_by=llm,
                           decision=decision, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                           cost_usd=usage.cost_usd, reserved_usd=0.0, answered_at=timezone.now(), error=""):
            # The claim went stale and another worker took the row: its answer is the row's, and
            # this call is neither stored nor billed.
            transaction.set_rollback(True)
            return 0
        usage.batch_item = item
        usage.save()
    metrics.decision_observe(decision, usage)  # after the commit: a rolled-back answer is not counted
    return 1


def _explanation(batch: Batch, item: BatchItem, planned: LLM) -> str:
    chosen_by = f"chosen on {batch.sample_size} sampled requests" if batch.sample_size else "named by the batch"
    cluster = item.cluster
    if cluster is not None and str(cluster) in (batch.choice.get("per_cluster") or {}):
        return (f"Batch {batch.pk}: {planned.name} answers the requests of cluster {cluster + 1}, "
                f"its best model on {batch.sample_size} sampled requests (one model per cluster).")
    return f"Batch {batch.pk}: {planned.name} answers all {batch.total} requests, {chosen_by}."


def _release(item: BatchItem, error: str, *, retry: bool) -> None:
    status = BatchItem.Status.PENDING if retry else BatchItem.Status.FAILED
    BatchItem.objects.filter(pk=item.pk, claim=item.claim, status=BatchItem.Status.RUNNING).update(
        status=status, error=error, reserved_usd=0.0, claim=None)


def _finish_if_done(batch: Batch) -> None:
    if batch.items.filter(status__in=UNFINISHED).exists():
        return
    answered = batch.items.filter(status=BatchItem.Status.ANSWERED).exists()
    Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING).update(
        status=Batch.Status.SUCCEEDED if answered else Batch.Status.FAILED, finished_at=timezone.now(),
        error="" if answered else "no request could be answered")


def _fail(batch: Batch, message: str) -> None:
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.FAILED, error=message, finished_at=timezone.now())
    batch.items.filter(status=BatchItem.Status.PENDING).update(status=BatchItem.Status.FAILED, error=message)


def batch_summary(batch: Batch) -> dict[str, Any]:
    """Progress as the API and the console show it: done, failed, remaining, cost so far, time left."""
    counts = dict(batch.items.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    done = counts.get(BatchItem.Status.ANSWERED, 0)
    remaining = counts.get(BatchItem.Status.PENDING, 0) + counts.get(BatchItem.Status.RUNNING, 0)
    cost = batch.items.filter(from_sample=False).aggregate(total=Sum("cost_usd"))["total"] or 0.0
    return {"id": str(batch.pk), "object": "optiroute.batch", "status": batch.status, "model": batch.model,
            "total": batch.total, "done": done, "answered": done, "failed": counts.get(BatchItem.Status.FAILED, 0),
            "remaining": remaining, "pending": remaining, "sample_size": batch.sample_size,
            "chosen_model": batch.chosen_model.name if batch.chosen_model else None,
            "choice": batch.choice, "proposal": batch.choice.get("proposal"), "error": batch.error or None,
            "cost_usd": round(float(batch.choice.get("sample_cost_usd") or 0.0) + cost, 8),
            "budget_usd": batch.budget_usd, "max_tokens": batch.max_tokens, "auto_run": batch.auto_run,
            "awaiting_more": batch.awaiting_more,
            "eta_seconds": _eta_seconds(batch, remaining),
            "created_at": batch.created_at.isoformat(),
            "finished_at": batch.finished_at.isoformat() if batch.finished_at else None}


def _eta_seconds(batch: Batch, remaining: int) -> float | None:
    """Time left at the rate of the answers since the run last (re)started."""
    if batch.status != Batch.Status.RUNNING or batch.started_at is None or not remaining:
        return None
    since = batch.items.filter(answered_at__gte=batch.started_at).aggregate(n=Count("id"), last=Max("answered_at"))
    if not since["n"]:
        return None
    elapsed = (since["last"] - batch.started_at).total_seconds()
    return round(remaining * elapsed / since["n"], 1)


def batch_results(batch: Batch) -> list[dict[str, Any]]:
    """Per row, in the order sent: its id, the model that answered, the output, tokens and cost, or its error."""
    rows = batch.items.order_by("position").values_list(
        "custom_id", "status", "answered_by__name", "content", "input_tokens", "output_tokens", "cost_usd", "error",
        "decision_id")
    return [{"custom_id": custom_id, "status": status, "model": model,
             "content": content if status == BatchItem.Status.ANSWERED else None,
             "input_tokens": input_tokens, "output_tokens": output_tokens, "cost_usd": cost, "error": error or None,
             "decision_id": str(decision_id) if decision_id else None}
            for custom_id, status, model, content, input_tokens, output_tokens, cost, error, decision_id in rows]
