"""Hostile input gets a clean refusal and one log line: huge ids, deep JSON, foreign origins."""

import pytest

from support.logs import no_tracebacks

HUGE = "99999999999999999999999"
ENORMOUS = "9" * 5000  # more digits than Python parses by default


@pytest.mark.parametrize("number", [HUGE, ENORMOUS, str(2**31), str(2**63)])
@pytest.mark.parametrize("method,path", [
    ("post", "/api/friends/{}/accept"),
    ("delete", "/api/friends/{}"),
    ("get", "/api/users/{}/keys"),
    ("get", "/api/conversations/{}/messages"),
])
def test_huge_ids_in_urls_are_404(pair, caplog, method, path, number):
    alice, _bob = pair
    response = getattr(alice, method)(path.format(number))
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    no_tracebacks(caplog)


@pytest.mark.parametrize("query", [f"before={HUGE}", f"limit={HUGE}", f"before={ENORMOUS}",
                                   f"limit={ENORMOUS}", "before=１２"])
def test_huge_history_parameters_are_400(pair, caplog, query):
    alice, bob = pair
    response = alice.get(f"/api/conversations/{bob.id}/messages?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    no_tracebacks(caplog)


@pytest.mark.parametrize("to", [HUGE, ENORMOUS, str(2**63)])
def test_huge_blob_recipient_is_400(pair, caplog, to):
    alice, _bob = pair
    response = alice.post(f"/api/blobs?to={to}", data=b"x",
                          content_type="application/octet-stream")
    assert response.status_code == 400
    no_tracebacks(caplog)


def test_existing_ids_still_route(pair):
    alice, bob = pair
    assert alice.get(f"/api/users/{bob.id}/keys").status_code == 200
    assert alice.get(f"/api/conversations/{bob.id}/messages?before=5&limit=3").status_code == 200


@pytest.mark.parametrize("path", ["/api/login", "/api/register", "/api/friends"])
def test_deeply_nested_json_is_400(pair, caplog, path):
    alice, _bob = pair
    body = "[" * 100_000 + "]" * 100_000
    response = alice.client.post(path, data=body, content_type="application/json",
                                 headers=alice.headers())
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    no_tracebacks(caplog)


# --- Origin (issue 7 §5) ----------------------------------------------------------------------
OWN = "https://localhost"  # the scheme://host the test requests are made to
@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost",
                                    "https://localhost:8443", "https://localhost.evil.example"])
def test_state_changing_request_from_a_foreign_origin_is_refused(pair, caplog, origin):
    alice, bob = pair
    response = alice.client.delete(f"/api/friends/{bob.id}", base_url=OWN,
                                   headers={**alice.headers(), "Origin": origin})
    assert response.status_code == 403
    assert response.get_json()["error"] == "cross_origin"
    assert alice.get("/api/friends").get_json()["friends"]  # nothing changed
    no_tracebacks(caplog)


@pytest.mark.parametrize("origin", [None, "https://localhost", "https://LOCALHOST:443"])
def test_same_origin_and_absent_origin_pass(pair, origin):
    alice, bob = pair
    headers = alice.headers() if origin is None else {**alice.headers(), "Origin": origin}
    response = alice.client.delete(f"/api/friends/{bob.id}", base_url=OWN, headers=headers)
    assert response.status_code == 204


def test_foreign_origin_may_still_read(pair):
    alice, _bob = pair
    response = alice.client.get("/api/me", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200


def test_foreign_origin_login_is_refused_before_any_work(app, make_user):
    from support.people import Person, https_client, login_body

    make_user("alice")
    person = Person(username="", client=https_client(app))
    person.refresh_csrf()
    response = person.client.post("/api/login", json=login_body("alice"),
                                  headers={**person.headers(), "Origin": "https://evil.example"})
    assert response.status_code == 403 and response.get_json()["error"] == "cross_origin"
