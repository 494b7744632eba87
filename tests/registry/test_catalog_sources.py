"""The starter catalog: every model-level figure has a published source and date, or is missing;
retired models stay registered but inactive; a figure without a source is refused."""

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from registry.management.commands.import_models import STARTER_CATALOG
from registry.models import DECLARED_METRICS, LLM

pytestmark = pytest.mark.django_db


def test_every_figure_of_the_starter_catalog_has_a_source_and_a_date():
    assert "team-estimate" not in STARTER_CATALOG.read_text()
    call_command("import_models")
    figures = missing = 0
    for llm in LLM.objects.all():
        sources = llm.sources["metric_sources"]
        for metric in DECLARED_METRICS:
            if getattr(llm, metric) is None:
                missing += 1
                assert metric not in sources
            else:
                figures += 1
                assert sources[metric]["name"] and sources[metric]["date"] and sources[metric]["raw"], (llm, metric)
                assert 0 <= getattr(llm, metric) <= 1
    assert figures and missing  # measured where published, empty where not


def test_retired_models_stay_registered_but_inactive():
    call_command("import_models")
    assert not LLM.objects.get(name="claude-3-opus-20240229").is_active
    assert LLM.objects.get(name="claude-sonnet-5-5").is_active
    assert LLM.objects.get(name="gpt-4o").is_active  # still offered by its provider


def test_reimporting_the_catalog_drops_a_figure_it_no_longer_sources():
    call_command("import_models")
    LLM.objects.filter(name="mistral-large-2411").update(helpfulness=0.83)  # an old, unsourced estimate
    call_command("import_models")
    assert LLM.objects.get(name="mistral-large-2411").helpfulness is None


def test_a_figure_without_a_source_is_refused(tmp_path: Path):
    catalog = json.loads(STARTER_CATALOG.read_text())
    gpt = next(m for m in catalog["models"] if m["name"] == "gpt-4o")
    gpt["creativity"] = 0.85
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    with pytest.raises(CommandError, match=r"gpt-4o: creativity 0\.85 has no source"):
        call_command("import_models", str(path))
    assert not LLM.objects.exists()


def test_the_model_page_shows_each_figure_with_its_source(staff):
    call_command("import_models")
    llm = LLM.objects.get(name="gpt-4o-mini")
    page = staff.client.get(f"/console/models/{llm.pk}/").content.decode()
    assert "Published figures" in page and "Vectara HHEM hallucination leaderboard" in page
    assert "hallucination rate 3.3% (openai/gpt-4o-mini-2024-07-18)" in page
    assert page.count("no published figure") == 3  # harmlessness, steerability and creativity
