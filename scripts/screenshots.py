"""Screenshots for the README, from the instance `scripts/run.sh` serves.

Needs Debian's chromium and chromium-driver and `pip install selenium`:
    python scripts/screenshots.py [http://127.0.0.1:8069]
"""

import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8069"
OUT = Path(__file__).resolve().parent.parent / "static" / "description"


def main():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1400,860",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    browser = webdriver.Chrome(options=options, service=service)
    wait = WebDriverWait(browser, 30)
    try:
        browser.get(f"{BASE}/web/login")
        wait.until(ready.element_to_be_clickable((By.NAME, "login")))
        browser.find_element(By.NAME, "login").send_keys("admin")
        browser.find_element(By.NAME, "password").send_keys("admin")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(
            ready.presence_of_element_located((By.CSS_SELECTOR, ".o_main_navbar"))
        )
        browser.get(
            f"{BASE}/odoo/action-billwerk_connector.action_billwerk_account_open"
        )
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, ".o_form_view")))
        time.sleep(1.5)
        browser.save_screenshot(str(OUT / "screen_account.png"))
        browser.find_element(By.NAME, "action_open_set_api_key").click()
        wait.until(
            ready.presence_of_element_located((By.CSS_SELECTOR, ".modal-dialog"))
        )
        time.sleep(1)
        browser.save_screenshot(str(OUT / "screen_set_api_key.png"))
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
