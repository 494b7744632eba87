"""Each non-accuracy dimension is estimated per request from the nearest prompts evaluated on
it, so its evidence moves routing for requests that resemble those prompts; explanations name
the dataset the evidence came from."""

import pytest

from routing.pipeline import decision_make

pytestmark = pytest.mark.django_db

COOKING = ["How long should I roast a whole chicken in the oven?", "What temperature do I bake sourdough bread at?",
           "How do I make a creamy tomato pasta sauce?", "How long do I boil eggs for a soft yolk?",
           "What spices go into a classic chicken curry?", "How do I caramelise onions in a pan?"]
TAXES = ["How do I file my income tax return as a freelancer?", "Which expenses can I deduct on my tax return?",
         "When is the deadline to pay quarterly estimated taxes?", "How is capital gains tax calculated on shares?",
         "Do I owe tax on money from selling my car?", "How do I claim a tax credit for childcare costs?"]


def _rows(model_scores, dimension):
    """results.csv lines: on cooking prompts (c*) and tax prompts (t*), each model's score."""
    return [f"{pid},{model},{score[pid[0]]},0.001,,,{dimension}"
            for model, score in model_scores.items()
            for pid in [f"c{i}" for i in range(len(COOKING))] + [f"t{i}" for i in range(len(TAXES))]]


@pytest.fixture
def several_dimensions(write_bundle):
    from django.core.management import call_command

    prompts = [{"prompt_id": f"c{i}", "prompt": text} for i, text in enumerate(COOKING)] + \
              [{"prompt_id": f"t{i}", "prompt": text} for i, text in enumerate(TAXES)]
    rows = (_rows({"chef": {"c": 1, "t": 1}, "clerk": {"c": 1, "t": 1}}, "accuracy")
            # helpfulness: chef helps with cooking, clerk with taxes
            + _rows({"chef": {"c": 1, "t": 0}, "clerk": {"c": 0, "t": 1}}, "helpfulness")
            # honesty the other way round
            + _rows({"chef": {"c": 0, "t": 1}, "clerk": {"c": 1, "t": 0}}, "honesty"))
    models = [{"name": name, "provider": "acme", "input_price_per_mtok": 1, "output_price_per_mtok": 1}
              for name in ("chef", "clerk")]
    results = "prompt_id,model,score,cost_usd,input_tokens,output_tokens,dimension\n" + "\n".join(rows) + "\n"
    call_command("import_evaluations", str(write_bundle(prompts=prompts, results=results, models=models)),
                 "--dataset", "several")


def _route(text, dimension):
    weights = {slider: 0.0 for slider in ("latency", "cost", "harmlessness", "steerability", "creativity",
                                          "helpfulness", "honesty")}
    weights.update({"accuracy": 0.1, dimension: 1.0})
    return decision_make(text=text, preferences=weights, save=False)


def test_it_routes_a_helpfulness_weighted_request_by_the_helpfulness_of_similar_prompts(several_dimensions):
    assert _route("How long should I roast a chicken?", "helpfulness").decision.chosen_model.name == "chef"
    assert _route("Can I deduct my home office on my tax return?", "helpfulness").decision.chosen_model.name == "clerk"


def test_it_routes_an_honesty_weighted_request_by_the_honesty_of_similar_prompts(several_dimensions):
    assert _route("How long should I roast a chicken?", "honesty").decision.chosen_model.name == "clerk"
    assert _route("Can I deduct my home office on my tax return?", "honesty").decision.chosen_model.name == "chef"


def test_it_says_where_each_dimension_figure_came_from(several_dimensions):
    routed = _route("How long should I roast a chicken?", "helpfulness")
    chosen = routed.decision.candidates[0]
    assert chosen["dimension_sources"]["helpfulness"]["source"] == "evidence"
    assert chosen["dimension_sources"]["helpfulness"]["datasets"] == ["several"]
    assert "helpfulness" in routed.decision.explanation and "of several" in routed.decision.explanation
    # A dimension no evaluation measures keeps the model-level figure, and is not searched.
    assert "harmlessness" not in chosen["dimension_sources"]


def test_it_keeps_dimension_only_prompts_out_of_the_accuracy_neighbours(several_dimensions, write_bundle):
    from django.core.management import call_command

    from registry.models import Prompt
    from routing.pipeline import evidence_gather, request_build

    # Prompts closer to the request than any accuracy prompt, evaluated on helpfulness only.
    prompts = [{"prompt_id": f"h{i}", "prompt": f"How long should I roast a chicken? (variant {i})"} for i in range(60)]
    results = "prompt_id,model,score,dimension\n" + "".join(f"h{i},chef,1,helpfulness\n" for i in range(60))
    call_command("import_evaluations", str(write_bundle(prompts=prompts, results=results, name="helpful-only")),
                 "--dataset", "helpful-only")
    request, _ = request_build(text="How long should I roast a chicken?")

    found = evidence_gather(request)

    datasets = set(Prompt.objects.filter(id__in=[pid for pid, _ in found]).values_list("dataset__name", flat=True))
    assert datasets == {"several"} and len(found) == len(COOKING) + len(TAXES)
    routed = _route("How long should I roast a chicken?", "helpfulness")
    assert routed.decision.candidates[0]["dimension_sources"]["helpfulness"]["datasets"] == ["helpful-only", "several"]


def test_it_fits_a_shrinkage_factor_per_dimension_as_for_accuracy(several_dimensions):
    from registry.models import Dataset
    from routing.learning.estimator import estimator_train, estimators

    version = estimator_train(force=True)
    estimators.clear()

    dataset = Dataset.objects.get(name="several")
    for dimension in ("helpfulness", "honesty"):
        assert 0.0 <= version.knn_shrinkage[f"{dimension}:*"] <= 1.0
        assert estimators.get().shrinkage_for((dataset.id,), dimension) == version.knn_shrinkage[f"{dimension}:{dataset.id}"]
    # Neighbours predict these outcomes (cooking and taxes are told apart): the estimate follows them.
    assert version.knn_shrinkage["helpfulness:*"] > 0.5
