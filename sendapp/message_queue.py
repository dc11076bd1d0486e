"""The Redis message queue between server processes: relay is best effort, storing is not.

With `SENDAPP_MESSAGE_QUEUE=redis://…` every emit is also published to Redis so the
sockets of other processes get it. python-socketio's `RedisManager` meets an outage badly
for a chat whose ack follows the database commit: each emit tries twice and logs two ERROR
lines, and against a Redis that accepts connections but does not answer each try waits
redis-py's 5 s socket timeout (measured: 10 s per emit, before the sender's ack); its
listener backs off to a minute between attempts, so relay stays off long after Redis is back.

`SteadyRedisManager` keeps python-socketio's protocol and changes only how it meets an
outage: 1 s socket timeouts and no retry (the connection pool already replaces a connection
a Redis restart left stale); while the link is down an emit is delivered in this process and
not published at all (no wait, no log line); the link's state changes are logged once each
(`QueueLink`); the listener resubscribes every RESUBSCRIBE_PAUSE seconds and is what
declares the link up again. Messages are committed and acked all along; a peer that missed
a relay catches up with `sync` (PROTOCOL §8) when its client reconnects.

The server refuses to start when the queue is configured but does not answer
(`wait_for_queue`, called by app.py), and the readiness check (`health/`) reports the link.
"""
import logging
import os
import threading
import time
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
import socketio
from socketio import RedisManager

log = logging.getLogger(__name__)

SOCKET_TIMEOUT = 1.0  # seconds for connecting to Redis and for one command's answer
LISTEN_TICK = 1.0  # seconds the listener waits for a message before looking at the link
RESUBSCRIBE_PAUSE = 1.0  # seconds between the listener's attempts while Redis is away
CHANNEL = "flask-socketio"  # Flask-SocketIO's default: processes of older versions agree


def is_redis_url(url):
    """True for the queue URLs this module handles (redis:// and rediss://)."""
    return bool(url) and url.startswith(("redis://", "rediss://"))


def safe_url(url):
    """The queue URL without its user name and password, for messages and logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unparsable URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"


def client_options():
    """redis-py options that bound every wait: connect and answer, no retry (redis-py's
    default retries ten times with back-off)."""
    return {"socket_connect_timeout": SOCKET_TIMEOUT, "socket_timeout": SOCKET_TIMEOUT,
            "retry": Retry(NoBackoff(), 0), "health_check_interval": 0}


def ping(url, timeout=SOCKET_TIMEOUT):
    """PING the queue once; None when it answered, else a short reason (no URL, no secret)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                  retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
        return None
    except redis.RedisError as error:
        return _reason(error)
    finally:
        client.close()


def wait_for_queue(url, seconds, sleep=time.sleep, clock=time.monotonic):
    """PING the queue until it answers or `seconds` have passed; None when it answered, else
    the last reason. The server refuses to start on a reason: relaying nothing while saying
    "ready" is the failure this prevents."""
    deadline = clock() + seconds
    while True:
        reason = ping(url)
        if reason is None or clock() >= deadline:
            return reason
        sleep(min(0.5, max(deadline - clock(), 0)))


def _reason(error):
    """A short reason for an error from redis-py: its class, and the OS's words if any."""
    cause = error.__cause__ or error.__context__
    number = getattr(cause, "errno", None)
    # The OS's words from the number: eventlet's green sockets say "ECONNREFUSED" instead.
    text = os.strerror(number) if isinstance(number, int) else getattr(cause, "strerror", None)
    name = error.__class__.__name__
    return f"{name} ({text})" if text else name


class QueueLink:
    """Whether this process's link to the queue works; each change is logged once.

    Any failure (a publish, the listener, the readiness probe) takes the link down; only
    the listener, once subscribed again, brings it back up.
    """

    def __init__(self, url, logger=log):
        self.url = url
        self.up = True
        self.since = time.monotonic()
        self._lock = threading.Lock()
        self._log = logger

    def lost(self, error=None):
        with self._lock:
            if not self.up:
                return
            self.up, self.since = False, time.monotonic()
        self._log.warning(
            "message queue %s unreachable (%s): messages are still stored and acked, but not "
            "relayed to other server processes (their clients catch up by sync); /readyz "
            "answers 503 until it is back", safe_url(self.url),
            _reason(error) if error is not None else "no answer")

    def restored(self):
        with self._lock:
            if self.up:
                return
            down_for = time.monotonic() - self.since
            self.up, self.since = True, time.monotonic()
        self._log.warning("message queue %s reachable again after %.1f s: relaying to other "
                          "server processes", safe_url(self.url), down_for)


class SteadyRedisManager(RedisManager):
    """python-socketio's Redis manager with bounded waits and one log line per outage.

    :param url: the redis:// or rediss:// URL (SENDAPP_MESSAGE_QUEUE).
    """

    def __init__(self, url, channel=CHANNEL):
        super().__init__(url, channel=channel, redis_options=client_options())
        self.link = QueueLink(url)
        self.listening = False

    def _publish(self, data):
        """Publish to the other processes; never raises, waits SOCKET_TIMEOUT at most, and
        skips the network while the link is down (the emit was delivered here already)."""
        if not self.link.up:
            return None
        try:
            if self.redis is None:
                self.redis = redis.Redis.from_url(self.redis_url, **self.redis_options)
            return self.redis.publish(self.channel, self.json.dumps(data))
        except Exception as error:  # noqa: BLE001 - an emit must not fail a handler
            self.link.lost(error)
            return None

    def probe(self):
        """PING through the publishing client (the readiness check); False takes the link down."""
        try:
            if self.redis is None:
                self.redis = redis.Redis.from_url(self.redis_url, **self.redis_options)
            self.redis.ping()
            return True
        except Exception as error:  # noqa: BLE001
            self.link.lost(error)
            return False

    def _redis_listen_with_retries(self):
        """Yield the channel's messages forever, resubscribing every RESUBSCRIBE_PAUSE seconds
        while Redis is away; a link someone else saw fail is proved again by resubscribing."""
        pubsub = None
        while True:
            try:
                if pubsub is None:
                    client = redis.Redis.from_url(self.redis_url, **self.redis_options)
                    pubsub = client.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(self.channel)
                    self.pubsub = pubsub
                    self.listening = True
                    self.link.restored()
                message = pubsub.get_message(timeout=LISTEN_TICK)
                if message is not None:
                    yield message
                elif not self.link.up:
                    pubsub = self._drop(pubsub)
            except Exception as error:  # noqa: BLE001 - the listener must outlive any outage
                self.listening = False
                self.link.lost(error)
                pubsub = self._drop(pubsub)
                self.server.sleep(RESUBSCRIBE_PAUSE)

    def _drop(self, pubsub):
        """Close a subscription (and its connection) without raising; answers None."""
        self.listening = False
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
        return None


def make_manager(url):
    """The client manager for SENDAPP_MESSAGE_QUEUE (None: in-process). Other schemes than
    Redis get the manager Flask-SocketIO would pick, unchecked at start and in /readyz."""
    if not url:
        return None
    if is_redis_url(url):
        return SteadyRedisManager(url)
    if url.startswith("kafka://"):
        return socketio.KafkaManager(url, channel=CHANNEL)
    if url.startswith("zmq"):
        return socketio.ZmqManager(url, channel=CHANNEL)
    return socketio.KombuManager(url, channel=CHANNEL)


def start_listening(server):
    """Start the manager's listener now (python-socketio starts it at the first connection),
    so a process with no sockets yet also notices an outage and reports it in /readyz."""
    if not server.manager_initialized:
        server.manager_initialized = True
        server.manager.initialize()


def link_of(server):
    """This server's QueueLink, or None without a Redis queue."""
    return getattr(server.manager, "link", None)
