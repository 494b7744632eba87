"""Evaluations in a real browser on a real Celery worker: an upload watched until it is done, a
profile's edited weights placed on the dataset's chart, the router evaluated to a report."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from routing.models import EvaluationRun, PreferenceProfile
from tests.routing.console.test_console_browser import SCREENSHOTS, browser_page, sign_in

__all__ = ["browser_page"]  # the fixture, shared with the console's other browser test


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_engineer_evaluates_a_profile_and_the_router(live_server: Any, celery_worker: str, browser_page: Any,
                                                       synthetic_bundle: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    get_user_model().objects.create_user("grace", password="pw-grace-123", is_staff=True)
    sign_in(page, live_server.url, "grace")
    page.wait_for_url("**/console/overview/")

    page.click("nav >> text=Evaluations")
    page.click("text=Upload evaluation results")
    page.fill("input[name=dataset]", "synthetic")
    page.set_input_files("input[name=files]", [str(path) for path in sorted(synthetic_bundle.iterdir())])
    page.click("button:text('Import')")
    expect(page.locator("[data-status]")).to_have_text("succeeded", timeout=300_000)
    expect(page.locator(".job .result")).to_contain_text("40 prompts and 80 results")

    page.click("nav >> text=Profiles")
    page.click("text=balanced")
    for slider in page.locator(".slider input[type=range]").all():
        slider.fill("0")
    page.click("#place")
    expect(page.locator("#placement .errorlist")).to_contain_text("Fix the weights above first.")
    page.fill("input[name=accuracy]", "0.6")
    page.fill("input[name=cost]", "0.9")
    page.select_option("select[name=dataset]", "synthetic")
    page.click("#place")
    expect(page.locator("#placement [data-status]")).to_have_text("done", timeout=300_000)
    expect(page.locator("#placement svg.pareto-chart .mark.profile")).to_be_visible()
    expect(page.locator("#placement .summary")).to_contain_text("of the quality of the best single model (pricey")
    expect(page.locator("#placement")).to_contain_text("as edited, not the saved ones")
    assert PreferenceProfile.objects.get(name="balanced").full_weights()["cost"] != 0.9
    assert EvaluationRun.objects.filter(kind="profile").count() == 1  # htmx's request alone, not the form's too
    page.screenshot(path=str(SCREENSHOTS / "console-profile-placed.png"), full_page=True)
    page.reload()  # the placement is kept
    expect(page.locator("#placement svg.pareto-chart .mark.profile")).to_be_visible()

    page.click("nav >> text=Evaluations")
    page.select_option("select[name=dataset]", "synthetic")
    page.click("button:text('Evaluate the router')")
    expect(page.locator("[data-status]")).to_have_text("done", timeout=300_000)
    expect(page.locator("svg.pareto-chart polyline")).to_have_count(3)
    expect(page.locator(".run")).to_contain_text("Best single model: pricey")
    page.screenshot(path=str(SCREENSHOTS / "console-evaluation-report.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(SCREENSHOTS / "console-evaluation-report-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")

    page.click(".crumbs >> text=Evaluations")  # a second report, kept beside the first
    page.select_option("select[name=dataset]", "synthetic")
    page.click("button:text('Evaluate the router')")
    expect(page.locator("[data-status]")).to_have_text("done", timeout=300_000)
    page.click(".crumbs >> text=Evaluations")
    expect(page.locator("input[name=run]")).to_have_count(2)
    page.screenshot(path=str(SCREENSHOTS / "console-evaluations.png"), full_page=True)
    for box in page.locator("input[name=run]").all():
        box.check()
    page.click("text=Compare the two ticked reports")
    expect(page.locator("h1")).to_contain_text("and report #")
    expect(page.locator("svg.pareto-chart polyline")).to_have_count(6)
    page.screenshot(path=str(SCREENSHOTS / "console-evaluation-compare.png"), full_page=True)

    page.click(".crumbs >> text=Evaluations")
    page.click("text=Datasets and their statistics")
    expect(page.locator("#dataset-synthetic")).to_contain_text("32 / 8")
    page.screenshot(path=str(SCREENSHOTS / "console-datasets.png"), full_page=True)
