"""The web page in a real browser: Debian's Chromium, headless, driven by Selenium through chromium-driver.

uvicorn serves the app on a free loopback port in a thread, with a token, so the page is tested as
it is used on a protected server: opened at /#token=…, it trades the token for its cookie. The test
types a question, waits for the answer, checks the citation and the highlights against the API's
own JSON, follows the citation link to the source text at that line, filters the entity list, and
checks the page at a phone's width. `.ci/run` installs chromium and chromium-driver.

REGIONQA_WEB_SCREENSHOT=docs/web.png makes it save the page after the answer there (the README's picture).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import ARTICLE_NAME, Dirs

TOKEN = "browser-test-token-0123456789abcdef"
QUESTION = "How much cargo can the Alat port handle now?"
WAIT_SECONDS = 60  # the shared 2-core machine can be slow; every wait ends as soon as its condition holds
# Chromium must not reach for the (closed) network: no sync, updates, background fetches or QUIC.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def served(article_index: Dirs):
    """The app (with a token) served by uvicorn on a free loopback port in a thread; its base URL."""
    import uvicorn

    from regionqa.config import Settings
    from regionqa.server import Guard, create_app

    app = create_app(Settings(corpus_dir=article_index.corpus_dir, index_dir=article_index.index_dir), guard=Guard(token=TOKEN))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=30)
    listener.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "Chromium and its driver are missing: apt-get install chromium chromium-driver (.ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}", "--window-size=1280,1000"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    yield driver
    driver.quit()


def _wait(driver, condition, message: str):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A table the page is rebuilding can go stale under the condition's feet: look again.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=ignored).until(condition, message)


def _expected(served: str) -> dict:
    """The highlighted answer as the API gives it, to compare the page with."""
    import httpx

    reply = httpx.post(f"{served}/ask/highlighted", json={"question": QUESTION, "top_k": 5}, headers={"authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200, reply.text
    return reply.json()


def _ask(browser, served: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get("about:blank")  # a fresh page each time (only the #fragment would change otherwise)
    browser.get(f"{served}/#token={TOKEN}")
    _wait(browser, lambda d: d.find_element(By.ID, "served").text.startswith("Index gen-"), "the page did not load /health")
    assert "token" not in browser.current_url  # dropped from the address bar once traded for the cookie
    box = browser.find_element(By.ID, "question")
    box.send_keys(QUESTION, Keys.ENTER)  # by keyboard: type, Enter
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#answer .answer-text"), "no answer appeared")


def test_a_question_is_answered_with_its_citation_and_highlights(browser, served: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    expected = _expected(served)
    answer = expected["answer"]
    _ask(browser, served)
    assert browser.find_element(By.CSS_SELECTOR, "#answer .answer-text").text == answer["text"]
    assert f"confidence {round(answer['score'] * 100)}%" in browser.find_element(By.ID, "answer").text
    assert browser.switch_to.active_element.get_attribute("id") == "answer-heading"  # focus moves to the answer
    link = browser.find_element(By.CSS_SELECTOR, "#answer a.citation")
    line = answer["location"].split()[-1]
    assert link.text == f"{answer['source']}, {answer['location']}"
    assert link.get_attribute("href").endswith(f"/source/{ARTICLE_NAME}?start={answer['start']}&end={answer['end']}#line-{line}")
    # The passages, each with its marks exactly where the API puts them.
    passages = browser.find_elements(By.CSS_SELECTOR, "#passages .passage-text")
    assert len(passages) == len(expected["passages"]) == 5
    for element, passage, marks in zip(passages, expected["passages"], expected["highlights"]):
        shown = [(m.get_attribute("class"), m.text) for m in element.find_elements(By.TAG_NAME, "mark")]
        assert shown == [(m["kind"], passage["text"][m["start"] : m["end"]]) for m in marks]
    answers = browser.find_elements(By.CSS_SELECTOR, "#passages mark.answer")
    assert answers and {m.text for m in answers} == {answer["text"]}
    assert browser.find_elements(By.CSS_SELECTOR, "#passages mark.term")
    facts = browser.find_elements(By.CSS_SELECTOR, "#facts tbody tr")
    assert [row.find_element(By.TAG_NAME, "td").text for row in facts] == [fact["text"] for fact in expected["facts"]]
    screenshot = os.environ.get("REGIONQA_WEB_SCREENSHOT")
    browser.set_window_size(1200, 1500)
    png = browser.get_screenshot_as_png()
    assert png.startswith(b"\x89PNG")
    (Path(screenshot) if screenshot else tmp_path / "web.png").write_bytes(png)
    browser.set_window_size(1280, 1000)


def test_the_citation_link_opens_the_source_at_that_line(browser, served: str, article_index: Dirs) -> None:
    from selenium.webdriver.common.by import By

    answer = _expected(served)["answer"]
    _ask(browser, served)
    browser.find_element(By.CSS_SELECTOR, "#answer a.citation").click()
    _wait(browser, lambda d: "/source/" in d.current_url, "the citation link did not open the source")
    line = answer["location"].split()[-1]
    assert browser.current_url.endswith(f"#line-{line}")
    assert browser.execute_script("return document.querySelector(':target').id") == f"line-{line}"
    cited = browser.find_element(By.CSS_SELECTOR, f"#line-{line} mark#cited")
    assert cited.text == answer["text"]
    text = article_index.source_text(ARTICLE_NAME)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".source-text > li")) == text.count("\n") + 1
    browser.back()
    _wait(browser, lambda d: d.find_element(By.ID, "served").text.startswith("Index gen-"), "back to the page")


def test_the_entity_list_filters_by_label_and_source(browser, served: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _ask(browser, served)
    rows = lambda: browser.find_elements(By.CSS_SELECTOR, "#entity-table tbody tr")  # noqa: E731
    _wait(browser, lambda d: rows(), "the entity list is empty")
    total = len(rows())
    Select(browser.find_element(By.ID, "entity-label")).select_by_value("PERSON")
    _wait(browser, lambda d: {r.find_elements(By.TAG_NAME, "td")[1].text for r in rows()} == {"PERSON"}, "the label filter did nothing")
    assert 0 < len(rows()) < total
    counts = [int(r.find_elements(By.TAG_NAME, "td")[2].text) for r in rows()]
    assert counts == sorted(counts, reverse=True) and all(count >= 1 for count in counts)
    Select(browser.find_element(By.ID, "entity-source")).select_by_value(ARTICLE_NAME)
    _wait(browser, lambda d: all(r.find_elements(By.TAG_NAME, "td")[3].text == ARTICLE_NAME for r in rows()), "the source filter")
    assert re.fullmatch(r"\d+ entities\.|The \d+ most frequent of \d+ entities\.", browser.find_element(By.ID, "entity-count").text)


def test_the_page_fits_a_phone_and_asks_for_the_token_without_it(browser, served: str) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    try:
        _ask(browser, served)
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        browser.delete_all_cookies()
        browser.get(f"{served}/")
        _wait(browser, lambda d: "needs its token" in d.find_element(By.ID, "status").text, "no word about the missing token")
    finally:
        browser.set_window_size(1280, 1000)
