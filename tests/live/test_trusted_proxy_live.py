"""The real server's access log names the forwarded client only for a trusted proxy.

A raw HTTPS request from 127.0.0.1 carries `X-Forwarded-For`, as a reverse proxy on the
same machine would send it. With 127.0.0.1 in SENDAPP_TRUSTED_PROXIES the log shows the
forwarded address; trusting another address, the log shows the TCP peer and the claimed
address appears nowhere (eventlet alone would have logged it).
"""
import time

import pytest

FORWARDED = "203.0.113.9"
LOG_BOUND = 5.0  # seconds for the access line to reach the log


def access_line(server, path):
    deadline = time.monotonic() + LOG_BOUND
    while time.monotonic() < deadline:
        for line in server.log_text().splitlines():
            if "sendapp.access: " in line and f'"GET {path} ' in line:
                return line.split("sendapp.access: ", 1)[1]
        time.sleep(0.05)
    pytest.fail(f"no access log line for {path}:\n{server.log_text()}")


@pytest.mark.parametrize("trusted, shown", [("127.0.0.1", FORWARDED), ("10.0.0.5", "127.0.0.1")],
                         ids=["trusted", "untrusted"])
def test_access_log_names_the_forwarded_client_only_from_a_trusted_proxy(
        start_live_server, trusted, shown):
    server = start_live_server({"SENDAPP_TRUSTED_PROXIES": trusted})
    response = server.http_session().get(server.url + "/api/prelogin?username=alice", timeout=10,
                                         headers={"X-Forwarded-For": f"198.51.100.1, {FORWARDED}"})
    assert response.ok
    assert access_line(server, "/api/prelogin").startswith(f'{shown} "GET /api/prelogin ')
    if shown != FORWARDED:
        assert FORWARDED not in server.log_text()
