"""Starts and stops `tern serve` for the server tests (and finds the CLI and the model)."""

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai

MODEL = "smollm2-135m"


def tern_cli() -> str:
    path = os.environ.get("TERN_CLI", "")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("set TERN_CLI to the built tern (CTest does)")
    return path


def have_model(name: str = MODEL) -> bool:
    base = os.environ.get("TERN_MODELS") or str(Path.home() / ".cache/tern/models")
    return (Path(base) / f"{name}.gguf").exists()


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 60):
    """(status, headers, body bytes) of one request; HTTP errors are answers, not raises."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def metric(base_url: str, name: str) -> float:
    _, _, text = http("GET", base_url + "/metrics")
    m = re.search(rf"^tern_{name} (\S+)$", text.decode(), re.M)
    assert m, f"no tern_{name} in /metrics"
    return float(m.group(1))


class TernServer:
    """`tern serve -m MODEL --port 0 ARGS` on loopback; `url` once it is listening and healthy."""

    def __init__(self, *args: str, start_timeout: float = 60, model: str = MODEL):
        self.proc = subprocess.Popen(
            [tern_cli(), "serve", "-m", model, "--host", "127.0.0.1", "--port", "0", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        self.stderr: list[str] = []
        self._listening = threading.Event()
        self.port = 0
        # Drains stderr for the whole run so the server never blocks on a full pipe.
        threading.Thread(target=self._read_stderr, daemon=True).start()
        try:
            self._wait_ready(start_timeout)
        except BaseException:
            self.kill()
            raise
        self.url = f"http://127.0.0.1:{self.port}"

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line)
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self._listening.set()
        self._listening.set()  # exited before listening: _wait_ready reports it

    def _wait_ready(self, timeout: float):
        deadline = time.monotonic() + timeout
        if not self._listening.wait(timeout) or not self.port:
            raise RuntimeError("tern serve did not listen:\n" + "".join(self.stderr))
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("tern serve exited:\n" + "".join(self.stderr))
            try:
                status, _, body = http("GET", f"http://127.0.0.1:{self.port}/health", timeout=5)
                if status == 200 and json.loads(body)["status"] == "ok":
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("tern serve not healthy in time:\n" + "".join(self.stderr))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then the exit status (it drains running requests first)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


def stopped_cleanly(server: TernServer):
    status = server.stop()
    assert status == 0, "tern serve exited with %d:\n%s" % (status, "".join(server.stderr))


def make_client(url: str, api_key: str = "unused") -> openai.OpenAI:
    # No retries: a 5xx or a timeout must fail the test, not be papered over.
    return openai.OpenAI(base_url=url + "/v1", api_key=api_key, max_retries=0, timeout=60)
