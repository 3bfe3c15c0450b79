"""The web chat page in headless Chromium (Debian's `chromium`, driven by playwright), against a real server.

Typed Korean goes in through the input method (composition events, as a Korean IME sends them): Enter
while a syllable is still being composed must not send. The streamed answer must equal what the API
gives for the same settings and seed; the stop button ends a long answer; export downloads the
conversation as JSON. A screenshot is written to the test's temporary folder.
"""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

from serve_helpers import running_server, tiny_model_folder

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)

QUESTION = "독도는 어느 나라 땅인가요"  # ends with a syllable the IME is composing


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tiny_model_folder(tmp_path_factory.mktemp("web"), max_seq_len=1024)) as url:
        yield url


@pytest.fixture
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 800}, accept_downloads=True)
        page.goto(server + "/")
        page.wait_for_function("document.querySelectorAll('#model option').length > 0")
        yield page
        browser.close()


def type_with_ime(page, text: str) -> None:
    """Type ``text`` the way a Korean IME does: each syllable composed, then committed."""
    cdp = page.context.new_cdp_session(page)
    page.click("#input")
    for ch in text:
        cdp.send("Input.imeSetComposition", {"text": ch, "selectionStart": 1, "selectionEnd": 1})
        cdp.send("Input.insertText", {"text": ch})


def test_korean_question_streams_the_same_answer_as_the_api(page, server, tmp_path) -> None:
    page.fill("#temperature", "0.8")
    page.fill("#seed", "7")
    page.fill("#max_tokens", "40")
    cdp = page.context.new_cdp_session(page)
    page.click("#input")
    type_with_ime(page, QUESTION[:-1])
    # Enter while the last syllable is still composing confirms it; it must not send the message
    cdp.send("Input.imeSetComposition", {"text": QUESTION[-1], "selectionStart": 1, "selectionEnd": 1})
    page.keyboard.press("Enter")
    assert page.locator(".msg.user").count() == 0
    cdp.send("Input.insertText", {"text": QUESTION[-1]})
    # (a real IME swallows that Enter; the simulated one leaves a newline, which sending trims)
    assert page.input_value("#input").strip() == QUESTION
    page.keyboard.press("Enter")  # now it sends
    page.wait_for_selector(".msg.user")
    page.wait_for_function(
        "!document.querySelector('#send').disabled && !document.querySelector('#status').textContent"
    )
    answer = page.locator(".msg.assistant .body").inner_text()
    page.screenshot(path=str(tmp_path / "web-chat.png"))

    api = httpx.post(
        server + "/v1/chat/completions",
        json={
            "messages": [{"role": "user", "content": QUESTION}],
            "temperature": 0.8, "top_p": 0.95, "top_k": 50, "max_tokens": 40, "seed": 7,
        },
        timeout=60,
    ).json()  # fmt: skip
    assert (
        answer == api["choices"][0]["message"]["content"].strip()
        or answer == api["choices"][0]["message"]["content"]
    )
    assert page.locator(".msg.user .body").inner_text() == QUESTION


def test_stop_button_and_export(page, tmp_path) -> None:
    page.fill("#temperature", "0")
    page.fill("#max_tokens", "900")  # greedy on this model never ends by itself
    page.fill("#input", "긴 답을 해 주세요")
    page.click("#send")
    page.wait_for_function("!document.querySelector('#stop').disabled")
    page.click("#stop")
    page.wait_for_function("document.querySelector('#status').textContent.includes('멈춤')")
    assert not page.locator("#send").is_disabled()

    with page.expect_download() as info:
        page.click("#export")
    exported = json.loads(info.value.path().read_text(encoding="utf-8"))
    assert exported["messages"][0] == {"role": "user", "content": "긴 답을 해 주세요"}
    assert exported["messages"][1]["role"] == "assistant"
    assert exported["settings"]["temperature"] == 0
