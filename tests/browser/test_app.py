"""The web app as a user meets it: `emostudio serve` driven by headless Chromium.

Speaks a sentence with a picked category, renders a talking head with a typed mixture, checks that
the browser can play both results, that the Emotion lab drew its plots, and that the page never
reached beyond the local server. Saves a screenshot (and refreshes docs/app_screenshot.png for the
README when EMOSTUDIO_UPDATE_SCREENSHOT=1).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "app_screenshot.png"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
START_TIMEOUT_S = 90
RESULT_TIMEOUT_MS = 120_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]

# Asks the browser itself to load a media URL and report its duration: proof that it can play it.
MEDIA_DURATION_JS = """async ([tag, url]) => {
    const media = document.createElement(tag);
    media.muted = true;
    media.preload = 'metadata';
    const ready = new Promise((resolve, reject) => {
        media.addEventListener('loadedmetadata', () => resolve(media.duration), {once: true});
        media.addEventListener('error', () => reject(new Error('cannot play: ' + (media.error && media.error.code))),
                               {once: true});
    });
    media.src = url;
    return await ready;
}"""


@dataclass
class Server:
    url: str
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(folder / "gradio")}
    log_path = folder / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "emostudio", "serve", "--port", str(port)], cwd=folder,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"emostudio serve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer within {START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield Server(url, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_speak_and_talk_in_a_real_browser(server: Server, tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)  # a loaded 2-core machine is slow; results get RESULT_TIMEOUT_MS
            try:
                _use_the_app(page, server.url, tmp_path, playwright_api.Error)
            except Exception as error:
                failure = tmp_path / "failure.png"
                page.screenshot(path=str(failure), full_page=True)
                raise AssertionError(f"{error}\n(screenshot: {failure})\nserver log:\n{server.log_tail()}") from error
        finally:
            browser.close()


def _use_the_app(page, url: str, tmp_path: Path, playwright_error: type[Exception]) -> None:
    outside: list[str] = []

    def local_only(route) -> None:
        if route.request.url.startswith((url, "data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector("#speak-text textarea")
    assert page.title() == "emostudio"

    # A user error arrives as an error toast with the sentence the CLI prints. It waits in the
    # one-job-at-a-time queue behind the Emotion lab's first render, which loads the voice.
    page.click("#speak-generate")
    toast = page.get_by_test_id("toast-text").filter(has_text="The text is empty; give a sentence to speak.")
    toast.wait_for(timeout=RESULT_TIMEOUT_MS)
    with contextlib.suppress(playwright_error):  # it may have gone by itself already
        page.get_by_test_id("toast-close").first.click(timeout=5_000)

    # Speak: a sentence, 'happy' picked from the category dropdown.
    page.fill("#speak-text textarea", "What a wonderful day it is!")
    page.click("#speak-category input")
    page.get_by_role("option", name="happy", exact=True).click()
    page.wait_for_function("() => document.querySelector('#speak-resolved').innerText.includes('happy 100%')")
    page.click("#speak-generate")
    link = page.wait_for_selector("#speak-audio a[download]", timeout=RESULT_TIMEOUT_MS)
    audio_url = link.get_attribute("href")
    assert audio_url and audio_url.endswith(".wav")
    wav = page.request.get(audio_url).body()
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE" and len(wav) > 20_000
    assert 0.5 < page.evaluate(MEDIA_DURATION_JS, ["audio", audio_url]) < 10
    summary = page.inner_text("#speak-summary")
    assert "happy" in summary and "s of speech" in summary

    # Talking head: a short sentence with a typed mixture, at 256 pixels.
    page.get_by_role("tab", name="Talking head").click()
    page.fill("#talk-text textarea", "Hello there, nice to meet you.")
    page.locator("#talk-emotion-mode label", has_text="Mix").click()
    mixture = page.locator("#talk-mixture").get_by_role("textbox")
    mixture.fill("happy:0.7+surprised:0.3")
    mixture.press("Enter")
    page.wait_for_function("() => document.querySelector('#talk-resolved').innerText.includes('surprised 30%')")
    page.locator("#talk-size label", has_text="256").click()
    page.click("#talk-generate")
    video = page.wait_for_selector("#talk-video video", timeout=RESULT_TIMEOUT_MS)
    video_url = video.get_attribute("src")
    assert video_url and video_url.endswith(".mp4")
    mp4 = page.request.get(video_url).body()
    assert mp4[4:8] == b"ftyp" and len(mp4) > 10_000
    duration, width, height = page.evaluate("""async () => {
        const v = document.querySelector('#talk-video video');
        if (v.readyState < 1) await new Promise(r => v.addEventListener('loadedmetadata', r, {once: true}));
        return [v.duration, v.videoWidth, v.videoHeight];
    }""")
    assert duration > 0.5 and (width, height) == (256, 256)
    assert "frames at 25 fps" in page.inner_text("#talk-summary")
    page.wait_for_timeout(500)  # let the first frame paint before the screenshot
    page.screenshot(path=str(tmp_path / "app_screenshot.png"), full_page=True)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    if os.environ.get("EMOSTUDIO_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(tmp_path / "app_screenshot.png", SCREENSHOT)

    # Emotion lab: both plots were drawn on page load for the default.
    page.get_by_role("tab", name="Emotion lab").click()
    page.wait_for_selector("#lab-space img", timeout=RESULT_TIMEOUT_MS)
    page.wait_for_selector("#lab-pitch img", timeout=RESULT_TIMEOUT_MS)
    assert "both takes use seed 0" in page.inner_text("#lab-note")

    # Batch: a jobs file runs through the real batch runner and comes back as a table and a zip.
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"id": "hello", "task": "speak", "text": "Hello from the batch.", "emotion": "sad"}\n')
    page.get_by_role("tab", name="Batch").click()
    page.set_input_files("#batch-jobs input[type=file]", str(jobs))
    page.get_by_text("jobs.jsonl").wait_for()
    page.click("#batch-run")
    archive = page.wait_for_selector("#batch-zip a[download]", timeout=RESULT_TIMEOUT_MS)
    assert page.request.get(archive.get_attribute("href")).body()[:2] == b"PK"
    assert "1 done" in page.inner_text("#batch-summary")
    assert "hello.wav" in page.inner_text("#batch-table")

    assert outside == [], f"the page tried to reach the internet: {outside}"
    assert errors == [], f"JavaScript errors: {errors}"
