"""The quality-versus-cost chart's geometry: cost on a log axis, every mark inside the plot."""

from typing import Any

from routing.console.charts import pareto_chart


def report(aiq: float = 0.8) -> dict[str, Any]:
    point = {"quality": 0.75, "cost_per_1k": 1.0}
    return {"strategies": {"knn": {"aiq": aiq, "points": [{"cost_weight": 0.0, "quality": 0.95, "cost_per_1k": 4.0},
                                                          {"cost_weight": 0.5, **point},
                                                          {"cost_weight": 1.0, "quality": 0.5, "cost_per_1k": 0.1}]}},
            "baselines": {"best_single": {"model": "acme/big", "quality": 0.95, "cost_per_1k": 4.0},
                          "oracle": {"quality": 1.0, "cost_per_1k": 0.5}, "random": {"quality": 0.7, "cost_per_1k": 2.0},
                          "cheapest": {"model": "small", "quality": 0.5, "cost_per_1k": 0.1},
                          "single_models": {"acme/big": {"quality": 0.95, "cost_per_1k": 4.0},
                                            "small": {"quality": 0.5, "cost_per_1k": 0.1}}}}


def test_it_draws_cost_on_a_log_axis_with_every_mark_inside() -> None:
    chart = pareto_chart([("", report())], profile={"quality": 0.75, "cost_per_1k": 1.0})

    xs = {label: x for x, label in chart.x_ticks}
    assert list(xs) == ["$0.1", "$0.2", "$0.5", "$1", "$2", "$5"]
    assert abs((xs["$1"] - xs["$0.1"]) - (xs["$2"] - xs["$0.2"])) < 0.01  # a decade is a decade
    for mark in chart.marks:
        assert chart.left <= mark.x <= chart.right and chart.top <= mark.y <= chart.baseline, mark
    profile = next(m for m in chart.marks if m.kind == "profile")
    assert profile.title == "this profile: quality 0.750, $1 per 1,000 requests" and chart.has_profile
    assert {m.label for m in chart.marks if m.kind == "model"} == {"big", "small"}


def test_a_second_report_is_dashed_in_the_same_colour() -> None:
    chart = pareto_chart([("#1 ", report()), ("#2 ", report(aiq=0.9))])

    first, second = chart.curves
    assert (first.series, first.dashed, second.series, second.dashed) == (1, False, 1, True)
    assert second.label == "#2 knn (AIQ 0.900)" and not chart.has_profile
