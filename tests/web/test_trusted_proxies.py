"""SENDAPP_TRUSTED_PROXIES: forwarded headers count only from a trusted peer (sendapp/proxies.py).

Requests come from an `environ_base` REMOTE_ADDR (the TCP peer as eventlet reports it);
what the app then believes is read from a probe view, the per-IP rate limit (Flask-Limiter's
key), the Origin check (security.py) and Engine.IO's own Origin check.
"""
import pytest
from flask import jsonify, request
from flask_limiter.util import get_remote_address

from sendapp.config import Config
from sendapp.proxies import TrustedNetworks
from support.people import Person, https_client

PROXY = "10.0.0.5"
STRANGER = "192.0.2.7"
PUBLIC = "chat.example.org"
FORWARDED_TO_PUBLIC = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": PUBLIC}


def probe(app):
    """Add a view answering what the app believes about the request (before any request)."""

    @app.get("/_test/whoami")
    def whoami():
        return jsonify(remote_addr=request.remote_addr, limiter_key=get_remote_address(),
                       scheme=request.scheme, host=request.host,
                       forwarded=[name for name in request.headers
                                  if name[0].lower().startswith("x-forwarded")])

    return app


def client_from(app, peer):
    client = https_client(app)
    client.environ_base["REMOTE_ADDR"] = peer
    return client


def whoami(app, peer, headers, base_url="https://10.0.0.1:8443"):
    response = client_from(app, peer).get("/_test/whoami", headers=headers, base_url=base_url)
    assert response.status_code == 200
    return response.get_json()


# --- the setting ------------------------------------------------------------------------------
def test_setting_reads_addresses_and_networks():
    networks = Config({"SENDAPP_TRUSTED_PROXIES": " 127.0.0.1, 10.0.0.0/8 ,::1,",
                       "SENDAPP_SECRET_KEY": "x"}).TRUSTED_PROXIES
    assert "127.0.0.1" in networks and "10.200.3.4" in networks and "::1" in networks
    assert "::ffff:10.0.0.9" in networks  # an IPv4 peer on a dual-stack socket
    assert "11.0.0.1" not in networks and "127.0.0.2" not in networks
    assert "not-an-address" not in networks


def test_setting_defaults_to_no_proxy():
    networks = Config({"SENDAPP_SECRET_KEY": "x"}).TRUSTED_PROXIES
    assert not networks and "127.0.0.1" not in networks


@pytest.mark.parametrize("value", ["localhost", "10.0.0.300", "10.0.0.5/8", "10.0.0.0/33"])
def test_setting_refuses_what_is_not_an_address_or_network(value):
    with pytest.raises(ValueError, match="SENDAPP_TRUSTED_PROXIES"):
        TrustedNetworks.parse(value)


@pytest.mark.parametrize("trusted, forwarded_for, client", [
    ("10.0.0.5", None, PROXY),  # no header: the proxy itself
    ("10.0.0.5", "203.0.113.9", "203.0.113.9"),
    ("10.0.0.5", "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # left of the client: its claim
    ("10.0.0.0/8", "203.0.113.9, 10.0.0.7", "203.0.113.9"),  # a second trusted hop is skipped
    ("10.0.0.0/8", "10.0.0.8, 10.0.0.7", "10.0.0.8"),  # all trusted: the leftmost
    ("10.0.0.5", "203.0.113.9, garbage", PROXY),  # nonsense from the proxy: stop at the proxy
    ("10.0.0.0/8", "203.0.113.9, garbage, 10.0.0.7", "10.0.0.7"),
    ("10.0.0.5", "2001:db8::1", "2001:db8::1"),
    ("10.0.0.5", "::ffff:203.0.113.9", "203.0.113.9"),
])
def test_client_is_the_first_untrusted_address_from_the_right(trusted, forwarded_for, client):
    assert TrustedNetworks.parse(trusted).client_of(PROXY, forwarded_for) == client


# --- what the app believes ----------------------------------------------------------------------
FORGED = {"X-Forwarded-For": "203.0.113.9", **FORWARDED_TO_PUBLIC}


@pytest.mark.parametrize("trusted", [None, "10.0.0.5,127.0.0.1"], ids=["no-proxies", "other"])
def test_untrusted_peer_cannot_change_its_apparent_address_scheme_or_host(make_app, trusted):
    overrides = {} if trusted is None else {"TRUSTED_PROXIES": TrustedNetworks.parse(trusted)}
    seen = whoami(probe(make_app(**overrides)), STRANGER, FORGED)
    assert seen["remote_addr"] == seen["limiter_key"] == STRANGER
    assert (seen["scheme"], seen["host"]) == ("https", "10.0.0.1:8443")
    assert seen["forwarded"] == []  # removed, so no layer inside (Engine.IO) reads them


def test_trusted_peer_forwards_client_address_scheme_and_host(make_app):
    app = probe(make_app(TRUSTED_PROXIES=TrustedNetworks.parse(PROXY)))
    seen = whoami(app, PROXY, {"X-Forwarded-For": "198.51.100.1, 203.0.113.9",
                               "X-Forwarded-Proto": "https", "X-Forwarded-Host": PUBLIC},
                  base_url="http://10.0.0.1:8443")
    assert seen["remote_addr"] == seen["limiter_key"] == "203.0.113.9"
    assert (seen["scheme"], seen["host"]) == ("https", PUBLIC)
    assert seen["forwarded"] == []


def test_trusted_peer_uses_the_value_its_proxy_appended(make_app):
    app = probe(make_app(TRUSTED_PROXIES=TrustedNetworks.parse(PROXY)))
    seen = whoami(app, PROXY, {"X-Forwarded-Proto": "http, https",
                               "X-Forwarded-Host": "evil.example, " + PUBLIC})
    assert (seen["scheme"], seen["host"]) == ("https", PUBLIC)


def test_trusted_peer_without_headers_is_itself(make_app):
    app = probe(make_app(TRUSTED_PROXIES=TrustedNetworks.parse(PROXY)))
    seen = whoami(app, PROXY, {})
    assert (seen["remote_addr"], seen["host"]) == (PROXY, "10.0.0.1:8443")


# --- rate limits key on the forwarded client only from a trusted proxy ----------------------------
def prelogin_codes(app, peer, forwarded_fors):
    codes = []
    for number, forwarded_for in enumerate(forwarded_fors):
        client = client_from(app, peer)
        response = client.get(f"/api/prelogin?username=user{number}",  # own per-name bucket
                              headers={"X-Forwarded-For": forwarded_for})
        codes.append(response.status_code)
    return codes


def test_per_ip_limit_counts_each_forwarded_client_behind_a_trusted_proxy(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PRELOGIN="2/minute",
                   TRUSTED_PROXIES=TrustedNetworks.parse(PROXY))
    assert prelogin_codes(app, PROXY, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [200] * 3
    assert prelogin_codes(app, PROXY, ["203.0.113.4"] * 3) == [200, 200, 429]


def test_per_ip_limit_ignores_forwarded_for_from_an_untrusted_peer(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PRELOGIN="2/minute",
                   TRUSTED_PROXIES=TrustedNetworks.parse(PROXY))
    codes = prelogin_codes(app, STRANGER, ["203.0.113.1", "203.0.113.2", "203.0.113.3"])
    assert codes == [200, 200, 429]


# --- the Origin checks see the public origin -----------------------------------------------------
def login_from(app, peer, headers):
    person = Person(username="", client=client_from(app, peer))
    internal = "https://10.0.0.1:8443"  # what the proxy connects to, as the Host header
    person.csrf = person.client.get("/api/csrf", base_url=internal).get_json()["csrf_token"]
    return person.client.post("/api/login", json={"username": "nobody", "auth": "A" * 43},
                              base_url=internal, headers={**person.headers(), **headers})


def test_origin_check_passes_with_forwarded_public_origin(make_app):
    app = make_app(TRUSTED_PROXIES=TrustedNetworks.parse(PROXY))
    response = login_from(app, PROXY, {"Origin": f"https://{PUBLIC}", **FORWARDED_TO_PUBLIC})
    assert response.status_code == 401  # past the Origin check: the login itself is refused
    assert response.get_json()["error"] != "cross_origin"


def test_origin_check_refuses_forwarded_origin_from_an_untrusted_peer(make_app):
    app = make_app(TRUSTED_PROXIES=TrustedNetworks.parse(PROXY))
    response = login_from(app, STRANGER, {"Origin": f"https://{PUBLIC}", **FORWARDED_TO_PUBLIC})
    assert response.status_code == 403 and response.get_json()["error"] == "cross_origin"


def engineio_handshake(app, peer, headers):
    return client_from(app, peer).get("/socket.io/?EIO=4&transport=polling",
                                      base_url="https://10.0.0.1:8443", headers=headers)


def test_engineio_accepts_the_public_origin_through_a_trusted_proxy(make_app):
    app = make_app(TRUSTED_PROXIES=TrustedNetworks.parse(PROXY))
    response = engineio_handshake(app, PROXY, {"Origin": f"https://{PUBLIC}",
                                               **FORWARDED_TO_PUBLIC})
    assert response.status_code == 200 and response.get_data(as_text=True).startswith("0{")
    assert response.headers["Access-Control-Allow-Origin"] == f"https://{PUBLIC}"


def test_engineio_ignores_forwarded_host_from_an_untrusted_peer(make_app):
    """Engine.IO itself would accept an Origin matching X-Forwarded-Host from anyone."""
    app = make_app(TRUSTED_PROXIES=TrustedNetworks.parse(PROXY))
    evil = {"Origin": "https://evil.example", "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "evil.example"}
    assert engineio_handshake(app, STRANGER, evil).status_code == 400
    own = engineio_handshake(app, STRANGER, {"Origin": "https://10.0.0.1:8443"})
    assert own.status_code == 200  # the control: a same-origin handshake passes


def test_an_override_written_as_text_is_read_as_networks(make_app):
    """"10.0.0.1" must not match as a substring of "10.0.0.10"."""
    app = probe(make_app(TRUSTED_PROXIES="10.0.0.10"))
    assert isinstance(app.config["TRUSTED_PROXIES"], TrustedNetworks)
    assert whoami(app, "10.0.0.1", {"X-Forwarded-For": "203.0.113.9"})["remote_addr"] == "10.0.0.1"
