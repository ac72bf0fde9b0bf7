"""A real browser (Debian's Chromium) clicks Short and sees SUCCESS in the table."""

import json
import time

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.stack

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",  # this machine has no Internet: no update checks
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,800",
]


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    yield driver
    driver.quit()


def test_click_short_until_success(stack, browser):
    browser.get(stack.url + "/")
    browser.find_element(By.CSS_SELECTOR, "button[data-type='1']").click()

    def statuses(driver):
        cells = driver.find_elements(By.CSS_SELECTOR, "#tasks tr td:nth-child(2)")
        return [cell.text for cell in cells]

    WebDriverWait(browser, 15).until(lambda d: "PENDING" in statuses(d))
    WebDriverWait(browser, 45, poll_frequency=0.5).until(lambda d: "SUCCESS" in statuses(d))
    artifacts = stack.run_dir / "artifacts"
    artifacts.mkdir(exist_ok=True)
    browser.save_screenshot(str(artifacts / "short-task-success.png"))
    assert browser.find_element(By.CSS_SELECTOR, "#tasks tr:first-child td:nth-child(3)").text == "true"
    # The page polled until the final state and then stopped: one row per status request,
    # every row but the newest not final, and no request after SUCCESS.
    task_id = browser.find_element(By.CSS_SELECTOR, "#tasks tr:first-child td:nth-child(1)").text
    time.sleep(3)  # three poll intervals: a page that kept polling would add rows
    rows = statuses(browser)
    assert rows[0] == "SUCCESS" and "SUCCESS" not in rows[1:] and len(rows) >= 2, rows
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
