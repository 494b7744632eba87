"""Published benchmark priors compare models on the same benchmark, and a model without a figure
for a task type does not outrank, by default, the models measured on it."""

import pytest
from django.core.management import call_command

from registry.models import LLM, Dataset, ModelProfile, Provider
from routing.access.keys import api_key_create
from routing.analysis.serving import analyze
from routing.engine.request import Request
from routing.engine.scoring import choose
from routing.engine.snapshot import snapshots
from routing.engine.strategies import STRATEGIES
from routing.models import Decision
from routing.pipeline import estimates_for
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db
REASONING = ("All bloops are razzies and some razzies are lazzies. Does it follow that some bloops are lazzies? "
             "Reason step by step about the logic before you answer.")
SONNET = "claude-3-5-sonnet-20241022"


@pytest.fixture
def provider():
    return Provider.objects.create(name="acme", kind="openai", base_url="http://127.0.0.1:9")


def register(provider, name, *figures):
    """A model at the same price as every other here, with figures (benchmark, task type, score)."""
    return LLM.objects.create(name=name, provider=provider, input_price_per_mtok=1.0, output_price_per_mtok=1.0,
                              context_window=32000, is_generalist=True,
                              benchmarks=[{"name": b, "task_type": t, "score": s, "source": "test"} for b, t, s in figures])


def prior(llm, task_type):
    return snapshots.get().prior(llm.id, task_type, (None,))


def ranking(task_type, profile="quality-first", confidence=1.0):
    analysis, vector = analyze(REASONING)
    request = Request(text=REASONING, vector=vector, tokens=analysis.tokens, task_type=task_type,
                             task_confidence=confidence, domain="general", domain_confidence=1.0)
    snapshot = snapshots.get()
    return choose(estimates_for(request, snapshot, STRATEGIES["knn"]), snapshot.profiles[profile])


def test_the_starter_catalog_routes_reasoning_to_a_model_measured_on_it():
    call_command("import_models")
    # Below the task filter's confidence every model is weighed, as in the request that went to gpt-4o-mini.
    ranked = ranking("reasoning", confidence=0.2)
    names = [c.llm.name for c in ranked]
    assert names.index("gpt-4o-mini") > names.index("gpt-4o")
    assert names.index("gpt-4o-mini") > names.index(SONNET)
    by_name = {c.llm.name: c for c in ranked}
    assert ranked[0].prior_source == "published benchmarks (GPQA Diamond, normalised across 10 models)"
    assert by_name["gpt-4o-mini"].prior_source == "estimated from other benchmarks (no reasoning benchmark)"
    # gpt-4o's "GPQA" is a different name that one other model reports: not a comparison.
    assert by_name["gpt-4o"].prior_source == "estimated from other benchmarks (GPQA: too few models report it to compare)"
    for unmeasured in ("gpt-4o-mini", "mistral-large-2411", "llama-3.1-405b-instruct"):
        assert by_name[unmeasured].prior < by_name[SONNET].prior


def test_a_routed_decision_says_where_each_prior_came_from():
    call_command("import_models")
    api = bearer_client(api_key_create(cohort_name=None)[1])
    decision = api.post("/api/v1/route", {"prompt": REASONING, "profile": "quality-first"}, format="json").json()
    assert decision["model"] != "gpt-4o-mini"
    stored = Decision.objects.get(pk=decision["id"])
    sources = [c["prior_source"] for c in stored.candidates]
    assert all(s.startswith(("published benchmarks (", "estimated from other benchmarks (")) for s in sources)


def test_a_model_lacking_the_benchmark_ranks_below_one_measured_high_on_it(provider):
    high = register(provider, "high", ("GPQA Diamond", "reasoning", 0.70), ("MMLU", "question_answering", 0.80))
    mid = register(provider, "mid", ("GPQA Diamond", "reasoning", 0.55), ("MMLU", "question_answering", 0.78))
    register(provider, "low", ("GPQA Diamond", "reasoning", 0.40), ("MMLU", "question_answering", 0.75))
    # The best MMLU figure by far, and no reasoning figure: its raw average was 0.95.
    unmeasured = register(provider, "unmeasured", ("MMLU", "question_answering", 0.95))

    assert prior(unmeasured, "reasoning").quality < prior(high, "reasoning").quality
    assert prior(unmeasured, "reasoning").quality <= prior(mid, "reasoning").quality
    assert prior(unmeasured, "reasoning").source == "estimated from other benchmarks (no reasoning benchmark)"
    assert ranking("reasoning", confidence=0.2)[0].llm.name == "high"
    # Where nobody is measured on the task type, its overall standing counts, and it is the best.
    assert prior(unmeasured, "chat").quality > prior(high, "chat").quality


def test_figures_are_compared_within_their_benchmark(provider):
    # Last of three on an easy benchmark, first of three on a hard one.
    easy_last = register(provider, "easy-last", ("GSM8K", "math", 0.90))
    hard_first = register(provider, "hard-first", ("MATH (4-shot)", "math", 0.80))
    register(provider, "g1", ("GSM8K", "math", 0.95))
    register(provider, "g2", ("GSM8K (8-shot CoT)", "math", 0.97))
    register(provider, "m1", ("MATH", "math", 0.40))
    register(provider, "m2", ("MATH", "math", 0.50))

    assert prior(hard_first, "math").quality > prior(easy_last, "math").quality
    assert prior(hard_first, "math").source == "published benchmarks (MATH, normalised across 3 models)"
    assert prior(easy_last, "math").source == "published benchmarks (GSM8K, normalised across 3 models)"


def test_figures_too_few_models_report_are_used_as_published(provider):
    # Nothing to compare with: the raw figures, as before (most small registries).
    strong = register(provider, "strong", ("b", "", 0.8))
    weak = register(provider, "weak", ("b", "", 0.6))
    assert prior(strong, "code").quality == pytest.approx(0.8)
    assert prior(weak, "code").quality == pytest.approx(0.6)
    assert prior(weak, "code").source == "published benchmarks (b; too few models report them to compare)"


def test_evaluation_priors_are_kept(provider):
    for name, score in [("high", 0.70), ("mid", 0.55), ("low", 0.40)]:
        register(provider, name, ("GPQA Diamond", "reasoning", score), ("MMLU", "question_answering", score))
    evaluated = register(provider, "evaluated", ("MMLU", "question_answering", 0.9))
    dataset = Dataset.objects.create(name="ours", source_format="bundle", content_hash="x")
    ModelProfile.objects.create(llm=evaluated, dataset=dataset, task_type="", n=40, mean_score=0.3, mean_cost_usd=0.001,
                                quality=0.3, cost=0.5)
    assert prior(evaluated, "reasoning").source == "evaluations"
    assert prior(evaluated, "reasoning").quality == pytest.approx(0.3)


def test_malformed_figures_are_left_out_not_fatal(provider):
    LLM.objects.create(name="hand-edited", provider=provider, is_generalist=True,
                       benchmarks=[{"name": "MMLU", "score": "high"}, "junk", {"score": 0.5}, {"name": "x", "score": True}])
    fine = register(provider, "fine", ("b", "", 0.7))
    assert prior(fine, "").quality == pytest.approx(0.7)
    assert prior(LLM.objects.get(name="hand-edited"), "").source == "none"
