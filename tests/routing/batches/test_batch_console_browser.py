"""The console's batch pages in a real browser (Debian's chromium through Playwright): upload a file,
see the proposal, confirm it, watch it finish; a bad file is refused with its line."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.routing.console.test_console_browser import SCREENSHOTS, sign_in
from tests.routing.console.test_console_browser import browser_page as browser_page  # a fixture


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_engineer_uploads_confirms_and_downloads_a_batch(live_server: Any, celery_worker: Any, provider: Any,
                                                            browser_page: Any, tmp_path: Any) -> None:
    from playwright.sync_api import expect

    provider.delay_s = 0.1  # the progress is seen moving
    page = browser_page
    get_user_model().objects.create_user("grace", password="pw-grace-123", is_staff=True)
    sign_in(page, live_server.url, "grace")
    page.wait_for_url("**/console/overview/")
    page.get_by_role("link", name="Batches").click()

    bad = tmp_path / "labels.csv"
    bad.write_text("custom_id,prompt\nt1,Label this ticket: printer on fire.\nt2,\n")
    page.get_by_label("Requests file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload batch").click()
    expect(page.get_by_role("alert").first).to_contain_text("labels.csv, line 3: the prompt is empty")
    page.screenshot(path=str(SCREENSHOTS / "batch-upload-refused.png"), full_page=True)

    good = tmp_path / "tickets.csv"
    good.write_text("custom_id,prompt,reference\n" + "".join(
        f"t{i},Label this support ticket: case {i} about a late delivery.,delivery\n" for i in range(40)))
    page.get_by_label("Requests file").set_input_files(str(good))
    page.get_by_label("Model:", exact=True).select_option("cheap")
    page.get_by_label("Max tokens per answer").fill("16")
    page.get_by_label("Total budget (USD)").fill("0.50")
    page.get_by_role("button", name="Upload batch").click()

    expect(page.locator("[data-status]")).to_have_text("Proposed")
    expect(page.get_by_role("heading", name="Proposed: cheap")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "batch-proposed.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(SCREENSHOTS / "batch-proposed-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    page.get_by_role("button", name="Confirm and run").click()
    expect(page.locator("[data-status]")).to_have_text("Succeeded")
    expect(page.locator("#done")).to_have_text("40")
    expect(page.locator("#remaining")).to_have_text("0")
    page.screenshot(path=str(SCREENSHOTS / "batch-succeeded.png"), full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert lines[0] == "custom_id,status,model,output,input_tokens,output_tokens,cost_usd,error" and len(lines) == 41
    page.get_by_role("link", name="Batches").first.click()
    expect(page.locator("#batches")).to_contain_text("Succeeded")
    page.screenshot(path=str(SCREENSHOTS / "batch-list.png"), full_page=True)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_engineer_sends_a_batch_in_two_files(live_server: Any, celery_worker: Any, provider: Any,
                                                browser_page: Any, tmp_path: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    get_user_model().objects.create_user("grace", password="pw-grace-123", is_staff=True)
    sign_in(page, live_server.url, "grace")
    page.wait_for_url("**/console/overview/")
    page.get_by_role("link", name="Batches").click()

    first = tmp_path / "part1.csv"
    first.write_text("custom_id,prompt\n" + "".join(f"a{i},Label ticket {i}: a late delivery.\n" for i in range(5)))
    page.get_by_label("Requests file").set_input_files(str(first))
    page.get_by_label("Model:", exact=True).select_option("cheap")
    page.get_by_label("More files follow").check()
    page.screenshot(path=str(SCREENSHOTS / "batch-upload-form.png"), full_page=True)
    page.get_by_role("button", name="Upload batch").click()
    expect(page.get_by_role("heading", name="Add more rows")).to_be_visible()
    expect(page.locator("[data-status]")).to_have_text("Queued")

    bad = tmp_path / "part2.jsonl"
    bad.write_text('{"prompt": "Label ticket 5."}\n{"prompt": \n')
    page.get_by_label("Requests file").set_input_files(str(bad))
    page.get_by_role("button", name="Add rows").click()
    expect(page.get_by_role("alert").first).to_contain_text("part2.jsonl, line 2: not valid JSON")
    page.screenshot(path=str(SCREENSHOTS / "batch-add-rows-refused.png"), full_page=True)

    second = tmp_path / "part2.jsonl"
    second.write_text("".join(f'{{"custom_id": "b{i}", "prompt": "Label ticket {i}: a refund."}}\n' for i in range(3)))
    page.get_by_label("Requests file").set_input_files(str(second))
    page.get_by_role("button", name="Add rows").click()
    expect(page.get_by_role("heading", name="Batch of 8 requests")).to_be_visible()
    expect(page.locator("[data-status]")).to_have_text("Proposed")
    expect(page.get_by_role("heading", name="Add more rows")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "batch-two-files-proposed.png"), full_page=True)
