#!/usr/bin/env python3
"""Loads a page in headless Chromium, once per run, and prints the numbers
the status page writes into <html> (data-content-ms, data-painted-ms: ms
from navigation start by performance.now(), in real time) as JSON lines.

    scripts/lib/page_timing.py URL RUNS

Chromium is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: fd 3 in, fd 4 out, NUL-terminated JSON), so no
port is opened and no virtual time distorts the clock. A fresh profile per
run. Used by scripts/bench-status-page.sh.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"


class Browser:
    def __init__(self, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():
            # Via fresh numbers: a pipe end may already be 3 or 4, and
            # dup2 onto itself would keep its close-on-exec flag.
            read_end, write_end = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "--window-size=1920,1080",
             "about:blank"],
            # close_fds would close 3 and 4 after fds() made them.
            preexec_fn=fds, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=None if os.environ.get("PAGE_TIMING_DEBUG") else subprocess.DEVNULL,
            env={**os.environ, "HOME": profile})
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer = b""
        self.next_id = 0

    def call(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def close(self):
        try:
            self.call("Browser.close")
        except RuntimeError:
            pass
        self.proc.wait(timeout=10)


def measure(url, timeout_s=20.0):
    with tempfile.TemporaryDirectory(prefix="page-timing-") as profile:
        browser = Browser(profile)
        try:
            target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.call("Target.attachToTarget",
                                   {"targetId": target, "flatten": True})["sessionId"]
            browser.call("Page.navigate", {"url": url}, session)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                result = browser.call("Runtime.evaluate", {
                    "expression": "JSON.stringify(Object.assign({}, document.documentElement.dataset))",
                    "returnByValue": True}, session)["result"]
                marks = json.loads(result.get("value") or "{}")
                if "paintedMs" in marks:
                    return {k: int(v) for k, v in marks.items() if k.endswith("Ms")}
                time.sleep(0.05)
            raise RuntimeError(f"{url}: no data-painted-ms within {timeout_s} s")
        finally:
            browser.close()


if __name__ == "__main__":
    url, runs = sys.argv[1], int(sys.argv[2])
    for _ in range(runs):
        print(json.dumps(measure(url)), flush=True)
