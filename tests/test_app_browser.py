"""The app in headless Chromium (marker ``browser``; ``make test-browser``; CI installs chromium + chromedriver).

States checked and saved as screenshots in ``artifacts/screenshots/`` (git-ignored): an answer on a
desktop (1280x800) and a phone (390x844) viewport, the no-confident-answer state, an upload in
progress and its result.
"""
from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import make_video

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("VCVAL_SCREENSHOTS", ROOT / "artifacts" / "screenshots"))

FILLER = ["Welcome, this lesson shows how to care for an injured arm.", "Sit the person down somewhere calm.",
          "Ask them where it hurts and how it happened.", "Look for swelling, bruising or an odd shape.",
          "Remove rings and watches before the hand swells.", "Support the arm against the chest.",
          "Fold the triangular bandage into a broad band.", "Slide the bandage under the injured forearm.",
          "Bring the lower end up over the other shoulder.", "Keep the elbow bent at a right angle.",
          "Adjust the height so the hand is above the elbow.", "Tuck the loose point in at the elbow.",
          "Finally, tie the sling with a knot behind the neck.", "Pad the knot so it does not press on the neck.",
          "Check the fingers stay warm and pink.", "Loosen the sling if the fingers go numb.",
          "Give them something to keep warm.", "Do not let them eat or drink yet.", "Arrange a way to hospital.",
          "Tell the nurse when the injury happened.", "Keep the sling on until an X-ray is done.",
          "Wash your hands again when you are done.", "Restock the first aid kit.", "That is the end of this lesson."]
SLING_SRT = "".join(f"{i + 1}\n00:{i * 5 // 60:02d}:{i * 5 % 60:02d},000 --> 00:{(i * 5 + 5) // 60:02d}:"
                    f"{(i * 5 + 5) % 60:02d},000\n{t}\n\n" for i, t in enumerate(FILLER))  # 2 minutes, knot at 01:00
BURN_SRT = """1
00:00:00,000 --> 00:00:04,000
Cool a burn under cool running water for twenty minutes.
"""


def _chromedriver() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("chromium and chromedriver are not installed (scripts/install_browser.sh installs them)")
    pytest.importorskip("selenium")
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """URL of the app over the default (calibrated) method on a 2-video corpus."""
    _chromedriver()
    from vcval.app import AppSettings, build_demo
    from vcval.corpus import Corpus
    from vcval.pipeline import build_pipeline

    work = tmp_path_factory.mktemp("browser")
    corpus = Corpus.open(work / "corpus")
    make_video(work / "sling.mp4", seconds=120.0, srt_text=SLING_SRT, size="320x240")
    corpus.add_video(work / "sling.mp4", title="Arm sling lesson", video_id="sling", visual_features=False)
    demo = build_demo(build_pipeline(corpus, "default", device="cpu"), examples=["How do I tie a sling?"],
                      settings=AppSettings())
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", work
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = _chromedriver()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1280,800"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_page_load_timeout(60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _viewport(driver, width: int, height: int, mobile: bool = False) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


def _wait(driver, script: str, timeout: float = 60.0, what: str = ""):
    """Poll a JS expression until it is truthy; returns its value."""
    end = time.monotonic() + timeout
    value = None
    while time.monotonic() < end:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what or script} (last value {value!r})")


def _open(driver, url: str, question: str | None = None) -> None:
    driver.get(url + (f"?q={quote(question)}" if question else ""))
    _wait(driver, "document.querySelector('#vcval-answer-info') !== null", what="the page")


def _shot(driver, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def _rect(driver, selector: str) -> dict:
    return driver.execute_script(
        f"const r = document.querySelector({selector!r}).getBoundingClientRect();"
        "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height};")


VIDEO_READY = "(() => {{ const v = document.querySelector('{sel} video'); return v && v.readyState >= 2 && v; }})()"


def test_desktop_answer_plays_in_context_with_clickable_cues(server, browser):
    url, _ = server
    _viewport(browser, 1280, 800)
    _open(browser, url, "How do I tie the sling knot behind the neck?")
    _wait(browser, "document.querySelector('#vcval-subs mark')", what="highlighted cues")
    marks = browser.execute_script("return [...document.querySelectorAll('#vcval-subs mark')].map(m => m.innerText)")
    assert any("knot behind the neck" in m for m in marks)
    # one sentence of the answer is the key one (closest to the question): marked more strongly, inside it
    keys = browser.execute_script("return [...document.querySelectorAll('#vcval-subs mark.vcval-key')]"
                                  ".map(m => m.innerText)")
    assert keys and all(k in marks for k in keys)
    _wait(browser, VIDEO_READY.format(sel="#vcval-full"), what="the full video to load")
    # opens at the answer's lead-in (before the answer, not at 0), and the panel's times are the player's
    open_at = float(browser.execute_script("return document.querySelector('#vcval-subs [data-start]').dataset.start"))
    assert open_at > 10.0
    t0 = _wait(browser, f"(() => {{ const t = document.querySelector('#vcval-full video').currentTime;"
                        f" return Math.abs(t - {open_at}) < 1.0 && t; }})()", 20, "the player to open at the answer")
    assert "01:00" in browser.find_element("css selector", "#vcval-subs").text
    browser.execute_script("document.querySelector('#vcval-full video').play().catch(() => {})")
    _wait(browser, "document.querySelector('#vcval-full video').currentTime > %f" % (t0 + 0.3), 30,
          "the full video to play")
    # answer above the fold
    assert _rect(browser, "#vcval-answer-info")["top"] < 800
    assert _rect(browser, "#vcval-full video")["top"] < 800 - 120
    _shot(browser, "desktop-answer")
    # a click on a cue seeks the full video there
    last = "[...document.querySelectorAll('#vcval-subs .vcval-cue')].pop()"
    browser.execute_script(f"{last}.click()")
    first = float(browser.execute_script(f"return {last}.dataset.t"))
    _wait(browser, f"Math.abs(document.querySelector('#vcval-full video').currentTime - {first}) < 1.5", 20,
          "the cue click to seek")
    # the clip tab plays the clip (from the lead-in) and offers a download
    browser.execute_script("[...document.querySelectorAll('#vcval-players button[role=tab]')]"
                           ".find(b => b.innerText.includes('clip')).click()")
    _wait(browser, "document.querySelector('#vcval-clip video')", what="the clip player")
    browser.execute_script("document.querySelector('#vcval-clip video').play().catch(() => {})")
    _wait(browser, VIDEO_READY.format(sel="#vcval-clip"), what="the clip to load")
    _wait(browser, "document.querySelector('#vcval-clip video').currentTime > 0.2", 30, "the clip to play")
    assert browser.execute_script("return [...document.querySelectorAll('button, a')]"
                                  ".some(b => b.innerText.includes('Download clip'))")
    _shot(browser, "desktop-clip-tab")


def test_phone_answer_visible_without_horizontal_scroll(server, browser):
    url, _ = server
    _viewport(browser, 390, 844, mobile=True)
    try:
        _open(browser, url, "How do I tie the sling knot behind the neck?")
        _wait(browser, "document.querySelector('#vcval-subs mark')", what="highlighted cues")
        _wait(browser, "document.querySelector('#vcval-full video')", what="the player")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 391
        info = _rect(browser, "#vcval-answer-info")
        assert 0 <= info["top"] < 844 and info["height"] > 20
        assert _rect(browser, "#vcval-full video")["top"] < 844 - 100
        # the answer list shows whole lines (title, span and confidence), nothing cut
        items = browser.execute_script("return [...document.querySelectorAll('#vcval-answers label')]"
                                       ".map(l => [l.innerText, l.scrollWidth <= l.clientWidth + 1])")
        assert items and all("\u2013" in text and "%" in text and fits for text, fits in items), items
        _shot(browser, "phone-answer")
        browser.execute_script("document.querySelector('#vcval-answers').scrollIntoView()")
        _shot(browser, "phone-answer-list")
    finally:
        _viewport(browser, 1280, 800)


def test_no_confident_answer_state(server, browser):
    url, _ = server
    _viewport(browser, 1280, 800)
    _open(browser, url, "What is the capital of France?")
    text = _wait(browser, "(() => { const t = document.querySelector('#vcval-answer-info').innerText;"
                          " return t.includes('No confident answer') && t; })()", what="the no-confident state")
    assert "closest match" in text
    assert "Closest matches" in browser.find_element("css selector", "#vcval-answers").text
    _wait(browser, "document.querySelector('#vcval-subs mark')", what="the closest match's cues")
    assert browser.execute_script("return document.querySelectorAll('#vcval-subs mark.vcval-key').length") == 0
    _shot(browser, "desktop-no-confident-answer")


def test_upload_shows_progress_and_is_found(server, browser):
    url, work = server
    _viewport(browser, 1280, 800)
    _open(browser, url)
    (work / "upload").mkdir(exist_ok=True)
    clip = make_video(work / "upload" / "burn.mp4", seconds=4.0, srt_text=BURN_SRT)
    browser.execute_script("[...document.querySelectorAll('button')].find(b => b.innerText.includes('Add to corpus'))"
                           ".click()")
    inputs = _wait(browser, "document.querySelectorAll('input[type=file]').length >= 2 && "
                            "document.querySelectorAll('input[type=file]')", what="the upload inputs")
    inputs[0].send_keys(str(clip))
    inputs[1].send_keys(str(clip.with_suffix(".srt")))
    title = browser.execute_script("return [...document.querySelectorAll('label')]"
                                   ".find(l => l.innerText.includes('Title (optional)')).querySelector('input')")
    title.send_keys("Burn care")
    _wait(browser, "document.querySelectorAll('#vcval-add-status, .file-preview').length && "
                   "[...document.querySelectorAll('.file-preview, table')].some(t => t.innerText.includes('burn'))",
          30, "the uploads to finish")
    browser.execute_script("[...document.querySelectorAll('button')].find(b => b.innerText === 'Add video').click()")
    progress = _wait(browser, "(() => { const t = document.querySelector('#vcval-add-status').innerText;"
                              " return t.includes('%') && t; })()", 60, "the ingest progress")
    disabled = browser.execute_script("return [...document.querySelectorAll('button')]"
                                      ".find(b => b.innerText === 'Add video').disabled")
    browser.execute_script("document.querySelector('#vcval-add-status').scrollIntoView({block: 'center'})")
    _shot(browser, "desktop-upload-progress")
    assert "\u23f3" in progress and disabled
    _wait(browser, "document.querySelector('#vcval-add-status').innerText.includes('Added')", 180, "the ingest")
    _wait(browser, "![...document.querySelectorAll('button')].find(b => b.innerText === 'Add video').disabled",
          20, "Add video to be enabled again")
    _shot(browser, "desktop-upload-done")
    _open(browser, url, "How long do I cool a burn under running water?")
    _wait(browser, "document.querySelector('#vcval-answer-info').innerText.includes('Burn care')", 60,
          "the uploaded video to answer")
    _wait(browser, VIDEO_READY.format(sel="#vcval-full"), 30, "the uploaded video to load in the player")
    _shot(browser, "desktop-upload-answer")


def test_feedback_vote_and_corpus_panel(server, browser):
    from vcval.corpus.feedback import FeedbackStore

    url, work = server
    _viewport(browser, 1280, 800)
    before = len(FeedbackStore(work / "corpus").all())
    _open(browser, url, "How do I tie the sling knot behind the neck?")
    _wait(browser, "document.querySelector('#vcval-subs mark')", what="highlighted cues")
    browser.execute_script("[...document.querySelectorAll('button')].find(b => b.innerText.includes('Right answer'))"
                           ".click()")
    _wait(browser, "document.body.innerText.includes('Thanks: marked as a right answer')", 30, "the vote")
    votes = FeedbackStore(work / "corpus").all()
    assert len(votes) == before + 1 and votes[-1].rating == 1 and votes[-1].video_id == "sling"
    browser.execute_script("[...document.querySelectorAll('button')]"
                           ".find(b => b.innerText.includes('Videos in the corpus')).click()")
    box = _wait(browser, "[...document.querySelectorAll('label')].find(l => l.innerText.includes('Filter'))"
                         "?.querySelector('input, textarea')", what="the filter box")
    box.send_keys("sling\n")
    text = _wait(browser, "(() => { const t = document.querySelector('#vcval-corpus').innerText;"
                          " return t.includes('Arm sling lesson') && t; })()", 30, "the corpus table")
    assert "licence" in text and "added" in text and "channel" in text
    browser.execute_script("document.querySelector('#vcval-corpus').scrollIntoView({block: 'center'})")
    _shot(browser, "desktop-corpus-panel")


def test_example_question_from_the_dropdown(server, browser):
    url, _ = server
    _viewport(browser, 1280, 800)
    _open(browser, url)
    browser.find_element("css selector", "#vcval-examples input").click()
    option = _wait(browser, "[...document.querySelectorAll('ul[role=listbox] li, .options li')]"
                            ".find(li => li.innerText.includes('How do I tie a sling?'))", 20, "the example list")
    option.click()
    _wait(browser, "document.querySelector('#vcval-subs mark')", 60, "the example's answer")
    assert browser.find_element("css selector", "#vcval-ask-row textarea, #vcval-ask-row input").get_attribute(
        "value") == "How do I tie a sling?"
