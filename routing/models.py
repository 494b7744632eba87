"""Routing: preference profiles, cohorts and their API keys, analyzer versions, decisions."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models, transaction
from django.utils import timezone
from pgvector.django import VectorField

from registry.models import EMBEDDING_DIMS, LLM
from routing.rules import CONSTRAINTS_HELP, WEIGHTS_HELP, validate_constraints, validate_weights
from routing.rules import SLIDERS as SLIDERS  # imported from here by the API and services

CASCADE_HELP = ("Answer with a cheap model first where a check can vouch for its answer, and pay for the "
                "model routing prefers only when the check fails (adds the latency of the cheap calls)")


class PreferenceProfile(models.Model):
    """A named set of slider weights (0..1 each); admins edit them, requests may override sliders."""

    name = models.SlugField(max_length=64, unique=True)
    description = models.CharField(max_length=300, blank=True)
    weights = models.JSONField(default=dict, validators=[validate_weights], help_text=WEIGHTS_HELP)
    cascade = models.BooleanField(default=False, help_text=CASCADE_HELP)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name

    def full_weights(self) -> dict[str, float]:
        return {slider: float(self.weights.get(slider, 0.0)) for slider in SLIDERS}


class Cohort(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    default_profile = models.ForeignKey(PreferenceProfile, on_delete=models.PROTECT, null=True, blank=True)
    # An empty pool means every active model.
    allowed_models = models.ManyToManyField(LLM, blank=True, related_name="cohorts")
    constraints = models.JSONField(default=dict, blank=True, validators=[validate_constraints],
                                   help_text=CONSTRAINTS_HELP)
    baseline_model = models.ForeignKey(LLM, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    monthly_budget_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    # People who chat in the browser on this cohort's terms (others get the default cohort).
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="cohorts")
    # Off: an API key rates only the decisions made with it; on: any decision of its cohort.
    keys_rate_cohort_decisions = models.BooleanField(
        default=False, help_text="API keys of this cohort may rate any of its decisions, not only their own")
    learns_from_feedback = models.BooleanField(default=True, help_text="Ratings in this cohort change its routing")
    # Off: the cohort's feedback changes only its own routing.
    allows_exploration = models.BooleanField(
        default=True, help_text="A small share of this cohort's requests may try a model routing would not choose")
    shares_feedback = models.BooleanField(default=False, help_text="This cohort's feedback changes every cohort's routing")
    cascade = models.BooleanField(default=False, help_text=CASCADE_HELP)
    # In a browser conversation, the model of the previous turn answers again unless the new
    # choice's utility beats its by more than this (routing.chat.services); empty: 0.05.
    class Retention(models.TextChoices):
        KEEP = "keep", "keep"
        HASH = "hash", "keep only a hash"
        DROP = "drop", "drop"

    prompt_retention = models.CharField(
        max_length=8, choices=Retention.choices, default=Retention.KEEP,
        help_text="What happens to prompts and answers (conversations, batches) and request embeddings "
                  "(decisions) after retention_days")
    retention_days = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Requests a minute over all the cohort's keys; empty: the default limit")
    tokens_per_minute = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Tokens a minute over all the cohort's keys; empty: the default limit")
    chat_switch_margin = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="utility margin (0..1) a new model needs to take over a browser conversation from the "
                  "previous turn's model; empty means 0.05")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def switch_margin(self) -> float:
        return 0.05 if self.chat_switch_margin is None else self.chat_switch_margin


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def usable(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)

    def for_raw(self, raw: str) -> ApiKey | None:
        if not raw.startswith(ApiKey.PREFIX):
            return None
        return self.usable().select_related("cohort__default_profile").filter(hashed=ApiKey.hash(raw)).first()


class ApiKey(models.Model):
    """Shown once at creation; only a SHA-256 of the (high-entropy) key is stored."""

    PREFIX = "or-"

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="api_keys")
    # Set for the key the browser chat uses on a user's behalf: no raw key exists for it.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
                             related_name="chat_keys")
    label = models.CharField(max_length=200, blank=True)
    hint = models.CharField(max_length=16)
    hashed = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)],
                                                      help_text="Empty: the default limit")
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)],
                                                    help_text="Empty: the default limit")

    objects = ApiKeyQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.hint}… ({self.cohort})"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def generate(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    def revoke(self) -> None:
        from routing.access.auth import forget  # the authentication cache of this process

        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
        forget(self)


class AnalyzerVersion(models.Model):
    """A trained task analyzer: task type and domain classifiers and the complexity regressor."""

    created_at = models.DateTimeField(auto_now_add=True)
    embedder = models.CharField(max_length=100)
    artifact = models.BinaryField()
    metrics = models.JSONField(default=dict)
    training_hash = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"analyzer v{self.pk}"


class EstimatorVersion(models.Model):
    """Per-model success models (routing.learning.quality) fitted on every train-split result."""

    created_at = models.DateTimeField(auto_now_add=True)
    embedder = models.CharField(max_length=100)
    artifact = models.BinaryField()
    llm_ids = models.JSONField(default=list)  # the artifact's model columns, in order
    # The k-NN strategy's shrinkage factor per evidence scope (routing.learning.estimator.fit_shrinkage).
    knn_shrinkage = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    training_hash = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["-id"]


@contextmanager
def fast_commit() -> Iterator[None]:
    """A transaction that commits without waiting for the WAL flush.

    Decisions and usage are written on every request; waiting for the fsync costs ~3 ms each.
    A server crash may lose the last fraction of a second of them, never corrupt them.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        yield


class Decision(models.Model):
    class Mode(models.TextChoices):
        DRY_RUN = "dry_run"
        CHAT = "chat"
        BATCH = "batch"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.DRY_RUN)
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True)
    cohort = models.ForeignKey(Cohort, on_delete=models.SET_NULL, null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    profile = models.CharField(max_length=64, blank=True)
    weights = models.JSONField(default=dict)
    constraints = models.JSONField(default=dict)
    analysis = models.JSONField(default=dict)
    candidates = models.JSONField(default=list)
    excluded = models.JSONField(default=dict)
    neighbours = models.JSONField(default=list)
    filters = models.JSONField(default=list)
    fallback_reason = models.TextField(blank=True)
    chosen_model = models.ForeignKey(LLM, on_delete=models.SET_NULL, null=True, related_name="decisions")
    strategy = models.CharField(max_length=32)
    versions = models.JSONField(default=dict)
    timings = models.JSONField(default=dict)
    explanation = models.TextField(blank=True)
    # Inference: who answered after fallbacks, each attempt, and what the caller was told.
    answered_by = models.ForeignKey(LLM, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    attempts = models.JSONField(default=list, blank=True)
    notices = models.JSONField(default=list, blank=True)
    # The request's embedding (never its text): what feedback on this decision becomes
    # evidence for, near the prompts it resembles.
    embedding = VectorField(dimensions=EMBEDDING_DIMS, null=True, blank=True)
    # Routed on a drawn quality rather than the expected one (routing.engine.exploration).
    explored = models.BooleanField(default=False)
    # A cascade's plan, each call with its cost, each check's verdict, and whether it escalated
    # (routing.cascade.runtime); empty when the request was not cascaded.
    cascade = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        # Named in the admin's lists (a rating's decision, a usage row's) by when and what it chose.
        when = f"{self.created_at:%Y-%m-%d %H:%M:%S}" if self.created_at else "unsaved"
        return f"{self.mode} {when} to {self.chosen_model.name if self.chosen_model else 'no model'}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id), "created_at": self.created_at.isoformat() if self.created_at else None,
            "mode": self.mode, "model": self.chosen_model.name if self.chosen_model else None,
            "strategy": self.strategy, "profile": self.profile, "weights": self.weights,
            "constraints": self.constraints, "analysis": self.analysis, "candidates": self.candidates,
            "excluded": self.excluded, "neighbours": self.neighbours, "filters": self.filters,
            "fallback_reason": self.fallback_reason or None, "versions": self.versions,
            "timings_ms": self.timings, "explanation": self.explanation,
            "answered_by": self.answered_by.name if self.answered_by else None,
            "attempts": self.attempts, "notices": self.notices, "explored": self.explored,
            "cascade": self.cascade or None,
        }


class UsageQuerySet(models.QuerySet["Usage"]):
    def this_month(self) -> UsageQuerySet:
        now = timezone.now()
        return self.filter(created_at__year=now.year, created_at__month=now.month)

    def spent_usd(self) -> float:
        return float(self.aggregate(total=models.Sum("cost_usd"))["total"] or 0.0)


class Usage(models.Model):
    """One answered call: tokens, cost and saving, accounted exactly once (one row per decision)."""

    decision = models.OneToOneField(Decision, on_delete=models.CASCADE, related_name="usage")
    # A batch row's answer is billed once: a worker that lost its claim cannot add a second row.
    batch_item = models.OneToOneField("BatchItem", on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="usage")
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="usage")
    cohort = models.ForeignKey(Cohort, on_delete=models.SET_NULL, null=True, blank=True, related_name="usage")
    llm = models.ForeignKey(LLM, on_delete=models.SET_NULL, null=True, related_name="usage")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.FloatField(default=0.0)
    baseline_cost_usd = models.FloatField(null=True)
    saving_usd = models.FloatField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = UsageQuerySet.as_manager()


class CallTimingQuerySet(models.QuerySet["CallTiming"]):
    def rollup(self, *, since: Any, window: int) -> list[dict[str, Any]]:
        """Per model, over its last `window` calls since `since`: calls, errors, p50/p95 of the
        answered calls' total time and p50 of their time to first token (streamed calls)."""
        table = connection.ops.quote_name(self.model._meta.db_table)
        # Percentiles have no ORM aggregate; the identifier comes from the model's metadata.
        sql = f"""
            WITH recent AS (
                SELECT llm_id, ok, total_ms, first_token_ms, created_at,
                       row_number() OVER (PARTITION BY llm_id ORDER BY created_at DESC, id DESC) AS n
                FROM {table} WHERE created_at >= %s)
            SELECT llm_id, count(*), count(*) FILTER (WHERE NOT ok),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY total_ms) FILTER (WHERE ok),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY total_ms) FILTER (WHERE ok),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY first_token_ms) FILTER (WHERE ok),
                   count(first_token_ms) FILTER (WHERE ok), min(created_at)
            FROM recent WHERE n <= %s GROUP BY llm_id"""  # noqa: S608
        keys = ["llm_id", "calls", "errors", "p50_ms", "p95_ms", "first_token_p50_ms", "first_token_calls", "since"]
        with connection.cursor() as cursor:
            cursor.execute(sql, [since, window])
            return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


class CallTiming(models.Model):
    """One call the gateway made to a model (an attempt: answered or failed), timed: the record
    behind each model's observed latency (registry.ObservedLatency)."""

    llm = models.ForeignKey(LLM, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    ok = models.BooleanField()
    total_ms = models.FloatField()
    first_token_ms = models.FloatField(null=True)  # streamed calls

    objects = CallTimingQuerySet.as_manager()


class Batch(models.Model):
    """Many requests answered by one model, chosen from a sample of them.

    queued (choosing) -> proposed (waiting for the user's confirmation, unless auto_run) ->
    running -> succeeded or failed; cancelled by the user and stopped by a budget, both resumable.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        PROPOSED = "proposed"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"
        STOPPED = "stopped"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, related_name="batches")
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="batches")
    model = models.CharField(max_length=200)  # as requested: optiroute/<profile> or a model's name
    options = models.JSONField(default=dict, blank=True)  # the `optiroute` field: preferences, constraints
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    sample_size = models.PositiveIntegerField(default=0)
    chosen_model = models.ForeignKey(LLM, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    choice = models.JSONField(default=dict, blank=True)  # how the sample voted, the fallback order
    auto_run = models.BooleanField(default=False)  # run the proposal without waiting for a confirmation
    # More chunks of requests are to be appended: choosing waits for the last one.
    awaiting_more = models.BooleanField(default=False)
    budget_usd = models.FloatField(null=True, blank=True)  # the whole batch's spending limit
    max_tokens = models.PositiveIntegerField(null=True, blank=True)  # per answer, unless a row says otherwise
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)  # last (re)start of the run: the rate's origin
    finished_at = models.DateTimeField(null=True, blank=True)

    # When the cohort's prompt retention removed the rows' text (kept as hashes, or dropped).
    prompts_removed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.status})"

    def tone(self) -> str:
        """How its status reads at a glance: good, bad, warn (waits for someone) or plain."""
        return {"succeeded": "good", "failed": "bad", "stopped": "bad", "proposed": "warn",
                "cancelled": "warn"}.get(self.status, "")


class BatchItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        ANSWERED = "answered"
        FAILED = "failed"

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    custom_id = models.CharField(max_length=200, blank=True)
    messages = models.JSONField()
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    reference = models.TextField(blank=True)  # the expected answer, for graded selection
    # Its cluster in the batch's sample draw: with one model per cluster, the model that answers it.
    cluster = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # The claim of the worker answering it: only the holder of this token may store the answer.
    claim = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)  # host:pid of the worker, for whoever looks
    reserved_usd = models.FloatField(default=0.0)  # the most this answer may cost, held against the budgets
    attempts = models.PositiveSmallIntegerField(default=0)
    content = models.TextField(blank=True)
    answered_by = models.ForeignKey(LLM, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decision = models.OneToOneField(Decision, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.FloatField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Answered while grading the sample, by the model that answers its row: its cost is the sample's.
    from_sample = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "position"], name="batch_item_position")]
        indexes = [models.Index(fields=["batch", "status"])]


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def for_user(self, user: Any) -> ConversationQuerySet:
        return self.filter(user=user)


class Conversation(models.Model):
    """A browser chat conversation; its settings (profile, slider overrides, constraints, a pinned
    model) apply to its next message."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200)
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        COMPLETE = "complete"
        PARTIAL = "partial"  # stopped by the reader or failed upstream mid-answer: kept, marked
        ERROR = "error"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    # Decisions are stored off the request path (routing.recorder), possibly after this row:
    # no database constraint, so the order of the two writes does not matter.
    decision = models.ForeignKey(Decision, on_delete=models.SET_NULL, null=True, blank=True, db_constraint=False,
                                 related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    finish_reason = models.CharField(max_length=32, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    cost_usd = models.FloatField(null=True, blank=True)
    saving_usd = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    meta = models.JSONField(default=dict, blank=True)  # reasons, notices, the error, a switch's reason
    # When the cohort's prompt retention removed the text (its SHA-256 kept in meta, or dropped).
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class EvaluationRunQuerySet(models.QuerySet["EvaluationRun"]):
    def claim(self, run_id: int) -> bool:
        """Atomically move a pending (or crashed-running) run to running; False if another worker has it."""
        return bool(
            self.filter(pk=run_id, status__in=[EvaluationRun.Status.PENDING, EvaluationRun.Status.RUNNING])
            .exclude(status=EvaluationRun.Status.RUNNING, attempts__gte=EvaluationRun.MAX_ATTEMPTS)
            .update(status=EvaluationRun.Status.RUNNING, attempts=models.F("attempts") + 1)
        )

    def reports(self) -> EvaluationRunQuerySet:
        """Finished evaluations of the router (not a profile's placement), newest first."""
        return self.filter(kind=EvaluationRun.Kind.ROUTER, status=EvaluationRun.Status.SUCCEEDED)


class EvaluationRun(models.Model):
    """The evaluation harness run on a dataset in the background: the router's full report, or
    where a profile's weights (as edited, maybe unsaved) land beside the dataset's baselines."""

    MAX_ATTEMPTS = 3

    class Kind(models.TextChoices):
        ROUTER = "router", "router evaluation"
        PROFILE = "profile", "profile placement"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    dataset = models.ForeignKey("registry.Dataset", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ROUTER)
    profile = models.ForeignKey(PreferenceProfile, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="evaluation_runs")
    weights = models.JSONField(default=dict, blank=True)  # a profile run's eight weights, as edited
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    report = models.JSONField(default=dict, blank=True)  # evaluate_router's REPORT.json (+ "profile")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = EvaluationRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} on {self.dataset}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}
