"""Pages that hold secrets are not cached, and the auth forms never carry a password in a URL."""
import re

import pytest

from support.people import https_client


def test_chat_page_is_never_stored_by_http_caches(app, make_user):
    alice = make_user("alice")
    response = alice.get("/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_auth_forms_post_and_name_no_field(client, path):
    html = client.get(path).get_data(as_text=True)
    form = re.search(r"<form[^>]*data-testid=\"auth-form\"[^>]*>(.*?)</form>", html, re.S)
    assert form, html
    assert 'method="post"' in form.group(0)
    assert " name=" not in form.group(1)  # no field can be serialised into a query string
    assert re.search(r'<button type="submit"[^>]*\bdisabled\b', form.group(1))  # until bound


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_a_scriptless_form_post_is_refused_without_echoing(app, path):
    person = https_client(app)
    response = person.post(path, data={"username": "alice", "password": "hunter2 secret"})
    assert response.status_code in (400, 405)
    assert b"hunter2" not in response.get_data()
