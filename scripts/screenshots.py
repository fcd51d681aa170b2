"""Screenshots for the README, from the instance `scripts/run.sh` serves.

Needs Debian's chromium and chromium-driver and `pip install selenium`:
    python scripts/screenshots.py [http://127.0.0.1:8069]
It changes nothing: the switch question is asked with the sandbox's second
key (from .venv/var/sandbox.out) and cancelled.
"""

import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8069"
OUT = ROOT / "static" / "description"
SANDBOX_OUT = ROOT / ".venv" / "var" / "sandbox.out"


def menu(xmlid):
    return f"[data-menu-xmlid='billwerk_connector.{xmlid}']"


def second_key():
    accounts = [
        line.split("\t")
        for line in SANDBOX_OUT.read_text().splitlines()
        if line.startswith("account\t")
    ]
    return accounts[1][1]


def start_browser():
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
    return webdriver.Chrome(options=options, service=service)


def main():
    browser = start_browser()
    wait = WebDriverWait(browser, 30)

    def present(selector):
        located = ready.presence_of_element_located((By.CSS_SELECTOR, selector))
        return wait.until(located)

    def click(selector):
        browser.find_element(By.CSS_SELECTOR, selector).click()

    def through_menus(*xmlids):
        """Open the Financial app, then each menu: as an accountant gets there,
        so that the navbar names the app (an action's URL alone shows Discuss)."""
        browser.get(f"{BASE}/odoo")
        selectors = [".o_navbar_apps_menu button", menu("menu_financial_root")]
        selectors += [menu(xmlid) for xmlid in xmlids]
        for selector in selectors:
            wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, selector)))
            click(selector)

    def shoot(name):
        time.sleep(1.5)  # let the fonts and the figures settle
        browser.save_screenshot(str(OUT / name))

    try:
        browser.get(f"{BASE}/web/login")
        wait.until(ready.element_to_be_clickable((By.NAME, "login")))
        browser.find_element(By.NAME, "login").send_keys("admin")
        browser.find_element(By.NAME, "password").send_keys("admin")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        present(".o_main_navbar")
        through_menus("menu_financial_setup", "menu_billwerk_account")
        present(".o_form_view .o_stat_value")
        shoot("screen_account.png")

        browser.find_element(By.NAME, "action_open_set_api_key").click()
        key_input = present(".modal .o_field_widget[name=api_key] input")
        shoot("screen_set_api_key.png")
        key_input.send_keys(second_key())
        click(".modal button[name=action_check_key]")
        present(".modal button[name=action_switch_delete_data]")
        shoot("screen_switch_question.png")
        click(".modal .modal-footer .btn-secondary")

        through_menus("menu_billwerk_data", "menu_billwerk_invoices")
        present(".o_list_view .o_data_row")
        shoot("screen_invoices.png")
        through_menus("menu_financial_setup", "menu_billwerk_sync_runs")
        present(".o_list_view .o_data_row")
        shoot("screen_sync_history.png")
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
