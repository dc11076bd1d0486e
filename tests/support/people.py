"""A test person: an account made as the browser would (real KDF, keys and vault)."""
from dataclasses import dataclass, field

from sendapp import crypto
from sendapp.encoding import b64url_encode

PASSWORD = "correct horse battery staple"
ITERATIONS = 1000


@dataclass
class Person:
    """Flask test client bound to one logged-in account, with its private key."""

    username: str
    client: object
    id: int = 0
    private_key: bytes = b""
    public_key: bytes = b""
    key_id: str = ""
    csrf: str = ""
    peers: dict = field(default_factory=dict)

    def headers(self):
        return {"X-CSRFToken": self.csrf}

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, json=None, **kw):
        return self.client.post(url, json=json, headers=self.headers(), **kw)

    def put(self, url, json=None, **kw):
        return self.client.put(url, json=json, headers=self.headers(), **kw)

    def delete(self, url, **kw):
        return self.client.delete(url, headers=self.headers(), **kw)

    def refresh_csrf(self):
        self.csrf = self.client.get("/api/csrf").get_json()["csrf_token"]
        return self.csrf


def registration_body(username, password=PASSWORD, iterations=ITERATIONS, identity=None):
    """The JSON a browser sends to POST /api/register (PROTOCOL §3)."""
    secrets = crypto.derive_account_secrets(username, password, iterations)
    private, public = identity or crypto.generate_identity()
    vault = crypto.encrypt_vault(secrets.vault_key, username,
                                 [crypto.vault_entry(private, public, 1)])
    body = {"username": username, "auth": secrets.auth, "iterations": iterations,
            "vault": vault, "public_key": b64url_encode(public)}
    return body, private, public


def register(client, username, password=PASSWORD):
    """Register through the API and return the logged-in Person."""
    person = Person(username=username, client=client)
    person.refresh_csrf()
    body, private, public = registration_body(username, password)
    response = person.post("/api/register", json=body)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    person.id = data["user"]["id"]
    person.csrf = data["csrf_token"]
    person.private_key, person.public_key = private, public
    person.key_id = crypto.key_id(public)
    return person


def login_body(username, password=PASSWORD, iterations=ITERATIONS):
    return {"username": username,
            "auth": crypto.derive_account_secrets(username, password, iterations).auth}


def https_client(app):
    """A Flask test client that speaks as if over HTTPS (the session cookie is Secure)."""
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    return client
