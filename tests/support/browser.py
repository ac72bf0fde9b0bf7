"""Debian's Chromium, driven through chromedriver, clicking the seeds' page."""

import base64
import contextlib
import hashlib
import ssl
import subprocess
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


def spki_pin(certificate):
    """The base64 SHA-256 of a certificate's public key, as Chromium's pin list names it."""
    der = ssl.PEM_cert_to_DER_cert(certificate.read_text())
    public_key = subprocess.run(
        ["openssl", "x509", "-inform", "der", "-noout", "-pubkey"], input=der, capture_output=True, check=True
    ).stdout
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=public_key, capture_output=True)
    return base64.b64encode(hashlib.sha256(spki.stdout).digest()).decode()


@contextlib.contextmanager
def chromium(profile_dir, trusted_certificate=None):
    """trusted_certificate: a server certificate the browser accepts though no CA it knows
    signed it (the test stack's private CA), by its key alone: any other error still fails."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    flags = CHROMIUM_FLAGS + [f"--user-data-dir={profile_dir}"]
    if trusted_certificate:
        flags.append(f"--ignore-certificate-errors-spki-list={spki_pin(trusted_certificate)}")
    for flag in flags:
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
