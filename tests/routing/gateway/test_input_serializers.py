"""Input serializers share their bound fields across requests (routing.gateway.serializers.InputSerializer):
validation must still judge each body on its own, from any thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from routing.gateway.serializers import ChatCompletionInputSerializer, RouteInputSerializer


def _body(index: int) -> dict[str, object]:
    if index % 3 == 0:  # a slider out of range, nested two levels down
        return {"model": "optiroute/auto", "messages": [{"role": "user", "content": f"q{index}"}],
                "optiroute": {"preferences": {"cost": 1.5}}}
    if index % 3 == 1:  # a bad role in the second message
        return {"model": "m", "messages": [{"role": "user", "content": "x"}, {"role": "robot", "content": "y"}]}
    return {"model": f"m{index}", "messages": [{"role": "user", "content": f"question {index}"}],
            "max_tokens": index, "optiroute": {"constraints": {"max_cost_usd": index / 1000}}}


def _judge(index: int) -> tuple[int, object]:
    serializer = ChatCompletionInputSerializer(data=_body(index))
    if serializer.is_valid():
        v = serializer.validated_data
        return index, (v["model"], v["messages"][0]["content"], v["max_tokens"],
                       v["optiroute"]["constraints"]["max_cost_usd"])
    return index, serializer.errors


def test_it_judges_each_body_on_its_own_across_threads() -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(_judge, range(600)))
    for index, outcome in results:
        if index % 3 == 0:
            assert "cost" in str(outcome["optiroute"]["preferences"]), outcome  # type: ignore[index]
        elif index % 3 == 1:
            assert "robot" in str(outcome["messages"][1]["role"]), outcome  # type: ignore[index]
        else:
            assert outcome == (f"m{index}", f"question {index}", index, index / 1000)


def test_it_reports_unknown_options_after_many_valid_bodies() -> None:
    for index in range(5):
        assert RouteInputSerializer(data={"prompt": f"p{index}", "constraints": {"max_cost_usd": 1}}).is_valid()
    bad = RouteInputSerializer(data={"prompt": "p", "constraints": {"max_cost": 1}, "preferences": {"speed": 1}})
    assert not bad.is_valid()
    assert "unknown constraint(s) max_cost" in str(bad.errors["constraints"])
    assert "unknown preference(s) speed" in str(bad.errors["preferences"])
    empty = RouteInputSerializer(data={"prompt": "  "})
    assert not empty.is_valid() and "non-empty" in str(empty.errors)
