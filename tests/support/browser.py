"""Debian's Chromium, driven through chromedriver, clicking the seeds' page."""

import contextlib
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

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


@contextlib.contextmanager
def chromium(profile_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


def statuses(driver):
    """The status column of the task table, newest first."""
    return [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "#tasks tr td:nth-child(2)")]


def click_short_until_success(driver, url, screenshot=None):
    """Click Short on the page, wait for SUCCESS, and return (task id, statuses once polling stopped)."""
    driver.get(url + "/")
    driver.find_element(By.CSS_SELECTOR, "button[data-type='1']").click()
    WebDriverWait(driver, 15).until(lambda d: "PENDING" in statuses(d))
    WebDriverWait(driver, 45, poll_frequency=0.5).until(lambda d: "SUCCESS" in statuses(d))
    if screenshot:
        driver.save_screenshot(str(screenshot))
    assert driver.find_element(By.CSS_SELECTOR, "#tasks tr:first-child td:nth-child(3)").text == "true"
    task_id = driver.find_element(By.CSS_SELECTOR, "#tasks tr:first-child td:nth-child(1)").text
    time.sleep(3)  # three poll intervals: a page that kept polling would add rows
    rows = statuses(driver)
    # The page polled until the final state and then stopped: every row but the newest not final.
    assert rows[0] == "SUCCESS" and "SUCCESS" not in rows[1:] and len(rows) >= 2, rows
    return task_id, rows
