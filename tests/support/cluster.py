"""Several real server processes behind the shipped nginx config: one Redis, one database.

`Cluster` is the deployment of deploy/nginx.conf in small: N `python app.py` processes
(LiveServer) sharing a PostgreSQL database, a redis-server of its own as the message queue,
one secret key and one attachment folder, with nginx (support.proxy) in front. Clients
talk to `cluster.proxy`, which has the `url` and `cert_path` the client helpers expect of
a server.

`backend_of` tells which process nginx sends a login session to, from the processes' own
access logs; `log_in_on` logs in until a session lands on a chosen process (bounded), so a
test can put alice on one process and bob on the other. No pytest fixtures here: the
benchmark uses it too.
"""
import secrets
import time
import uuid
from pathlib import Path

from support.live_clients import login
from support.live_server import HOST, LiveServer
from support.proxy import NginxProxy
from support.redis_server import RedisServer

PROBE_TIMEOUT = 5.0  # seconds for a probe request to show up in a process's access log
PLACEMENT_TRIES = 24  # logins until a session lands on the wanted process (1 in 2 each)
PROBE_PATH = "/sticky-probe/"


class Cluster:
    """`processes` server processes behind nginx, on `database_url` and a Redis of their own.

    :param env: extra SENDAPP_* settings for every process.
    """

    def __init__(self, folder, database_url, processes=2, env=None):
        self.folder = Path(folder)
        self.database_url = database_url
        self.count = processes
        self.extra_env = dict(env or {})
        self.redis = RedisServer(self.folder / "redis")
        self.backends = []
        self.proxy = None

    def start(self):
        """Redis, then the processes one after the other (the first migrates), then nginx."""
        try:
            self.redis.launch()
            shared = {
                "SENDAPP_DATABASE_URL": self.database_url,
                "SENDAPP_MESSAGE_QUEUE": self.redis.url,
                "SENDAPP_SECRET_KEY": secrets.token_urlsafe(32),
                "SENDAPP_BLOB_DIR": str(self.folder / "blobs"),
                "SENDAPP_TRUSTED_PROXIES": HOST,
                **self.extra_env,
            }
            for index in range(self.count):
                backend = LiveServer(self.folder / f"backend{index}", env=shared)
                self.backends.append(backend)
                backend.start()
            # Each process made its own CA here; nginx trusts all of them (one file, as
            # `proxy_ssl_trusted_certificate` takes). A real deployment shares one cert dir.
            bundle = self.folder / "upstream-ca.pem"
            bundle.write_text("".join((b.cert_dir / "ca.pem").read_text() for b in self.backends))
            first = self.backends[0]
            self.proxy = NginxProxy(self.folder / "nginx", [b.port for b in self.backends],
                                    first.cert_path, first.cert_dir / "key.pem", bundle)
            self.proxy.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """nginx, the processes and Redis, each by its pid."""
        if self.proxy is not None:
            self.proxy.stop()
        for backend in self.backends:
            backend.stop()
        self.redis.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # --- where nginx sends whom ---------------------------------------------------------
    def backend_of(self, cookie_header):
        """The index of the process nginx sends requests with this Cookie header to.

        A request for a unique path goes through nginx; the process whose access log shows
        it answered it (404). Bounded by PROBE_TIMEOUT.
        """
        marker = uuid.uuid4().hex
        with self.proxy.http_session() as session:
            answer = session.get(self.proxy.url + PROBE_PATH + marker,
                                 headers={"Cookie": cookie_header}, timeout=10)
        assert answer.status_code == 404, answer.text
        deadline = time.monotonic() + PROBE_TIMEOUT
        while time.monotonic() < deadline:
            found = [i for i, b in enumerate(self.backends) if marker in b.log_text()]
            if found:
                assert len(found) == 1, f"the probe reached processes {found}"
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no process logged the probe {marker} within {PROBE_TIMEOUT} s")

    def log_in_on(self, backend, username, tries=PLACEMENT_TRIES):
        """A new login session of `username` that nginx sends to process `backend`.

        The session cookie decides (deploy/nginx.conf hashes it), and each login makes a new
        one, so log in until one lands there; each try lands there with odds 1/processes.
        """
        for _attempt in range(tries):
            account = login(self.proxy, username)
            if self.backend_of(account.api.cookie_header()) == backend:
                return account
            account.logout()
        raise AssertionError(f"{tries} sessions of {username}: none landed on process {backend}")

    def log_offsets(self):
        """Where each process's log ends now (for `requests_since`)."""
        return [len(b.log_text()) for b in self.backends]

    def requests_since(self, offsets, path_prefix):
        """Per process: access-log lines for `path_prefix` written after `offsets`."""
        return [[line for line in b.log_text()[offset:].splitlines()
                 if f'"GET {path_prefix}' in line or f'"POST {path_prefix}' in line]
                for b, offset in zip(self.backends, offsets)]


def direct_session(backend, cookie_header, csrf_token):
    """A requests.Session to one process itself (not through nginx) with a login session."""
    session = backend.http_session()
    session.headers.update({"Cookie": cookie_header, "X-CSRFToken": csrf_token or ""})
    return session

