"""A real browser (Debian's Chromium) clicks Short and sees SUCCESS in the table."""

import json
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browser import chromium, click_short_until_success

pytestmark = pytest.mark.stack


@pytest.fixture
def browser(stack, tmp_path):
    with chromium(tmp_path / "profile", trusted_certificate=stack.run_dir / "tls" / "site.crt") as driver:
        yield driver


def test_click_short_until_success(stack, browser):
    artifacts = stack.run_dir / "artifacts"
    artifacts.mkdir(exist_ok=True)
    task_id, rows = click_short_until_success(browser, stack.url, artifacts / "short-task-success.png")
    # One row per status request nginx served, and none after SUCCESS. nginx writes its access
    # lines at most 1 s late (buffered): read them once that second has passed.
    time.sleep(1.5)
    polls = (stack.run_dir / "log" / "nginx.log").read_text().count(f"GET /tasks/{task_id}/ ")
    assert polls == len(rows)


def test_task_results_are_shown_as_text_not_markup(stack, browser, stack_db_blocker):
    """A result holding HTML is displayed literally: no element is created from it."""
    from django.utils import timezone
    from django_celery_results.models import TaskResult

    task_id = "00000000-0000-4000-8000-0000000000aa"
    payload = "<img src=x onerror=\"document.title='pwned'\"><b>bold</b>"
    with stack_db_blocker.unblock():
        TaskResult.objects.update_or_create(
            task_id=task_id,
            defaults={
                "status": "SUCCESS",
                "result": json.dumps(payload),
                "content_type": "application/json",
                "content_encoding": "utf-8",
                "date_done": timezone.now(),
            },
        )
    assert stack.status(task_id)["task_result"] == payload
    browser.get(stack.url + "/")
    browser.execute_script("pollStatus(arguments[0])", task_id)
    cell = WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tasks tr td:nth-child(3)"))[0]
    assert cell.text == payload
    assert browser.find_elements(By.CSS_SELECTOR, "#tasks img, #tasks b") == []
    assert browser.title != "pwned"
