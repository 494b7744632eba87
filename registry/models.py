"""The model registry and evaluation store (MRES)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import TextChoices
from pgvector.django import HnswIndex, VectorField

EMBEDDING_DIMS = 384

TASK_TYPES = [
    "summarisation", "translation", "code", "math", "question_answering",
    "classification", "extraction", "creative_writing", "reasoning", "chat",
]
DOMAINS = ["general", "legal", "medical", "finance", "science", "software"]
DECLARED_METRICS = ["helpfulness", "harmlessness", "honesty", "steerability", "creativity"]


class Dimension(TextChoices):
    """What an evaluation score measures: accuracy, or one of the declared metrics."""

    ACCURACY = "accuracy"
    HELPFULNESS = "helpfulness"
    HARMLESSNESS = "harmlessness"
    HONESTY = "honesty"
    STEERABILITY = "steerability"
    CREATIVITY = "creativity"


class Provider(models.Model):
    # TextChoices by its own name: mypy's Django plugin sees `models` here as the reverse
    # relation LLM.provider adds (related_name="models").
    class Kind(TextChoices):
        OPENAI = "openai", "OpenAI-compatible HTTP API"
        ANTHROPIC = "anthropic", "Anthropic Messages API"
        LOCAL = "local", "Embedded local model"
        EVALUATION = "evaluation", "Known only from evaluation data"

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    base_url = models.URLField(blank=True)
    # The *name* of the environment variable that holds the key; the key itself is never stored.
    api_key_env = models.CharField(max_length=128, blank=True)

    def __str__(self) -> str:
        return self.name

    def api_key(self) -> str:
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""

    def has_credentials(self) -> bool:
        if self.kind == self.Kind.LOCAL:
            return True
        if self.kind == self.Kind.EVALUATION:
            return False
        return bool(self.base_url) and (not self.api_key_env or bool(self.api_key()))


class LLMQuerySet(models.QuerySet["LLM"]):
    def active(self) -> LLMQuerySet:
        return self.filter(is_active=True)

    def generalists(self) -> LLMQuerySet:
        return self.filter(is_generalist=True)


class LLM(models.Model):
    name = models.CharField(max_length=200, unique=True)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    api_model_id = models.CharField(max_length=200, blank=True)
    input_price_per_mtok = models.FloatField(null=True, blank=True)
    output_price_per_mtok = models.FloatField(null=True, blank=True)
    context_window = models.PositiveIntegerField(null=True, blank=True)
    license = models.CharField(max_length=64, blank=True)
    parameters_b = models.FloatField(null=True, blank=True)
    capabilities = models.JSONField(default=list, blank=True)
    is_generalist = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    helpfulness = models.FloatField(null=True, blank=True)
    harmlessness = models.FloatField(null=True, blank=True)
    honesty = models.FloatField(null=True, blank=True)
    steerability = models.FloatField(null=True, blank=True)
    creativity = models.FloatField(null=True, blank=True)
    latency_ms_p50 = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    # Published aggregate figures: [{"name", "score", "task_type", "source"}].
    benchmarks = models.JSONField(default=list, blank=True)
    sources = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LLMQuerySet.as_manager()

    class Meta:
        verbose_name = "LLM"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_local(self) -> bool:
        return self.provider.kind == Provider.Kind.LOCAL

    def published_figures(self) -> list[dict[str, Any]]:
        """Each declared metric with its figure and where it was published ({} where none is)."""
        sources = (self.sources or {}).get("metric_sources", {})
        return [{"metric": metric, "value": getattr(self, metric), "source": sources.get(metric, {})}
                for metric in DECLARED_METRICS]

    def estimated_cost_usd(self, input_tokens: int, output_tokens: int) -> float | None:
        if self.input_price_per_mtok is None or self.output_price_per_mtok is None:
            return None
        return (input_tokens * self.input_price_per_mtok + output_tokens * self.output_price_per_mtok) / 1e6


class ObservedLatency(models.Model):
    """A model's latency and reliability as routing's own calls to it went, over a recent window
    (routing rolls its call timings up into this row every minute; settings OPTIROUTE_OBSERVED_*)."""

    llm = models.OneToOneField(LLM, on_delete=models.CASCADE, related_name="observed")
    calls = models.PositiveIntegerField()  # answered and failed
    errors = models.PositiveIntegerField()
    p50_ms = models.FloatField(null=True)  # total time of the answered calls
    p95_ms = models.FloatField(null=True)
    first_token_p50_ms = models.FloatField(null=True)  # streamed calls only
    first_token_calls = models.PositiveIntegerField(default=0)
    since = models.DateTimeField()  # the oldest call in the window
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.llm_id}: p50 {self.p50_ms} ms over {self.calls} calls"

    @property
    def answered(self) -> int:
        return self.calls - self.errors

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


FIELD_FORMAT = "field"  # the source_format of datasets of outcomes seen in production (field evidence)


class Dataset(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    source_format = models.CharField(max_length=32)
    content_hash = models.CharField(max_length=64)
    stats = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class PromptQuerySet(models.QuerySet["Prompt"]):
    def nearest_train_ids(self, vector: Any, k: int, dataset_ids: tuple[int, ...] | None = None) -> list[tuple[int, float]]:
        """(id, cosine similarity) of the k train prompts closest to `vector`, through the HNSW index."""
        from registry.vector_search import nearest_train_ids

        return nearest_train_ids(vector, k, dataset_ids)

    def nearest_train_ids_per_dataset(self, vector: Any, k: int,
                                      dataset_ids: tuple[int, ...]) -> dict[int, list[tuple[int, float]]]:
        """Per dataset, (id, cosine similarity) of its k train prompts closest to `vector` (an exact scan)."""
        from registry.vector_search import nearest_train_ids_per_dataset

        return nearest_train_ids_per_dataset(vector, k, dataset_ids)

    def train(self) -> PromptQuerySet:
        return self.filter(split=Prompt.Split.TRAIN)

    def test(self) -> PromptQuerySet:
        return self.filter(split=Prompt.Split.TEST)


class Prompt(models.Model):
    class Split(models.TextChoices):
        TRAIN = "train"
        TEST = "test"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=200)
    text = models.TextField()
    embedding = VectorField(dimensions=EMBEDDING_DIMS, null=True)
    task_type = models.CharField(max_length=64, blank=True)
    domain = models.CharField(max_length=64, blank=True)
    source_label = models.CharField(max_length=100, blank=True)
    # Learned from outcomes: one minus the mean score of the models evaluated on it.
    difficulty = models.FloatField(null=True)
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.TRAIN)

    objects = PromptQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "external_id"], name="prompt_unique_in_dataset"),
        ]
        indexes = [
            # Only train prompts are ever searched: indexing just them spares every search the
            # filter that would drop test prompts after the beam (and come back short of k).
            # ef_construction 200 (pgvector's default is 64) builds a better graph, in 1.8 s
            # instead of 1.1 s for 9,137 prompts: recall@50 against an exact search rose from
            # 0.989 to 0.996 at ef_search 64, at the same query time.
            HnswIndex(name="prompt_embedding_hnsw", fields=["embedding"], m=16, ef_construction=200,
                      opclasses=["vector_cosine_ops"], condition=models.Q(split="train")),
            models.Index(fields=["dataset", "split"]),
        ]

    def __str__(self) -> str:
        return f"{self.dataset_id}:{self.external_id}"


class EvaluationResultQuerySet(models.QuerySet["EvaluationResult"]):
    def accuracy(self) -> EvaluationResultQuerySet:
        return self.filter(dimension=Dimension.ACCURACY)


class EvaluationResult(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="results")
    llm = models.ForeignKey(LLM, on_delete=models.CASCADE, related_name="results")
    dimension = models.CharField(max_length=16, choices=Dimension.choices, default=Dimension.ACCURACY)
    score = models.FloatField()
    cost_usd = models.FloatField()
    cost_estimated = models.BooleanField(default=False)
    latency_ms = models.FloatField(null=True)
    input_tokens = models.PositiveIntegerField(null=True)
    output_tokens = models.PositiveIntegerField(null=True)
    # The model's answer as it returned it, where the data has it.
    response = models.TextField(blank=True)
    # Field evidence only: the router's expected score for the model when it chose it, so that
    # feedback corrects the estimate where routing sent the model, not its record as a whole.
    expected_score = models.FloatField(null=True, blank=True)

    objects = EvaluationResultQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "llm", "dimension"],
                                    name="result_unique_per_prompt_model_dimension"),
        ]


class ModelProfileQuerySet(models.QuerySet["ModelProfile"]):
    def accuracy(self) -> ModelProfileQuerySet:
        return self.filter(dimension=Dimension.ACCURACY)


class ModelProfile(models.Model):
    """Normalised 0..1 metrics of one model on one dimension, overall or per task type / domain of a dataset.

    An empty task_type or domain means "all". Cost and latency are inverted: higher is better.
    """

    llm = models.ForeignKey(LLM, on_delete=models.CASCADE, related_name="profiles")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="profiles")
    dimension = models.CharField(max_length=16, choices=Dimension.choices, default=Dimension.ACCURACY)
    task_type = models.CharField(max_length=64, blank=True)
    domain = models.CharField(max_length=64, blank=True)
    n = models.PositiveIntegerField()
    mean_score = models.FloatField()
    mean_cost_usd = models.FloatField()
    mean_latency_ms = models.FloatField(null=True)
    quality = models.FloatField()
    cost = models.FloatField()
    latency = models.FloatField(null=True)
    # Where the model does better than the other models: a score-weighted centroid of prompts.
    embedding = VectorField(dimensions=EMBEDDING_DIMS, null=True)

    objects = ModelProfileQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["llm", "dataset", "dimension", "task_type", "domain"],
                                    name="profile_unique_slice"),
        ]


class ImportJobQuerySet(models.QuerySet["ImportJob"]):
    def claim(self, job_id: int) -> bool:
        """Atomically move a pending (or crashed-running) job to running; False if someone else has it."""
        return bool(
            self.filter(pk=job_id, status__in=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING])
            .exclude(status=ImportJob.Status.RUNNING, attempts__gte=ImportJob.MAX_ATTEMPTS)
            .update(status=ImportJob.Status.RUNNING, attempts=models.F("attempts") + 1)
        )


class ImportJob(models.Model):
    MAX_ATTEMPTS = 3

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    dataset_name = models.SlugField(max_length=100)
    source_format = models.CharField(max_length=32, default="bundle")
    create_models = models.BooleanField(default=False)
    upload_dir = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    report = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}
