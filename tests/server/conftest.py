"""Fixtures of the `tern serve` tests: one shared server (4 slots of 1024 positions, 2
threads) and OpenAI clients for it. Run by CTest (tests/CMakeLists.txt) with TERN_CLI set;
missing Python packages fail the run, a missing model skips it like the C++ tests do."""

import pytest

from tern_server import MODEL, TernServer, have_model, make_client, stopped_cleanly


@pytest.fixture(scope="session", autouse=True)
def model_present():
    if not have_model():
        pytest.skip(f"{MODEL} absent (scripts/pull {MODEL})")


@pytest.fixture(scope="session")
def server():
    s = TernServer("-np", "4", "-c", "1024", "-t", "2")
    yield s
    stopped_cleanly(s)


@pytest.fixture(scope="session")
def client(server):
    # Closed before the server stops, which otherwise waits out the idle keep-alive
    # connections (httplib: 5 s).
    with make_client(server.url) as c:
        yield c


@pytest.fixture(autouse=True)
def server_survives(request):
    """Fails the very test after which the shared server is gone."""
    yield
    if "server" in request.fixturenames:
        s = request.getfixturevalue("server")
        assert s.alive(), "tern serve died:\n" + "".join(s.stderr)
