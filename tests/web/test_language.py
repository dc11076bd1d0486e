"""The language a person gets: the device's switch (the `sendapp_lang` cookie), else the
browser's Accept-Language, else English; pages, API refusals, Socket.IO acks, the manifest
and the browser catalogue all follow it (sendapp/i18n)."""
import re

import pytest

from sendapp.extensions import socketio
from support.people import Person, https_client, login_body, registration_body

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def page(client, path="/login", headers=None):
    response = client.get(path, headers=headers or {})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def html_lang(html):
    return re.search(r'<html lang="([^"]*)"', html).group(1)


def test_login_page_is_french_for_a_french_browser(client):
    html = page(client, headers=FRENCH)
    assert html_lang(html) == "fr"
    assert ">Se connecter</button>" in html
    assert "<title>Connexion · SendApp</title>" in html
    assert ">Log in</button>" not in html


def test_login_page_is_english_for_an_english_browser(client):
    html = page(client, headers=ENGLISH)
    assert html_lang(html) == "en"
    assert ">Log in</button>" in html
    assert "<title>Log in · SendApp</title>" in html


def test_register_page_follows_the_browser_too(client):
    assert ">Créer le compte</button>" in page(client, "/register", FRENCH)
    assert ">Create account</button>" in page(client, "/register", ENGLISH)


def test_no_accept_language_is_english(client):
    html = page(client)
    assert html_lang(html) == "en" and ">Log in</button>" in html


@pytest.mark.parametrize("cookie, headers, language", [
    ("en", FRENCH, "en"),  # the device's choice wins over the browser's
    ("fr", ENGLISH, "fr"),
    ("de", FRENCH, "fr"),  # an unknown choice is ignored: the browser decides
    ("de", ENGLISH, "en"),
    ("", FRENCH, "fr"),
])
def test_the_switch_cookie_overrides_accept_language(client, cookie, headers, language):
    client.set_cookie("sendapp_lang", cookie)
    html = page(client, headers=headers)
    assert html_lang(html) == language
    assert (">Se connecter</button>" in html) == (language == "fr")


def test_the_switch_shows_the_device_choice(client):
    html = page(client, headers=FRENCH)
    assert "data-language-switch" in html
    assert re.search(r'<option value=""\s+selected>Automatique \(langue du navigateur\)</option>',
                     html)
    assert '<option value="en" lang="en">English</option>' in html  # names stay in their language
    assert '<option value="fr" lang="fr">Français</option>' in html
    client.set_cookie("sendapp_lang", "fr")
    assert '<option value="fr" lang="fr" selected>Français</option>' in page(client)


def test_the_pages_link_the_translated_manifest(client):
    assert 'rel="manifest" href="/manifest.webmanifest"' in page(client)


def test_the_chat_page_and_account_dialog_follow_the_language(make_user):
    alice = make_user("alice")
    html = page(alice.client, "/", FRENCH)
    assert html_lang(html) == "fr"
    assert 'data-testid="logout-button" data-icon="logout" aria-label="Se déconnecter"' in html
    assert 'id="account-language"' in html and "data-language-switch" in html
    assert ">Supprimer mon compte</button>" in html


def fresh(app, headers):
    """An anonymous person whose browser speaks `headers`' language."""
    client = https_client(app)
    client.environ_base.update({"HTTP_" + k.upper().replace("-", "_"): v
                                for k, v in headers.items()})
    person = Person(username="", client=client)
    person.refresh_csrf()
    return person


def test_a_wrong_login_is_refused_in_french_with_the_same_code(app, make_user):
    make_user("alice")
    french = fresh(app, FRENCH).post("/api/login", json=login_body("alice", "wrong password!"))
    english = fresh(app, ENGLISH).post("/api/login", json=login_body("alice", "wrong password!"))
    assert french.status_code == english.status_code == 401
    assert french.get_json() == {"error": "unauthorized",
                                 "message": "nom d’utilisateur ou mot de passe incorrect"}
    assert english.get_json() == {"error": "unauthorized", "message": "wrong username or password"}


def test_a_taken_username_is_refused_in_french(app, make_user):
    make_user("alice")
    body, _, _ = registration_body("alice")
    answer = fresh(app, FRENCH).post("/api/register", json=body)
    assert answer.status_code == 409
    assert answer.get_json() == {"error": "conflict", "message": "ce nom d’utilisateur est déjà pris"}


def test_a_validation_message_keeps_its_field_name_and_numbers(app):
    person = fresh(app, FRENCH)
    person.client.set_cookie("sendapp_lang", "fr")
    answer = person.post("/api/register", json={"username": "x"})
    assert answer.status_code == 400 and answer.get_json()["error"] == "bad_request"
    assert answer.get_json()["message"].startswith("le nom d’utilisateur doit compter de 3 à 32")


def test_a_csrf_refusal_in_french_still_names_csrf(app):
    """The clients recognise a stale token by the word CSRF (static/js/api.js)."""
    answer = https_client(app).post("/api/logout", headers=FRENCH)
    assert answer.status_code == 403 and answer.get_json()["error"] == "forbidden"
    assert answer.get_json()["message"].startswith("CSRF\u00a0: la vérification a échoué.")


def test_a_socket_ack_is_in_the_language_of_the_socket(app, pair):
    alice, _ = pair
    french = socketio.test_client(app, flask_test_client=alice.client, headers=FRENCH)
    english = socketio.test_client(app, flask_test_client=alice.client, headers=ENGLISH)
    try:
        assert french.emit("sync", {}, callback=True) == {
            "ok": False, "error": "bad_request", "message": "after est absent"}
        assert english.emit("sync", {}, callback=True) == {
            "ok": False, "error": "bad_request", "message": "after is missing"}
    finally:
        french.disconnect()
        english.disconnect()


def test_the_french_catalogue_is_json_with_an_etag(client):
    answer = client.get("/i18n/fr.json")
    assert answer.status_code == 200 and answer.is_json
    assert answer.get_json()["language"] == "fr"
    etag = answer.headers["ETag"]
    assert etag
    again = client.get("/i18n/fr.json", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_an_unknown_catalogue_is_not_found(client):
    assert client.get("/i18n/de.json").status_code == 404


def test_the_manifest_is_french_for_a_french_browser(client):
    french = client.get("/manifest.webmanifest", headers=FRENCH)
    assert french.status_code == 200 and french.mimetype == "application/manifest+json"
    fields = french.get_json(force=True)
    assert fields["lang"] == "fr"
    assert fields["description"] == "Messagerie chiffrée de bout en bout sur votre propre serveur."
    english = client.get("/manifest.webmanifest", headers=ENGLISH).get_json(force=True)
    assert english["lang"] == "en"
    assert english["description"] == "End-to-end encrypted chat on your own server."


def test_every_server_sentence_has_a_french_translation():
    """`flask translations` was run and every sentence translated: none missing, empty or fuzzy,
    and each keeps the placeholders of its English source."""
    from sendapp.i18n.catalogues import read_catalogue
    from sendapp.i18n.sources import extract

    catalogue = read_catalogue("fr", "messages")
    assert not catalogue.fuzzy
    for source in extract("messages"):
        if not source.id:
            continue
        found = catalogue.get(source.id)
        assert found is not None, f"not in messages.po: {source.id!r}"
        strings = found.string if source.pluralizable else [found.string]
        assert all(strings) and not found.fuzzy, f"untranslated: {source.id!r}"
        english = source.id if source.pluralizable else [source.id]
        wanted = set(re.findall(r"%\(\w+\)[sd]", english[-1]))
        for string in strings:
            assert set(re.findall(r"%\(\w+\)[sd]", string)) == wanted, string


def test_pages_vary_by_language(client):
    vary = client.get("/login", headers=FRENCH).headers["Vary"]
    assert "Accept-Language" in vary and "Cookie" in vary


def test_my_devices_are_named_in_the_reader_language(app, make_user):
    """The summary is stored in English once and read by each device in its own language."""
    alice = make_user("alice")
    alice.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    phone = fresh(app, ENGLISH)
    phone.client.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0")
    assert phone.post("/api/login", json=login_body("alice")).status_code == 200
    seen_in_french = {s["device"] for s in alice.get("/api/me/sessions").get_json()["sessions"]}
    assert "Firefox sur Android" in seen_in_french
    alice.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    seen_in_english = {s["device"] for s in alice.get("/api/me/sessions").get_json()["sessions"]}
    assert "Firefox on Android" in seen_in_english


def test_a_missing_page_says_so_in_the_readers_language(client):
    for headers, lang, title in ((FRENCH, "fr", "Page introuvable"), (ENGLISH, "en", "Page not found")):
        response = client.get("/no/such/page", headers=headers)
        assert response.status_code == 404 and response.mimetype == "text/html"
        html = response.get_data(as_text=True)
        assert html_lang(html) == lang
        assert f'data-testid="error-title">{title}</h2>' in html
        assert "Traceback" not in html and "Werkzeug" not in html
    assert client.get("/api/no/such/route", headers=FRENCH).get_json()["error"] == "not_found"  # the API stays JSON
