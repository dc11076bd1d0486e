"""HTTP side of the Python client: one `requests` session per account (PROTOCOL §7).

It keeps the session cookie, carries the CSRF token on every state-changing
request, and turns every `{error, message}` answer into `ApiFailure`. No
crypto here: callers hand in and get back ciphertext and protocol JSON.
"""
import os
import warnings
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-CSRFToken"
DEFAULT_TIMEOUT = 30.0
BLOB_TIMEOUT = 300.0


class ApiFailure(Exception):
    """A refusal by the server (`{error, message}`, §7) or a failure to reach it.

    `code` is a PROTOCOL §7 error code, or `network` / `tls` / `bad_response`
    for failures that happen before the server could answer in JSON; `status`
    is the HTTP status (None when there was no answer).
    """

    def __init__(self, code, message, status=None, retry_after=None, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.details = details or {}  # the answer's other fields, e.g. `vault` of a conflict

    def __str__(self):
        return f"{self.message} ({self.code}{'' if self.status is None else f', {self.status}'})"


def _base_url(server):
    """Validate and normalise the server address; only https is accepted."""
    parts = urlsplit(server.strip())
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError(f"server must be an https:// address, not {server!r}")
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"


class HttpApi:
    """The JSON API of one server, as one logged-in (or not yet) account sees it.

    :param server: e.g. ``https://localhost:8443``.
    :param ca: a PEM file of the certificate (authority) to trust, e.g. ``certs/ca.pem``.
    :param insecure: skip certificate verification altogether (testing only).
    """

    def __init__(self, server, ca=None, insecure=False, timeout=DEFAULT_TIMEOUT):
        if ca and insecure:
            raise ValueError("give either a CA file or insecure=True, not both")
        if ca and not os.path.isfile(ca):
            raise ValueError(f"the certificate file {ca} does not exist")
        self.base_url = _base_url(server)
        self.ca = ca
        self.insecure = bool(insecure)
        self.timeout = timeout
        self.csrf_token = None
        self.session = requests.Session()
        self.session.verify = False if insecure else (ca or True)
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = "sendapp-python-client/1"

    # --- plumbing ---------------------------------------------------------------
    def close(self):
        """Release the connection pool."""
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def url(self, path):
        return self.base_url + path

    def cookie_header(self):
        """The `Cookie` header value a Socket.IO handshake needs to share this session (§8)."""
        return "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)

    def ensure_csrf(self):
        """Fetch a CSRF token bound to the current session cookie if none is held (§7)."""
        if self.csrf_token is None:
            self.csrf_token = self.request("GET", "/api/csrf")["csrf_token"]
        return self.csrf_token

    def request(self, method, path, *, json=None, params=None, data=None, headers=None,
                raw=False, timeout=None):
        """Send one request; return the decoded JSON (or the response when `raw`).

        :raises ApiFailure: for an error answer or when the server cannot be reached.
        """
        method = method.upper()
        headers = dict(headers or {})
        if method in STATE_CHANGING:
            headers[CSRF_HEADER] = self.ensure_csrf()
        response = self._send(method, path, json=json, params=params, data=data,
                              headers=headers, timeout=timeout)
        if response.status_code == 403 and method in STATE_CHANGING and _csrf_refused(response):
            # The token died with its session (e.g. the server restarted with a new key):
            # one fresh token, one retry; a second refusal is reported.
            self.csrf_token = None
            headers[CSRF_HEADER] = self.ensure_csrf()
            response = self._send(method, path, json=json, params=params, data=data,
                                  headers=headers, timeout=timeout)
        if response.status_code >= 400:
            raise _failure(response)
        if raw:
            return response
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiFailure("bad_response", f"{method} {path} answered non-JSON",
                             response.status_code) from None

    def _send(self, method, path, **kwargs):
        timeout = kwargs.pop("timeout", None) or self.timeout
        try:
            with warnings.catch_warnings():
                if self.insecure:
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                # verify per request: a session-level value loses to $REQUESTS_CA_BUNDLE.
                return self.session.request(method, self.url(path), timeout=timeout,
                                            verify=self.session.verify, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise ApiFailure("tls", f"TLS failure talking to {self.base_url}: "
                             f"{_reason(exc)} (pass the server's certificate with --ca)") from None
        except requests.exceptions.Timeout:
            raise ApiFailure("network", f"{self.base_url} did not answer within {timeout} s") \
                from None
        except requests.exceptions.ConnectionError as exc:
            raise ApiFailure("network", f"cannot reach {self.base_url}: {_reason(exc)}") \
                from None

    def _remember_csrf(self, answer):
        """Login and register rotate the session: keep the fresh token they hand back (§7)."""
        token = answer.get("csrf_token") if isinstance(answer, dict) else None
        if token:
            self.csrf_token = token
        return answer

    # --- account (§2, §3, §7) ---------------------------------------------------
    def prelogin(self, username):
        """KDF parameters for a username: `{kdf, iterations}`."""
        return self.request("GET", "/api/prelogin", params={"username": username})

    def register(self, body):
        """POST /api/register; answers `{user, csrf_token}` and logs this session in."""
        return self._remember_csrf(self.request("POST", "/api/register", json=body))

    def login(self, username, auth):
        """POST /api/login; answers `{user, vault, csrf_token}`."""
        return self._remember_csrf(
            self.request("POST", "/api/login", json={"username": username, "auth": auth}))

    def logout(self):
        """End this session on the server (its sockets are disconnected)."""
        self.request("POST", "/api/logout")
        self.csrf_token = None

    def me(self):
        return self.request("GET", "/api/me")["user"]

    def put_vault(self, auth, vault, public_key=None, new_auth=None, base=None):
        """Replace the vault; a `public_key` becomes the current key. With `base` (the vault
        this one was made from), only if that is still the stored one (else `conflict`)."""
        body = {"auth": auth, "vault": vault}
        if base is not None:
            body["base"] = base
        if public_key is not None:
            body["public_key"] = public_key
        if new_auth is not None:
            body["new_auth"] = new_auth
        return self.request("PUT", "/api/me/vault", json=body)["user"]

    # --- people (§7) -----------------------------------------------------------
    def search_users(self, prefix):
        return self.request("GET", "/api/users", params={"q": prefix})["users"]

    def friends(self):
        """`{friends, incoming, outgoing}`."""
        return self.request("GET", "/api/friends")

    def request_friend(self, username):
        """`{status: requested}` or `{status: accepted, friend}`."""
        return self.request("POST", "/api/friends", json={"username": username})

    def accept_friend(self, user_id):
        return self.request("POST", f"/api/friends/{int(user_id)}/accept")["friend"]

    def remove_friend(self, user_id):
        self.request("DELETE", f"/api/friends/{int(user_id)}")

    def user_keys(self, user_id):
        """Every public key (current and older) of self or a friend."""
        return self.request("GET", f"/api/users/{int(user_id)}/keys")["keys"]

    # --- conversations and attachments (§7) -----------------------------------------
    def history(self, friend_id, before=None, limit=None):
        """One page of a conversation, oldest first: `{messages, more}`."""
        return self.request("GET", f"/api/conversations/{int(friend_id)}/messages",
                            params=_page(before, limit))

    def conversations(self):
        return self.request("GET", "/api/conversations")["conversations"]

    def upload_blob(self, friend_id, ciphertext):
        """Store encrypted attachment bytes for the pair (me, friend); return the blob id."""
        return self._upload({"to": int(friend_id)}, ciphertext)

    def upload_group_blob(self, group_id, ciphertext):
        """Store encrypted attachment bytes for a group of mine; return the blob id (§9.2)."""
        return self._upload({"group": int(group_id)}, ciphertext)

    def _upload(self, params, ciphertext):
        answer = self.request("POST", "/api/blobs", params=params,
                              data=bytes(ciphertext), timeout=BLOB_TIMEOUT,
                              headers={"Content-Type": "application/octet-stream"})
        return answer["blob"]

    def download_blob(self, blob_id):
        """The encrypted bytes of an attachment of one of my conversations."""
        return self.request("GET", f"/api/blobs/{blob_id}", raw=True,
                            timeout=BLOB_TIMEOUT).content

    # --- groups (§9.2): every route answers 404 to a non-member ------------------------------
    def groups(self):
        """`{groups: [group], max_members}`: my groups, ascending id."""
        return self.request("GET", "/api/groups")

    def create_group(self, member_ids):
        """Create a group with me as its admin and these friends as members; return it."""
        return self.request("POST", "/api/groups",
                            json={"members": [int(m) for m in member_ids]})["group"]

    def group(self, group_id):
        """One group of mine, `{id, created, created_by, members, my_role}`."""
        return self.request("GET", f"/api/groups/{int(group_id)}")["group"]

    def add_group_member(self, group_id, user_id):
        """Add a friend to a group I administer; return the group."""
        return self.request("POST", f"/api/groups/{int(group_id)}/members",
                            json={"user": int(user_id)})["group"]

    def remove_group_member(self, group_id, user_id):
        """Remove a member (admins only), or leave when `user_id` is my own id."""
        self.request("DELETE", f"/api/groups/{int(group_id)}/members/{int(user_id)}")

    def promote_group_member(self, group_id, user_id):
        """Make a member an admin (admins only); return the group."""
        return self.request("POST", f"/api/groups/{int(group_id)}/admins",
                            json={"user": int(user_id)})["group"]

    def group_history(self, group_id, before=None, limit=None):
        """One page of a group's messages wrapped for me, oldest first: `{messages, more}`."""
        return self.request("GET", f"/api/groups/{int(group_id)}/messages",
                            params=_page(before, limit))


def _page(before, limit):
    """The query of a history page (§7): ids < `before`, at most `limit`."""
    params = {}
    if before is not None:
        params["before"] = int(before)
    if limit is not None:
        params["limit"] = int(limit)
    return params


def _csrf_refused(response):
    try:
        message = response.json().get("message", "")
    except ValueError:
        return False
    return isinstance(message, str) and message.startswith("CSRF")


def _failure(response):
    """Build ApiFailure from an error answer, tolerating a non-JSON one (e.g. a proxy page)."""
    code, message = None, None
    try:
        body = response.json()
    except ValueError:
        body = None
    details = {}
    if isinstance(body, dict):
        code, message = body.get("error"), body.get("message")
        details = {k: v for k, v in body.items() if k not in ("error", "message")}
    retry_after = response.headers.get("Retry-After")
    return ApiFailure(
        code if isinstance(code, str) else f"http_{response.status_code}",
        message if isinstance(message, str) else f"HTTP {response.status_code} {response.reason}",
        response.status_code,
        retry_after=retry_after,
        details=details,
    )


def _reason(exc):
    """The innermost readable reason of a requests/urllib3 failure."""
    inner = exc
    while inner.args and isinstance(inner.args[0], Exception):
        inner = inner.args[0]
    reason = getattr(inner, "reason", None)
    return str(reason or inner)
