"""What the cascade tests share: a multiple-choice question like the `trio` fixture's evidence
(tests/routing/conftest.py), and which canned answer each of its models gives."""

from registry.models import LLM
from routing.engine.snapshot import snapshots

QUESTION = ("Which animal is the largest? (case 1000)\nA) option a1000\nB) option b1000\nC) option c1000\n"
            "D) option d1000\nPrint only a single choice from \"A\" or \"B\" or \"C\" or \"D\" without explanation.\n"
            "Answer:")

# Weighs quality well above cost, so that the large model is worth its price when the small ones disagree.
TERMS = {"model": "optiroute/auto", "optiroute": {"cascade": True, "preferences": {"accuracy": 1.0, "cost": 0.1}}}


def answering(**behaviours: str) -> None:
    """Which behaviour of tests/openai_server.py each model answers with."""
    for name, behaviour in behaviours.items():
        LLM.objects.filter(name=name.replace("_", "-")).update(api_model_id=behaviour)
    snapshots.clear()
