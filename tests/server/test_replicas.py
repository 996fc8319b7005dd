"""docs/nginx-tern.conf on loopback: nginx (scripts/setup installs nginx-light) in front of
two `tern serve` replicas answers through both, and through the one left when the other
stops."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tern_server import MODEL, TernServer, make_client, stopped_cleanly

CONF = Path(__file__).resolve().parents[2] / "docs/nginx-tern.conf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_config(tmp: Path, port: int, replicas: list[TernServer]) -> Path:
    site = CONF.read_text()
    for example, r in zip(("127.0.0.1:8081", "127.0.0.1:8082"), replicas):
        assert example in site
        site = site.replace(example, f"127.0.0.1:{r.port}")
    site = site.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    (tmp / "tern.conf").write_text(site)
    # A whole nginx.conf around it, every path in `tmp`.
    temps = "\n".join(f"  {kind}_temp_path {tmp}/{kind};"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = tmp / "nginx.conf"
    conf.write_text(f"""daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
  log_format upstream '$upstream_addr $status';
  access_log {tmp}/access.log upstream;
{temps}
  include {tmp}/tern.conf;
}}
""")
    return conf


def access_log(tmp: Path, lines: int) -> str:
    """The access log once it has `lines` lines (nginx writes one after the client had all)."""
    deadline = time.monotonic() + 5
    while (log := (tmp / "access.log").read_text()).count("\n") < lines:
        assert time.monotonic() < deadline, log
        time.sleep(0.05)
    return log


class Nginx:
    def __init__(self, conf: Path, port: int):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.access(nginx, os.X_OK):
            pytest.fail("nginx missing: scripts/setup installs nginx-light")
        tmp = conf.parent
        self.proc = subprocess.Popen([nginx, "-p", str(tmp), "-e", str(tmp / "error.log"),
                                      "-c", str(conf)], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, (tmp / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)  # graceful: finishes open requests
        assert self.proc.wait(10) == 0


@pytest.fixture
def replicas():
    started: list[TernServer] = []
    try:
        for _ in range(2):
            started.append(TernServer("-np", "1", "-c", "512", "-t", "1"))
        yield started
    finally:
        for r in started:  # after a failure; the test stops them itself
            r.kill()


def test_nginx_spreads_requests_over_replicas_and_skips_a_stopped_one(replicas):
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        tmp.chmod(0o755)  # nginx workers drop root and write their temp files here
        port = free_port()
        nginx = Nginx(nginx_config(tmp, port, replicas), port)
        try:
            client = make_client(f"http://127.0.0.1:{port}")

            def ask(stream: bool) -> None:
                r = client.completions.create(model=MODEL, prompt="The capital of Japan is",
                                              max_tokens=4, temperature=0, stream=stream)
                text = "".join(c.choices[0].text for c in r) if stream else r.choices[0].text
                assert text

            for i in range(6):
                ask(stream=i % 2 == 1)
            log = access_log(tmp, 6)
            for r in replicas:
                assert f"127.0.0.1:{r.port} 200" in log, log

            stopped_cleanly(replicas[0])
            for i in range(4):
                ask(stream=i % 2 == 1)
            # Each answered by the replica left (after a refused try of the stopped one).
            after = access_log(tmp, 10)[len(log):].splitlines()
            assert all(line.endswith(f"127.0.0.1:{replicas[1].port} 200") for line in after), after
        finally:
            nginx.stop()
        stopped_cleanly(replicas[1])
