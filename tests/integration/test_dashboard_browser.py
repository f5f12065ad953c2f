"""The dashboard in a real headless Chromium (Debian's `chromium` and `chromedriver`, driven
by selenium) against a real `raftq up`: sign-in, numbers equal to the REST API's, live
updates, a redrive that moves dead letters back, a key without grants that sees nothing, and
forged form posts refused with nothing changed.

Screenshots are kept under `test-artifacts/dashboard/` at the repository's root (git-ignored).
Skips without the browser (scripts/_browser.sh installs it), which fails in CI (conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from raftq.client.sdk import Client
from raftq.client.task_models import TaskError, TaskFinish
from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "dashboard"
WAIT_S = 20

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the dev extra has it; without it the tests skip (and fail in CI)
    webdriver = None  # type: ignore[assignment]


def _browser_paths() -> tuple[str, str] | None:
    chromium = os.environ.get("RAFTQ_CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("RAFTQ_CHROMEDRIVER") or shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    paths = _browser_paths()
    if webdriver is None or paths is None:
        pytest.skip("needs selenium, chromium and chromedriver (scripts/_browser.sh)")
    chromium, driver_path = paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(WAIT_S)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> Iterator[Client]:
    with Client(deployment.endpoint, deployment.key_id, deployment.secret) as client:
        yield client


def admin(deployment: Deployment, *argv: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", "admin", "--json", *argv],
        env=deployment.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def until(condition: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll `condition` (a real system's state, not a clock) until it is truthy."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last saw {last!r}")


def _replaced(error: WebDriverException) -> bool:
    """Whether `error` says the element is no longer in the page: Chromium reports it as stale,
    or (since about version 156) as "Node with given id does not belong to the document"."""
    return isinstance(error, StaleElementReferenceException) or (
        "does not belong to the document" in str(error)
    )


def _gone(element: Any) -> bool:
    """Whether `element` left the page (selenium's `staleness_of`, with Chromium's other
    wording of it)."""
    try:
        element.is_enabled()
    except WebDriverException as error:
        if _replaced(error):
            return True
        raise
    return False


def submit(driver: WebDriver, button_css: str) -> None:
    """Click a form's button and wait until the page it leads to has replaced this one."""
    old_page = driver.find_element(By.TAG_NAME, "html")
    for attempt in range(5):  # a button in the live part may be redrawn between find and click
        try:
            driver.find_element(By.CSS_SELECTOR, button_css).click()
            break
        except WebDriverException as error:
            if not _replaced(error) or attempt == 4:
                raise
            time.sleep(0.1)
    WebDriverWait(driver, WAIT_S).until(lambda _: _gone(old_page))
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def sign_in(driver: WebDriver, endpoint: str, key_id: str, secret: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{endpoint}/dashboard/")
    assert driver.current_url.endswith("/dashboard/sign-in"), driver.current_url
    driver.find_element(By.NAME, "key_id").send_keys(key_id)
    driver.find_element(By.NAME, "secret").send_keys(secret)
    submit(driver, "#sign-in-form button")
    WebDriverWait(driver, WAIT_S).until(lambda d: d.current_url.endswith("/dashboard/"))


def rows(driver: WebDriver, table_id: str) -> list[list[str]]:
    """The table's cells, read in one step (the live refresh replaces the table meanwhile)."""
    found: list[list[str]] = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map("
        "r => Array.from(r.cells).map(c => c.textContent.trim()))",
        f"#{table_id} tbody tr",
    )
    return found


def row_of(driver: WebDriver, table_id: str, first_cell: str) -> list[str] | None:
    return next((cells for cells in rows(driver, table_id) if cells[0] == first_cell), None)


def live_refreshes(driver: WebDriver) -> str:
    found: str | None = driver.execute_script(
        "return document.getElementById('live').getAttribute('data-refreshes')"
    )
    return found or "0"


def refreshed(driver: WebDriver, times: int) -> bool:
    return int(live_refreshes(driver)) >= times


def groups_of(driver: WebDriver) -> list[str]:
    found: list[str] = driver.execute_script(
        "return Array.from(document.querySelectorAll('[data-group]')).map(g => g.dataset.group)"
    )
    return found


def counts_of(api: Client, name: str) -> list[str]:
    counts = api.get_queue(name)["counts"]
    return [str(counts[k]) for k in ("visible", "in_flight", "delayed", "dead_letter_pending")]


def shot(driver: WebDriver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_signed_in_the_overview_shows_the_apis_counts_live_and_clusters_to_an_operator(
    deployment: Deployment, browser: WebDriver, api: Client
) -> None:
    endpoint = deployment.endpoint
    # Given a queue with two messages waiting and one in flight
    api.create_queue("dash-counts")
    for body in ("a", "b", "c"):
        api.send("dash-counts", body)
    assert len(api.receive("dash-counts", max_messages=1, visibility_timeout_s=600)) == 1
    # When nobody signed in, nothing is readable: pages lead to sign-in, live parts are 401
    page = requests.get(f"{endpoint}/dashboard/queues/dash-counts", allow_redirects=False)
    assert page.status_code == 303 and page.headers["Location"] == "/dashboard/sign-in"
    part = requests.get(f"{endpoint}/dashboard/?part=live", allow_redirects=False)
    assert part.status_code == 401 and "dash-counts" not in part.text
    # When the root key signs in
    sign_in(browser, endpoint, deployment.key_id, deployment.secret)
    cookie = browser.get_cookie("raftq_dashboard")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/dashboard"
    # Then the queue's counts are the API's
    cells = until(lambda: row_of(browser, "queues", "dash-counts"), "the queue's row")
    assert cells[2:6] == counts_of(api, "dash-counts") == ["2", "1", "0", "0"]
    # And the clusters and the metadata group are shown to this operator key
    groups = groups_of(browser)
    assert "metadata" in groups and any(g != "metadata" for g in groups), groups
    shot(browser, "overview")
    # And when a message is sent, the open page shows it within a few refreshes (every 2 s)
    api.send("dash-counts", "d")
    until(
        lambda: (row_of(browser, "queues", "dash-counts") or [""] * 3)[2] == "3",
        "the live refresh to show 3 visible",
        timeout_s=8,
    )
    assert counts_of(api, "dash-counts")[0] == "3"
    # And the page refreshes about every 2 s, replacing its live part rather than adding to it
    first = int(live_refreshes(browser)) + 1
    seen: dict[int, tuple[float, int]] = {}
    for refreshes in (first, first + 3):
        until(partial(refreshed, browser, refreshes), f"{refreshes} refreshes")
        nodes = browser.execute_script("return document.querySelectorAll('*').length")
        seen[refreshes] = (time.monotonic(), nodes)
    assert seen[first][1] == seen[first + 3][1], seen
    assert seen[first + 3][0] - seen[first][0] < 3 * 2 + 1.5, seen  # three refreshes
    # And the queue's own page shows the same counts
    browser.get(f"{endpoint}/dashboard/queues/dash-counts")
    assert rows(browser, "counts")[0][:4] == counts_of(api, "dash-counts")
    # And a message's status is found by its id
    sent = api.send("dash-counts", "e")
    browser.find_element(By.NAME, "message_id").send_keys(sent["message_id"])
    submit(browser, "#status-form button")
    assert rows(browser, "message-status")[0][:3] == [sent["message_id"], "pending", "0"]
    shot(browser, "queue")
    # And signing out ends the session: the same cookie reads nothing any more
    session_cookie = browser.get_cookie("raftq_dashboard")
    assert session_cookie is not None
    submit(browser, "#sign-out button")
    WebDriverWait(browser, WAIT_S).until(lambda d: d.current_url.endswith("/dashboard/sign-in"))
    stale = requests.get(
        f"{endpoint}/dashboard/?part=live",
        cookies={"raftq_dashboard": session_cookie["value"]},
        allow_redirects=False,
        timeout=10,
    )
    assert stale.status_code == 401


def test_a_key_without_grants_sees_nothing_and_a_wrong_secret_signs_nobody_in(
    deployment: Deployment, browser: WebDriver, api: Client
) -> None:
    endpoint = deployment.endpoint
    api.create_queue("dash-counts")  # as the first test made it (idempotent), should it run alone
    # Given a principal with a key and no grant at all
    admin(deployment, "principals", "create", "dash-nobody")
    key = admin(deployment, "keys", "create", "dash-nobody")
    # When it signs in, it sees no queue and no cluster
    sign_in(browser, endpoint, key["key_id"], key["secret"])
    assert browser.find_element(By.ID, "no-queues").is_displayed()
    assert "dash-counts" not in browser.page_source
    assert groups_of(browser) == []
    shot(browser, "no-grants")
    # And a queue's page, asked for by name, is refused
    browser.get(f"{endpoint}/dashboard/queues/dash-counts")
    assert browser.find_element(By.ID, "error").text
    assert not browser.find_elements(By.ID, "counts")
    nobody = browser.get_cookie("raftq_dashboard")
    assert nobody is not None
    for path in ("/dashboard/queues/dash-counts", "/dashboard/queues/dash-counts?part=live"):
        refused = requests.get(
            f"{endpoint}{path}", cookies={"raftq_dashboard": nobody["value"]}, timeout=10
        )
        assert refused.status_code == 403 and "visible" not in refused.text, path
    # And a wrong secret signs nobody in
    browser.delete_all_cookies()
    browser.get(f"{endpoint}/dashboard/sign-in")
    browser.find_element(By.NAME, "key_id").send_keys(deployment.key_id)
    browser.find_element(By.NAME, "secret").send_keys("not-the-secret")
    submit(browser, "#sign-in-form button")
    assert "wrong" in browser.find_element(By.ID, "error").text
    assert browser.get_cookie("raftq_dashboard") is None


def test_a_redrive_from_the_dashboard_moves_the_dead_letters_back(
    deployment: Deployment, browser: WebDriver, api: Client
) -> None:
    endpoint = deployment.endpoint
    # Given two messages of `dash-jobs` dead-lettered to `dash-jobs-dlq` after one receive
    api.create_queue("dash-jobs-dlq")
    api.create_queue("dash-jobs", dead_letter={"queue": "dash-jobs-dlq", "max_receive_count": 1})
    for body in ("x", "y"):
        api.send("dash-jobs", body)
    assert len(api.receive("dash-jobs", visibility_timeout_s=0)) == 2
    assert api.receive("dash-jobs", visibility_timeout_s=0) == []
    until(lambda: counts_of(api, "dash-jobs-dlq")[0] == "2", "both dead letters in the DLQ")
    # When the root key opens the DLQ's page and redrives it
    sign_in(browser, endpoint, deployment.key_id, deployment.secret)
    browser.get(f"{endpoint}/dashboard/queues/dash-jobs-dlq")
    assert "dash-jobs" in browser.find_element(By.ID, "attributes").text  # its source
    submit(browser, "#redrive-form button")
    assert "Redrive started" in browser.find_element(By.ID, "notice").text
    # Then the messages are back in `dash-jobs`, and the DLQ is empty
    until(
        lambda: counts_of(api, "dash-jobs")[0] == "2" and counts_of(api, "dash-jobs-dlq")[0] == "0",
        "the redrive to move both messages",
    )
    # And the open page shows the DLQ empty after its live refresh
    until(
        lambda: rows(browser, "counts")[0][0] == "0",
        "the page to show the DLQ empty",
        timeout_s=8,
    )
    shot(browser, "redrive")


def test_forged_form_posts_are_refused_and_change_nothing(
    deployment: Deployment, browser: WebDriver, api: Client
) -> None:
    endpoint = deployment.endpoint
    # Given a queue with messages, and a signed-in browser on its page
    api.create_queue("dash-forged")
    for body in ("1", "2"):
        api.send("dash-forged", body)
    sign_in(browser, endpoint, deployment.key_id, deployment.secret)
    browser.get(f"{endpoint}/dashboard/queues/dash-forged")
    token = browser.find_element(By.NAME, "csrf_token").get_attribute("value")
    cookie = browser.get_cookie("raftq_dashboard")
    assert token and cookie is not None
    purge = f"{endpoint}/dashboard/queues/dash-forged/purge"
    jar = {"raftq_dashboard": cookie["value"]}
    own = {"Origin": endpoint}
    # When purges are posted with the session's cookie but without the token, with a wrong
    # token, with the right token from another site's origin, and with no origin at all
    forged: list[tuple[dict[str, str], dict[str, str]]] = [
        ({"confirm_name": "dash-forged"}, own),
        ({"confirm_name": "dash-forged", "csrf_token": "x" * 43}, own),
        ({"confirm_name": "dash-forged", "csrf_token": token}, {"Origin": "https://evil.example"}),
        ({"confirm_name": "dash-forged", "csrf_token": token}, {}),
    ]
    for form, headers in forged:
        answer = requests.post(purge, data=form, headers=headers, cookies=jar, timeout=10)
        # Then each is refused
        assert answer.status_code == 403, (form, headers, answer.status_code)
        assert "Refused" in answer.text
    # And a form on another site, submitted by the browser itself, is refused too (the
    # SameSite=Strict cookie does not go with it)
    browser.get(
        "data:text/html,<form id=f method=post action='"
        f"{purge}'><input name=confirm_name value=dash-forged></form>"
        "<script>document.getElementById('f').submit()</script>"
    )
    WebDriverWait(browser, WAIT_S).until(lambda d: d.current_url.startswith(endpoint))
    assert "Refused" in browser.page_source
    shot(browser, "forged-post")
    # And nothing changed
    assert counts_of(api, "dash-forged")[0] == "2"
    # While the page's own form, confirmed, purges
    browser.get(f"{endpoint}/dashboard/queues/dash-forged")
    browser.find_element(By.NAME, "confirm_name").send_keys("dash-forged")
    submit(browser, "#purge-form button")
    assert "purged" in browser.find_element(By.ID, "notice").text
    until(lambda: counts_of(api, "dash-forged")[0] == "0", "the purge")


def test_the_tasks_page_shows_failures_escaped_retries_a_dead_task_and_cancels_a_scheduled_one(
    deployment: Deployment, browser: WebDriver, api: Client
) -> None:
    endpoint = deployment.endpoint
    hostile = "<img src=x onerror=\"document.title='pwned'\">"
    # Given a task that died with a hostile error message, and one scheduled an hour ahead
    api.create_queue("dash-tasks-dlq")
    api.create_queue("dash-tasks", dead_letter={"queue": "dash-tasks-dlq", "max_receive_count": 5})
    dead = api.submit_task("dash-tasks", "resize", {"image": 7}, max_attempts=1)
    leased = api.lease_tasks("dash-tasks", "dash-worker")
    assert [task.task_id for task in leased] == [dead.task_id]
    failed = TaskFinish(leased[0].lease, "failed", error=TaskError("ValueError", hostile))
    assert not api.finish_tasks("dash-tasks", [failed]).failed
    until(lambda: api.get_task("dash-tasks", dead.task_id).state == "dead", "the task to die")
    until(lambda: counts_of(api, "dash-tasks-dlq")[0] == "1", "its dead letter in the DLQ")
    scheduled = api.submit_task("dash-tasks", "report", delay_s=3600)
    # When the root key opens the queue's tasks page
    sign_in(browser, endpoint, deployment.key_id, deployment.secret)
    browser.get(f"{endpoint}/dashboard/tasks/dash-tasks")
    # Then the counts by state are the API's, and the error shows as text, not as markup
    counts = dict(zip([c.text for c in browser.find_elements(By.CSS_SELECTOR, "#task-counts th")],
                      rows(browser, "task-counts")[0], strict=True))  # fmt: skip
    assert counts["dead"] == "1" and counts["scheduled"] == "1", counts
    assert hostile in (row_of(browser, "task-failures", dead.task_id) or [""] * 6)[5]
    assert browser.title != "pwned" and not browser.find_elements(By.CSS_SELECTOR, "img")
    shot(browser, "tasks")
    # When the scheduled task is cancelled from the page
    submit(browser, "#scheduled form button")
    assert "cancelled" in browser.find_element(By.ID, "notice").text
    assert api.get_task("dash-tasks", scheduled.task_id).state == "cancelled"
    # And the dead one retried
    submit(browser, "#task-failures form button")
    notice = browser.find_element(By.ID, "notice").text
    assert "submitted again" in notice, notice
    # Then a new task of the same type and payload waits, and the dead letter is gone
    again = api.lease_tasks("dash-tasks", "dash-worker")
    assert [(t.type, t.payload) for t in again] == [("resize", {"image": 7})]
    assert again[0].task_id in notice
    assert counts_of(api, "dash-tasks-dlq")[:2] == ["0", "0"]


def test_attributes_change_from_the_form_and_a_value_out_of_range_changes_nothing(
    deployment: Deployment, browser: WebDriver, api: Client
) -> None:
    endpoint = deployment.endpoint
    # Given a queue with the default attributes, on its page
    api.create_queue("dash-attributes")
    sign_in(browser, endpoint, deployment.key_id, deployment.secret)
    browser.get(f"{endpoint}/dashboard/queues/dash-attributes")

    def set_field(name: str, value: str) -> None:
        control = browser.find_element(By.NAME, name)
        control.clear()
        control.send_keys(value)

    # When the visibility timeout is changed to 45 s
    set_field("visibility_timeout_s", "45")
    submit(browser, "#attributes-form button")
    # Then the API reads it
    assert "changed" in browser.find_element(By.ID, "notice").text
    assert api.get_queue("dash-attributes")["attributes"]["visibility_timeout_s"] == 45
    # When a retention under the minimum is sent with another change
    set_field("visibility_timeout_s", "50")
    set_field("retention_s", "1")
    submit(browser, "#attributes-form button")
    # Then the error names the field, and nothing changed
    assert "retention_s" in browser.find_element(By.ID, "error").text
    attributes = api.get_queue("dash-attributes")["attributes"]
    assert attributes["visibility_timeout_s"] == 45 and attributes["retention_s"] != 1
    shot(browser, "attributes-refused")
