"""Headless Chromium (Debian's, through selenium + chromedriver) as the judge of playable outputs.

The outputs are served from a local HTTP server that honours Range requests (``python -m http.server``
does not, and seeks would silently land at 0). A page plays one URL muted in a ``<video>``; the check
passes only with no media error, a known duration, ``videoWidth > 0``, a decoded non-black frame drawn
to a canvas, and the ``ended`` event — an undecodable codec can "load" and "end" with a 0x0 picture.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

from selenium import webdriver

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
)
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")

PLAY_SCRIPT = """
const [url, done] = [arguments[0], arguments[arguments.length - 1]];
const v = document.createElement('video');
v.muted = true; v.playbackRate = 4; document.body.appendChild(v);
const report = {error: null, duration: null, width: 0, height: 0, lit: 0, ended: false};
const finish = () => done(report);
v.onerror = () => { report.error = v.error ? v.error.code + ' ' + v.error.message : 'error'; finish(); };
v.onloadedmetadata = () => { report.duration = v.duration; report.width = v.videoWidth; report.height = v.videoHeight; };
v.ontimeupdate = () => {
  if (!v.videoWidth || v.currentTime < 0.2 || report.lit) return;
  const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0);
  const px = g.getImageData(0, 0, c.width, c.height).data;
  let sum = 0; for (let i = 0; i < px.length; i += 4) sum += px[i] + px[i + 1] + px[i + 2];
  report.lit = sum / (px.length / 4) / 3;
};
v.onended = () => { report.ended = true; finish(); };
setTimeout(finish, 30000);
v.src = url; v.play().catch(e => { report.error = String(e); finish(); });
"""


class _RangeHandler(SimpleHTTPRequestHandler):
    """Static files with single-range ``Range`` support (206 / 416), quiet logs."""

    def send_head(self) -> Any:
        match = _RANGE.match(self.headers.get("Range", ""))
        path = self.translate_path(self.path)
        if not match or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start_text, end_text = match.groups()
        start = int(start_text) if start_text else max(0, size - int(end_text or 0))
        end = min(int(end_text), size - 1) if start_text and end_text else size - 1
        if start >= size or start > end:
            self.send_error(416)
            return None
        fh = open(path, "rb")
        fh.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self._remaining = end - start + 1
        return fh

    def copyfile(self, source: Any, outputfile: Any) -> None:
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        while remaining > 0:
            chunk = source.read(min(65536, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)

    def log_message(self, *args: Any) -> None:
        pass


_RangeHandler.extensions_map = {
    **SimpleHTTPRequestHandler.extensions_map,
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".vtt": "text/vtt",
}


@contextmanager
def serve(directory: str) -> Iterator[str]:
    """Serve ``directory`` on a free localhost port; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_RangeHandler, directory=directory))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium(profile_dir: str) -> Iterator[webdriver.Chrome]:
    """Debian's headless Chromium driven by its chromedriver."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
    driver.set_script_timeout(40)
    try:
        yield driver
    finally:
        driver.quit()


def play(driver: webdriver.Chrome, base_url: str, name: str) -> dict[str, Any]:
    """Play ``name`` (relative to ``base_url``) on a blank page of the same origin; return the report."""
    driver.get(base_url + "blank.html")
    return driver.execute_async_script(PLAY_SCRIPT, base_url + name)


def playable(report: dict[str, Any], duration: float) -> bool:
    """The acceptance rule: no error, the expected duration (±0.1 s), a picture, a lit frame, and the end."""
    return (
        report.get("error") is None
        and report.get("duration") is not None
        and abs(float(report["duration"]) - duration) <= 0.1
        and report.get("width", 0) > 0
        and report.get("lit", 0) > 16
        and bool(report.get("ended"))
    )
