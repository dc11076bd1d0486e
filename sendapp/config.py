"""Configuration: one class reading SENDAPP_* environment variables.

The variable names are a contract: scripts outside the repository start the
server with them. Every setting is listed in the README.
"""
import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

from .proxies import TrustedNetworks

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent  # the repository: templates, static, migrations


def _flag(value, default):
    """Read an on/off environment value; anything but a clear 'off' word is on."""
    if value is None or value == "":
        return default
    return value.strip().lower() not in {"0", "off", "false", "no"}


DAY = 24 * 60 * 60


def _seconds(value, default):
    """A positive number of seconds from the environment, else the default."""
    if value is None or value.strip() == "":
        return default
    seconds = int(value)
    if seconds <= 0:
        raise ValueError(f"expected a positive number of seconds, got {value!r}")
    return seconds


def _thresholds(value, default):
    """Three positive integers "young,middle,old" from the environment, else the default."""
    if value is None or value.strip() == "":
        return default
    parts = value.split(",")
    if len(parts) != 3 or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise ValueError(f"expected three positive integers like 700,10,10, got {value!r}")
    return tuple(int(part) for part in parts)


def _choice(value, allowed, name):
    """One of `allowed` (the first is the default) from the environment, else a clear error."""
    if value is None or value.strip() == "":
        return allowed[0]
    value = value.strip().lower()
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _database_url(url):
    """Use the installed psycopg2 driver for plain postgresql:// URLs (SQLAlchemy 2.1 defaults
    to psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def _engine_options(url):
    """Ping a pooled connection before each use only where it can go stale (a database
    server restarts or drops idle connections); a SQLite file cannot, and the ping is one more
    statement on every checkout."""
    return {} if url.startswith("sqlite") else {"pool_pre_ping": True}


def _load_or_create_secret(instance_path):
    """Keep one random secret key per instance (0600) so sessions survive restarts.

    Processes sharing the instance folder may start together: the key is written to a
    temporary file and linked into place only when complete, so a reader never sees a
    partial key, and a process that loses the race reads the winner's key instead.
    """
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return _read_secret(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # fails if the name exists: never replaces a key
        except FileExistsError:
            return _read_secret(path)
    finally:
        os.unlink(temporary)
    return key


def _read_secret(path):
    key = path.read_text().strip()
    if not key:  # left by a crash of a version that wrote the file in place
        raise RuntimeError(f"{path} is empty: delete it to make a new key (logs everyone out) "
                           "or set SENDAPP_SECRET_KEY")
    return key


class Config:
    """Settings from the environment with embedded defaults that run out of the box."""

    TESTING = False

    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        instance = Path(env.get("SENDAPP_INSTANCE_PATH") or "instance").resolve()
        self.INSTANCE_PATH = str(instance)
        self.SQLALCHEMY_DATABASE_URI = _database_url(
            env.get("SENDAPP_DATABASE_URL") or f"sqlite:///{instance / 'sendapp.sqlite3'}"
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = _engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.SECRET_KEY = env.get("SENDAPP_SECRET_KEY") or _load_or_create_secret(instance)
        self.HOST = env.get("SENDAPP_HOST") or "0.0.0.0"
        self.PORT = int(env.get("SENDAPP_PORT") or 8443)
        self.CERT_DIR = str(Path(env.get("SENDAPP_CERT_DIR") or "certs").resolve())
        self.KDF_ITERATIONS = int(env.get("SENDAPP_KDF_ITERATIONS") or 600_000)
        self.MESSAGE_QUEUE = env.get("SENDAPP_MESSAGE_QUEUE") or None
        self.RATELIMIT_ENABLED = _flag(env.get("SENDAPP_RATELIMIT"), True)
        self.RATELIMIT_STORAGE_URI = env.get("SENDAPP_RATELIMIT_STORAGE") or "memory://"
        self.ASYNC_MODE = env.get("SENDAPP_ASYNC_MODE") or "eventlet"
        self.BLOB_DIR = str(Path(env.get("SENDAPP_BLOB_DIR") or instance / "blobs").resolve())
        self.MAX_BLOB_BYTES = int(env.get("SENDAPP_MAX_BLOB_BYTES") or 25 * MiB)
        self.BLOB_QUOTA_BYTES = int(env.get("SENDAPP_BLOB_QUOTA_BYTES") or 1024 * MiB)
        # Seconds between collections of orphaned attachments (blobs/collector.py); 0 = never.
        self.BLOB_GC_INTERVAL = float(env.get("SENDAPP_BLOB_GC_INTERVAL") or 3600)
        self.MAX_CIPHERTEXT_CHARS = int(env.get("SENDAPP_MAX_CIPHERTEXT") or 65_536)
        self.MAX_JSON_BYTES = int(env.get("SENDAPP_MAX_JSON_BYTES") or 1 * MiB)
        # Seconds a statement waits (yielding) for another process's SQLite lock before `retry`.
        self.DB_LOCK_WAIT = float(env.get("SENDAPP_DB_LOCK_WAIT") or 2)
        # The message writer's queue (chat/writer.py): a send finding it full, or waiting
        # longer than WRITE_MAX_WAIT seconds for its batch, is answered `retry` at once.
        self.WRITE_QUEUE = int(env.get("SENDAPP_WRITE_QUEUE") or 512)
        self.WRITE_MAX_WAIT = float(env.get("SENDAPP_WRITE_MAX_WAIT") or 1.0)
        # Milliseconds at least between the starts of two small write transactions: under a
        # steady load the messages of about that long share one commit (0: no wait).
        self.WRITE_GATHER_MS = float(env.get("SENDAPP_WRITE_GATHER_MS") or 1.0)
        # Who runs SQLite's checkpoints for the message writer: a helper process between its
        # transactions (sendapp/wal_checkpoint.py), or its commits, as SQLite does by itself.
        self.SQLITE_CHECKPOINTS = _choice(env.get("SENDAPP_SQLITE_CHECKPOINTS"),
                                          ("helper", "commit"), "SENDAPP_SQLITE_CHECKPOINTS")
        # Sends handled at once at most; more are answered `retry` before any work
        # (sendapp/load.py).
        self.SEND_CONCURRENCY = int(env.get("SENDAPP_SEND_CONCURRENCY") or 1024)
        # Members of one group at most, its creator included (PROTOCOL §9.1).
        self.GROUP_MAX_MEMBERS = int(env.get("SENDAPP_GROUP_MAX_MEMBERS") or 64)
        # The garbage collector's generation thresholds (app.py sets them after start-up).
        self.GC_THRESHOLDS = _thresholds(env.get("SENDAPP_GC_THRESHOLDS"), (700, 10, 10))
        # Seconds between freezes of what survived (0: off), and between thaws, each followed by
        # one full collection that frees cycles among old objects (app.py: freeze_survivors;
        # docs/BENCHMARKS.md measured it, memory over a thaw included).
        self.GC_FREEZE_SECONDS = float(env.get("SENDAPP_GC_FREEZE_SECONDS") or 1)
        self.GC_THAW_SECONDS = float(env.get("SENDAPP_GC_THAW_SECONDS") or 600)
        # Flask refuses (413) any body larger than this before reading it; uploads raise it
        # for their own request to MAX_BLOB_BYTES.
        self.MAX_CONTENT_LENGTH = self.MAX_JSON_BYTES
        self.AUTO_MIGRATE = _flag(env.get("SENDAPP_AUTO_MIGRATE"), True)
        self.FORCE_POLLING = _flag(env.get("SENDAPP_FORCE_POLLING"), False)
        # The transport edge (app.py). Measured: ~50 KiB per idle TLS connection, ~100 KiB
        # per logged-in WebSocket, so 4096 connections stay under ~400 MiB.
        self.MAX_CONNECTIONS = int(env.get("SENDAPP_MAX_CONNECTIONS") or 4096)
        self.MAX_CONNECTIONS_PER_IP = int(env.get("SENDAPP_MAX_CONNECTIONS_PER_IP") or 256)
        # Reverse proxies whose X-Forwarded-For/-Proto/-Host are believed (sendapp/proxies.py).
        self.TRUSTED_PROXIES = TrustedNetworks.parse(env.get("SENDAPP_TRUSTED_PROXIES"))
        self.HEADER_TIMEOUT = float(env.get("SENDAPP_HEADER_TIMEOUT") or 10)
        self.IDLE_TIMEOUT = float(env.get("SENDAPP_IDLE_TIMEOUT") or 30)
        # Seconds between /readyz turning 503 on SIGTERM and the listener closing (app.py's
        # drain): time for a load balancer that polls /readyz to stop sending connections.
        self.DRAIN_DELAY = max(float(env.get("SENDAPP_DRAIN_DELAY") or 0), 0.0)
        # Rate limits (Flask-Limiter strings). Socket events share one budget per user.
        self.RATELIMIT_AUTH = env.get("SENDAPP_RATELIMIT_AUTH") or "10/minute;50/hour"
        self.RATELIMIT_PRELOGIN = env.get("SENDAPP_RATELIMIT_PRELOGIN") or "30/minute"
        self.RATELIMIT_VAULT = env.get("SENDAPP_RATELIMIT_VAULT") or "10/minute;60/hour"
        self.RATELIMIT_FRIENDS = env.get("SENDAPP_RATELIMIT_FRIENDS") or "30/minute"
        self.RATELIMIT_SOCKET = env.get("SENDAPP_RATELIMIT_SOCKET") or "50/second;1200/minute"
        # Login sessions end after an absolute lifetime and after a time without use (seconds).
        self.SESSION_MAX_AGE = _seconds(env.get("SENDAPP_SESSION_MAX_AGE"), 30 * DAY)
        self.SESSION_IDLE = _seconds(env.get("SENDAPP_SESSION_IDLE"), 7 * DAY)
        # How often each server process checks its sockets' sessions (seconds).
        self.REVOCATION_INTERVAL = float(env.get("SENDAPP_REVOCATION_INTERVAL") or 0.5)
        # With a Redis message queue: seconds a server process's presence entries outlive its
        # last heartbeat (it renews them every third of this), so a crashed process's users go
        # offline within 4/3 of it (sendapp/presence/shared.py).
        self.PRESENCE_TTL = _seconds(env.get("SENDAPP_PRESENCE_TTL"), 15)
        self.PERMANENT_SESSION_LIFETIME = timedelta(seconds=self.SESSION_MAX_AGE)
        self.REMEMBER_COOKIE_DURATION = timedelta(seconds=self.SESSION_MAX_AGE)

    # Fixed settings, the same everywhere.
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # "__Host-": the browser only accepts it over HTTPS, for Path=/ and without a Domain, so a
    # sibling host or plain-HTTP page cannot plant or overwrite it.
    SESSION_COOKIE_NAME = "__Host-sendapp_session"
    SESSION_COOKIE_DOMAIN = None
    SESSION_COOKIE_PATH = "/"
    # Flask-Login's remember cookie is never set (login_user(remember=False)); should it ever
    # be, it follows the same rules.
    REMEMBER_COOKIE_NAME = "__Host-sendapp_remember"
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_PATH = "/"
    REMEMBER_COOKIE_DOMAIN = None
    WTF_CSRF_HEADERS = ["X-CSRFToken"]
    WTF_CSRF_SSL_STRICT = False  # PROTOCOL §7: never require a Referer.
    WTF_CSRF_TIME_LIMIT = None  # Bound to the session instead of a clock.
    RATELIMIT_HEADERS_ENABLED = True
    JSON_SORT_KEYS = False


class TestingConfig(Config):
    """Fast KDF, throw-away instance folder; everything else as in production."""

    TESTING = True
    __test__ = False  # not a pytest test class despite its name

    def __init__(self, environ=None):
        env = dict(os.environ if environ is None else environ)
        env.setdefault("SENDAPP_KDF_ITERATIONS", "1000")
        env.setdefault("SENDAPP_SECRET_KEY", "testing-secret-key")
        env.setdefault("SENDAPP_BLOB_GC_INTERVAL", "0")  # tests call collect() themselves
        super().__init__(env)
        self.ASYNC_MODE = "threading"
