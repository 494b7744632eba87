"""Registry workflows: importing models and evaluations, computing normalised profiles."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from registry.catalog.sources import CATALOG_KEYS, metric_sources_of
from registry.embedder import get_embedder
from registry.importers import Errors, EvaluationImportError, ParsedData, parse, validate_models
from registry.models import (
    DECLARED_METRICS,
    FIELD_FORMAT,
    LLM,
    Dataset,
    Dimension,
    EvaluationResult,
    ImportJob,
    ModelProfile,
    Prompt,
    Provider,
)
from registry.signals import evaluations_imported
from registry.tokens import DEFAULT_OUTPUT_TOKENS, estimate_tokens

logger = logging.getLogger(__name__)

Progress = Callable[[str, int], None]
PROVIDER_KINDS = {k.value for k in Provider.Kind}



@dataclass
class ImportReport:
    dataset: str
    unchanged: bool
    prompts: int = 0
    results: int = 0
    models_created: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    costs_estimated: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _noop(stage: str, percent: int) -> None:
    logger.debug("%s (%s%%)", stage, percent)


def evaluation_import(*, path: Path, dataset_name: str, fmt: str = "bundle", create_models: bool = False,
                      progress: Progress = _noop, create_models_how: str = "pass --create-models") -> ImportReport:
    """Validate, embed and store a dataset, then compute its profiles. All or nothing.

    `create_models_how` tells the user, in the words of where they are, how to register unknown models."""
    progress("validating", 5)
    parsed = parse(Path(path), fmt)
    content_hash = _content_hash(parsed)
    existing = Dataset.objects.filter(name=dataset_name).first()
    if existing and existing.content_hash == content_hash and existing.stats.get("embedder") == get_embedder().name:
        report = ImportReport(dataset_name, unchanged=True, dropped=parsed.dropped, warnings=parsed.warnings)
        report.prompts, report.results = existing.stats.get("prompts", 0), existing.stats.get("results", 0)
        progress("unchanged", 100)
        return report
    _check_models_known(parsed, create_models, create_models_how)
    progress("embedding prompts", 15)
    vectors = get_embedder().encode([p.text for p in parsed.prompts])
    progress("storing", 80)
    with transaction.atomic():
        report = _store(parsed, dataset_name, content_hash, vectors)
        progress("computing profiles", 90)
        dataset = Dataset.objects.get(name=dataset_name)
        profiles_compute(dataset=dataset)
        transaction.on_commit(lambda: evaluations_imported.send(sender=Dataset, dataset_id=dataset.pk))
    progress("done", 100)
    return report


def _content_hash(parsed: ParsedData) -> str:
    digest = hashlib.sha256()
    for part in ([asdict(p) for p in parsed.prompts], [r.content() for r in parsed.results], parsed.models):
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _check_models_known(parsed: ParsedData, create_models: bool, create_models_how: str) -> None:
    if create_models or parsed.default_provider:
        return
    described = {m["name"] for m in parsed.models}
    named = {r.model for r in parsed.results} - described
    registered = set(LLM.objects.filter(name__in=named).values_list("name", flat=True))
    unknown = sorted(named - registered)
    if unknown:
        raise EvaluationImportError(
            [f"results name unknown model(s): {', '.join(unknown)}; describe them in models.json, "
             f"register them first, or {create_models_how}"])


def _store(parsed: ParsedData, dataset_name: str, content_hash: str, vectors: np.ndarray) -> ImportReport:
    report = ImportReport(dataset_name, unchanged=False, dropped=parsed.dropped, warnings=parsed.warnings)
    models = _register_models(parsed, report)
    dataset, _ = Dataset.objects.update_or_create(
        name=dataset_name, defaults={"source_format": parsed.fmt, "content_hash": content_hash})
    # Re-importing a dataset under the same name replaces its prompts and results.
    dataset.prompts.all().delete()
    difficulty = _difficulties(parsed)
    prompts = Prompt.objects.bulk_create(
        [Prompt(dataset=dataset, external_id=p.prompt_id, text=p.text, embedding=vectors[i],
                task_type=p.task_type, domain=p.domain, source_label=p.source_label, split=p.split,
                difficulty=difficulty.get(p.prompt_id)) for i, p in enumerate(parsed.prompts)],
        batch_size=1000)
    by_id = {p.external_id: p for p in prompts}
    results = []
    for row in parsed.results:
        prompt = by_id[row.prompt_id]
        cost, estimated = _cost(row, models[row.model], prompt.text)
        report.costs_estimated += estimated
        results.append(EvaluationResult(prompt=prompt, llm=models[row.model], dimension=row.dimension,
                                        score=row.score, cost_usd=cost, cost_estimated=estimated,
                                        latency_ms=row.latency_ms, input_tokens=row.input_tokens,
                                        output_tokens=row.output_tokens, response=row.response))
    EvaluationResult.objects.bulk_create(results, batch_size=5000)
    report.prompts, report.results = len(prompts), len(results)
    dataset.stats = {"prompts": len(prompts), "results": len(results), "embedder": get_embedder().name,
                     "train": sum(p.split == "train" for p in prompts),
                     "test": sum(p.split == "test" for p in prompts),
                     "models": sorted(models), "dropped": parsed.dropped,
                     "dimensions": dict(Counter(row.dimension for row in parsed.results)),
                     "costs_estimated": report.costs_estimated}
    dataset.save(update_fields=["stats", "updated_at"])
    return report


def _difficulties(parsed: ParsedData) -> dict[str, float]:
    """One minus the mean accuracy of the models on each prompt; prompts without accuracy results have none."""
    scores: dict[str, list[float]] = defaultdict(list)
    for row in parsed.results:
        if row.dimension == Dimension.ACCURACY:
            scores[row.prompt_id].append(row.score)
    return {pid: 1.0 - float(np.mean(values)) for pid, values in scores.items()}


def _cost(row: Any, llm: LLM, text: str) -> tuple[float, bool]:
    """The recorded cost, else tokens times prices, else the prompt's length times prices."""
    if row.cost_usd is not None:
        return row.cost_usd, False
    tokens_in = row.input_tokens if row.input_tokens is not None else estimate_tokens(text)
    tokens_out = row.output_tokens if row.output_tokens is not None else DEFAULT_OUTPUT_TOKENS
    return llm.estimated_cost_usd(tokens_in, tokens_out) or 0.0, True


def _register_models(parsed: ParsedData, report: ImportReport) -> dict[str, LLM]:
    described = {m["name"]: m for m in parsed.models}
    names = {r.model for r in parsed.results} | set(described)
    existing = {m.name: m for m in LLM.objects.filter(name__in=names).select_related("provider")}
    fallback_provider = parsed.default_provider or "unregistered"
    for name in sorted(names):
        spec = described.get(name, {"name": name})
        # Public formats only name models: a model the registry already knows keeps its record.
        if name in existing and (len(spec) == 1 or parsed.default_provider):
            continue
        llm, created = _upsert_model(spec, fallback_provider)
        existing[name] = llm
        if created:
            report.models_created.append(name)
    return existing


def _upsert_model(spec: dict[str, Any], fallback_provider: str, *, explicit: frozenset[str] = frozenset()
                  ) -> tuple[LLM, bool]:
    """Create or update a model from its description; absent values keep what the registry has,
    except the `explicit` keys, which are set even when empty (a catalog's unsourced figures)."""
    fields = {key: value for key, value in spec.items()
              if key not in {"name", "provider"} and (key in explicit or value not in (None, "", [], {}))}
    if spec.get("provider") or not LLM.objects.filter(name=spec["name"]).exists():
        fields["provider"], _ = Provider.objects.get_or_create(
            name=spec.get("provider") or fallback_provider, defaults={"kind": Provider.Kind.EVALUATION})
        fields.setdefault("api_model_id", spec["name"])
    llm, created = LLM.objects.update_or_create(name=spec["name"], defaults=fields)
    return llm, created


# ---------------------------------------------------------------- catalog


def models_import(*, path: Path) -> list[str]:
    """Register providers and models from a catalog ({"providers", "models"}) or a models.json list."""
    errors = Errors()
    warnings: list[str] = []
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvaluationImportError([f"{Path(path).name}: {exc}"]) from exc
    providers = data.get("providers", []) if isinstance(data, dict) else []
    items = data.get("models", []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise EvaluationImportError([f"{Path(path).name}: expected a list of models or a catalog object"])
    _validate_providers(providers, Path(path).name, errors)
    specs = validate_models(items, Path(path).name, errors, warnings, allowed_extra=CATALOG_KEYS)
    sourced = _catalog_sources(items, specs, data.get("sources", {}) if isinstance(data, dict) else {},
                               Path(path).name, errors)
    errors.raise_if_any()
    with transaction.atomic():
        for provider in providers:
            Provider.objects.update_or_create(name=provider["name"], defaults={
                "kind": provider["kind"], "base_url": provider.get("base_url", ""),
                "api_key_env": provider.get("api_key_env", "")})
        for spec in specs:
            _upsert_model(spec, "unregistered", explicit=sourced)
    return warnings


def _catalog_sources(items: list[Any], specs: list[dict[str, Any]], sources: Any, name: str, errors: Errors
                     ) -> frozenset[str]:
    """Add each model's sourced figures to its spec's `sources`; returns the keys to set even when
    empty: a catalog that sources its figures replaces the registry's, unsourced ones included."""
    by_name = {item.get("name", "").strip(): item for item in items if isinstance(item, dict)}
    if not any("metric_sources" in item for item in by_name.values()):
        return frozenset()
    for spec in specs:
        item = by_name[spec["name"]]
        where = f"{name} model {spec['name']}"
        spec["sources"] = {**spec["sources"], **{key: item[key] for key in CATALOG_KEYS & set(item)},
                           "metric_sources": metric_sources_of(item, sources if isinstance(sources, dict) else {},
                                                               where, errors)}
    return frozenset(DECLARED_METRICS)


def _validate_providers(providers: Any, source: str, errors: Errors) -> None:
    if not isinstance(providers, list):
        errors.add(source, "providers must be a list")
        return
    for index, provider in enumerate(providers):
        where = f"{source} provider {index + 1}"
        if not isinstance(provider, dict) or not isinstance(provider.get("name"), str):
            errors.add(where, "each provider needs a name")
        elif provider.get("kind") not in PROVIDER_KINDS:
            errors.add(where, f"kind must be one of {', '.join(sorted(PROVIDER_KINDS))}")


# ---------------------------------------------------------------- profiles


def inverted_log_scale(values: dict[int, float]) -> dict[int, float]:
    """Map costs or latencies to 0..1 on a log scale, cheapest or fastest = 1."""
    logs = {key: math.log(max(value, 1e-9)) for key, value in values.items()}
    low, high = min(logs.values()), max(logs.values())
    if high - low < 1e-12:
        return dict.fromkeys(values, 1.0)
    return {key: 1.0 - (value - low) / (high - low) for key, value in logs.items()}


def profiles_compute(*, dataset: Dataset) -> int:
    """Per-model profiles of a dataset's train split for each dimension it has results on:
    overall, per task type, per domain."""
    ModelProfile.objects.filter(dataset=dataset).delete()
    by_dimension: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for dimension, *row in (EvaluationResult.objects.filter(prompt__dataset=dataset, prompt__split="train")
                            .values_list("dimension", "llm_id", "prompt_id", "score", "cost_usd", "latency_ms",
                                         "prompt__task_type", "prompt__domain")):
        by_dimension[dimension].append(tuple(row))
    if not by_dimension:
        return 0
    vectors = dict(Prompt.objects.filter(dataset=dataset, split="train").values_list("id", "embedding"))
    profiles = []
    for dimension, rows in by_dimension.items():
        profiles.extend(_dimension_profiles(dataset, dimension, rows, _model_embeddings(vectors, rows)))
    ModelProfile.objects.bulk_create(profiles)
    return len(profiles)


def _dimension_profiles(dataset: Dataset, dimension: str, rows: list[tuple[Any, ...]],
                        embeddings: dict[int, np.ndarray]) -> list[ModelProfile]:
    slices: dict[tuple[str, str], dict[int, list[tuple[float, float, float | None]]]] = defaultdict(
        lambda: defaultdict(list))
    for llm_id, _prompt_id, score, cost, latency, task_type, domain in rows:
        for key in {("", ""), (task_type, ""), ("", domain)}:
            slices[key][llm_id].append((score, cost, latency))
    profiles = []
    for (task_type, domain), per_model in slices.items():
        profiles.extend(_slice_profiles(dataset, dimension, task_type, domain, per_model,
                                        embeddings if (task_type, domain) == ("", "") else {}))
    return profiles


def _slice_profiles(dataset: Dataset, dimension: str, task_type: str, domain: str,
                    per_model: dict[int, list[tuple[float, float, float | None]]],
                    embeddings: dict[int, np.ndarray]) -> list[ModelProfile]:
    means = {llm_id: (float(np.mean([v[0] for v in values])), float(np.mean([v[1] for v in values])),
                      _mean_or_none([v[2] for v in values]), len(values))
             for llm_id, values in per_model.items()}
    cost_norm = inverted_log_scale({k: m[1] for k, m in means.items()})
    latencies = {k: m[2] for k, m in means.items() if m[2] is not None}
    latency_norm = inverted_log_scale(latencies) if latencies else {}
    return [ModelProfile(llm_id=llm_id, dataset=dataset, dimension=dimension, task_type=task_type, domain=domain, n=n,
                         mean_score=score, mean_cost_usd=cost, mean_latency_ms=latency, quality=score,
                         cost=cost_norm[llm_id], latency=latency_norm.get(llm_id),
                         embedding=embeddings.get(llm_id))
            for llm_id, (score, cost, latency, n) in means.items()]


def _mean_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _model_embeddings(vectors: dict[int, Any], rows: list[tuple[Any, ...]]) -> dict[int, np.ndarray]:
    """Each model's centroid of prompts, weighted by how much better than average it did there.

    `rows` are one dimension's results: a model's accuracy centroid never mixes in its helpfulness."""
    prompt_scores: dict[int, list[float]] = defaultdict(list)
    for _llm, prompt_id, score, *_ in rows:
        prompt_scores[prompt_id].append(score)
    prompt_mean = {pid: float(np.mean(s)) for pid, s in prompt_scores.items()}
    sums: dict[int, np.ndarray] = {}
    for llm_id, prompt_id, score, *_ in rows:
        advantage = score - prompt_mean[prompt_id]
        if vectors.get(prompt_id) is not None and advantage:
            sums[llm_id] = sums.get(llm_id, 0) + advantage * np.asarray(vectors[prompt_id])
    return {k: v / (np.linalg.norm(v) or 1.0) for k, v in sums.items()}


# ---------------------------------------------------------------- upload jobs


# The upload form's checkbox (registry.forms.ImportUploadForm.create_models), named as the page shows it.
UPLOAD_CREATE_MODELS_HOW = 'tick "Create models" on the upload form'


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run one upload job; safe to call twice (a second call finds the job claimed or done)."""
    if not ImportJob.objects.claim(job_id):
        # A job whose workers kept dying mid-run is given up, visibly, rather than left "running".
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING,
                                 attempts__gte=ImportJob.MAX_ATTEMPTS).update(
            status=ImportJob.Status.FAILED, finished_at=timezone.now(),
            errors=[f"the worker stopped {ImportJob.MAX_ATTEMPTS} times while running this job; upload it again"])
        return None
    job = ImportJob.objects.get(pk=job_id)

    def progress(stage: str, percent: int) -> None:
        ImportJob.objects.filter(pk=job_id).update(stage=stage, progress=percent)

    try:
        report = evaluation_import(path=Path(job.upload_dir), dataset_name=job.dataset_name,
                                   fmt=job.source_format, create_models=job.create_models, progress=progress,
                                   create_models_how=UPLOAD_CREATE_MODELS_HOW)
    except EvaluationImportError as exc:
        _finish(job, ImportJob.Status.FAILED, errors=exc.errors)
    except Exception as exc:
        _finish(job, ImportJob.Status.FAILED, errors=[f"internal error: {type(exc).__name__}"])
        raise
    else:
        _finish(job, ImportJob.Status.SUCCEEDED, report=report.as_dict())
    job.refresh_from_db()
    return job


def _finish(job: ImportJob, status: str, *, errors: list[str] | None = None,
            report: dict[str, Any] | None = None) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=status, errors=errors or [], report=report or {}, finished_at=timezone.now(),
        progress=100 if status == ImportJob.Status.SUCCEEDED else job.progress)
    shutil.rmtree(job.upload_dir, ignore_errors=True)


def import_job_create(*, user: Any, dataset_name: str, fmt: str, create_models: bool,
                      files: list[Any]) -> ImportJob:
    """Store the uploads and queue a worker job once the job row is committed."""
    from registry.tasks import import_job_task
    from registry.uploads import upload_store

    folder = upload_store(files)
    with transaction.atomic():
        job = ImportJob.objects.create(dataset_name=dataset_name, source_format=fmt,
                                       create_models=create_models, upload_dir=str(folder),
                                       created_by=user)
        # robust: with the broker down the job stays pending (and the upload is kept); the periodic
        # import_jobs_requeue sends it once the broker is back.
        transaction.on_commit(lambda: import_job_task.delay(job.pk), robust=True)
    return job


REQUEUE_AFTER = timedelta(seconds=60)


def import_jobs_requeue(*, older_than: timedelta = REQUEUE_AFTER) -> int:
    """Send again the jobs still pending after `older_than` (their first sending failed, or its
    message was lost); a job runs once however often it is sent (import_job_run claims it)."""
    from registry.tasks import import_job_task

    stale = ImportJob.objects.filter(status=ImportJob.Status.PENDING, created_at__lt=timezone.now() - older_than)
    sent = 0
    for job_id in stale.values_list("pk", flat=True):
        import_job_task.delay(job_id)
        sent += 1
    return sent


@dataclass(frozen=True)
class FieldOutcome:
    """How a model did on one real request, observed after deployment (e.g. a user's rating)."""

    key: str  # unique within the dataset, e.g. the routing decision's id
    embedding: Any  # the request's embedding: its text is not kept
    llm_id: int
    score: float  # 0..1
    cost_usd: float
    task_type: str = ""
    domain: str = ""
    expected_score: float | None = None  # the router's estimate for the model when it chose it


def field_evidence_record(*, dataset_name: str, outcomes: list[FieldOutcome], audience: str = "") -> Dataset:
    """Store outcomes seen in production as train evidence of a dataset of their own.

    The router reads them like any evaluation result: as neighbours of the requests they
    resemble and in the models' profiles. Outcomes of one key (one request, several models)
    share a prompt; recorded again, a key's outcomes replace its earlier ones. `audience` (e.g.
    "cohort:3") names whose requests may read the dataset; empty: everyone's.
    """
    with transaction.atomic():
        dataset, _ = Dataset.objects.select_for_update().get_or_create(
            name=dataset_name, defaults={"source_format": FIELD_FORMAT, "content_hash": ""})
        by_key: dict[str, dict[int, FieldOutcome]] = defaultdict(dict)  # per key, each model's last outcome
        for outcome in outcomes:
            by_key[outcome.key][outcome.llm_id] = outcome
        # Replace in bulk: row by row, a fold of 5,000 ratings spent over a minute here.
        Prompt.objects.filter(dataset=dataset, external_id__in=list(by_key)).delete()
        prompts = Prompt.objects.bulk_create([_field_prompt(dataset, list(seen.values())) for seen in by_key.values()],
                                             batch_size=1000)
        EvaluationResult.objects.bulk_create([
            EvaluationResult(prompt=prompt, llm_id=o.llm_id, dimension=Dimension.ACCURACY, score=o.score,
                             cost_usd=o.cost_usd, expected_score=o.expected_score)
            for prompt, seen in zip(prompts, by_key.values(), strict=True) for o in seen.values()], batch_size=1000)
        _field_dataset_refresh(dataset, audience=audience)
    return dataset


def _field_prompt(dataset: Dataset, seen: list[FieldOutcome]) -> Prompt:
    """One request's row: its models' outcomes share its embedding and analysis."""
    first = seen[0]
    return Prompt(dataset=dataset, external_id=first.key, text="", embedding=first.embedding,
                  task_type=first.task_type, domain=first.domain, split=Prompt.Split.TRAIN,
                  difficulty=1.0 - sum(o.score for o in seen) / len(seen))


def field_evidence_forget(*, keys: list[str]) -> int:
    """Remove these outcomes from every field dataset (ratings withdrawn, aged out or reset)."""
    with transaction.atomic():
        holding = Prompt.objects.filter(external_id__in=keys).values("dataset_id")
        datasets = list(Dataset.objects.select_for_update().filter(source_format=FIELD_FORMAT, pk__in=holding))
        removed, _ = Prompt.objects.filter(dataset__in=datasets, external_id__in=keys).delete()
        for dataset in datasets:
            _field_dataset_refresh(dataset, audience=dataset.stats.get("audience", ""))
    return removed


def _field_dataset_refresh(dataset: Dataset, *, audience: str) -> None:
    profiles_compute(dataset=dataset)
    results = EvaluationResult.objects.filter(prompt__dataset=dataset)
    dataset.stats = {"prompts": dataset.prompts.count(), "results": results.count(),
                     "embedder": get_embedder().name, "train": dataset.prompts.count(), "test": 0,
                     "models": sorted(set(results.values_list("llm__name", flat=True))), "audience": audience}
    dataset.save(update_fields=["stats", "updated_at"])  # routing snapshots reload on this
    # What else learns from outcomes (the estimator and its shrinkage) retrains, as after an import.
    transaction.on_commit(lambda: evaluations_imported.send(sender=Dataset, dataset_id=dataset.pk))
