"""Fixtures for tests/live: the real `python app.py` process, stopped by pid afterwards."""
import pytest

from support.live_server import LiveServer


@pytest.fixture
def start_live_server(tmp_path):
    """Start servers with extra SENDAPP_* settings; every one is stopped after the test."""
    servers = []

    def start(env=None):
        server = LiveServer(tmp_path / f"server{len(servers)}", env=env)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(start_live_server):
    """A running server with the default test settings."""
    return start_live_server()
