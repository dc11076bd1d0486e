"""Presence shared by every server process through the message queue's Redis.

Each process keeps its own sockets in a LocalPresence (the truth about this process) and
mirrors its per-user counts into Redis with atomic scripts (`scripts.py`), so "first socket
anywhere" and "last socket anywhere" are each decided by exactly one process. Every
PRESENCE_TTL / 3 seconds each process renews its heartbeat key (which expires after
PRESENCE_TTL) and removes the entries of processes whose heartbeat expired, so the users of a
crashed process (kill -9, a lost host) go offline within PRESENCE_TTL + PRESENCE_TTL / 3.

A socket event costs nothing here; connect and disconnect cost one script call, the friends
list one HMGET. When Redis cannot be reached the socket handlers do not wait on it again:
the store logs once, answers from this process's sockets and announces nothing; the first
heartbeat that reaches Redis rewrites this process's entries (SYNC) and announces what
changed meanwhile.
"""
import logging
import os
import secrets
import socket
import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..extensions import socketio
from . import scripts
from .local import LocalPresence

log = logging.getLogger(__name__)

PREFIX = "sendapp:presence:"
REDIS_TIMEOUT = 1.0  # seconds a presence call waits for Redis before degrading
_FAILURES = (redis.RedisError, OSError)


class SharedPresence:
    """Users online in any process, counted per process in Redis.

    :param url: the redis:// or rediss:// URL (the message queue's).
    :param ttl: seconds a process's entries outlive its last heartbeat.
    :param announce: called from the heartbeat task with [(user id, online)] to tell friends.
    :param tasks: what runs the heartbeat: an object with `start_background_task` and
        `sleep` (Flask-SocketIO's, or plain threads in tests).
    """

    def __init__(self, url, ttl, announce=None, tasks=socketio, prefix=PREFIX, token=None):
        self.local = LocalPresence()
        self.ttl_ms = int(ttl * 1000)
        self.interval = ttl / 3
        self.announce = announce
        self.tasks = tasks
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # One immediate retry: enough to replace a pooled connection a restarted Redis closed,
        # without a handler waiting through redis-py's default backoff while Redis is away.
        self.redis = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT,
                                          socket_connect_timeout=REDIS_TIMEOUT,
                                          retry=Retry(NoBackoff(), 1))
        self.users_key, self.procs_key = prefix + "users", prefix + "procs"
        self.alive_prefix, self.proc_prefix = prefix + "alive:", prefix + "proc:"
        self.alive_key = self.alive_prefix + self.token
        self.proc_key = self.proc_prefix + self.token
        self._connect = self.redis.register_script(scripts.CONNECT)
        self._disconnect = self.redis.register_script(scripts.DISCONNECT)
        self._sync = self.redis.register_script(scripts.SYNC)
        self._reap = self.redis.register_script(scripts.REAP)
        self._lock = threading.Lock()  # this process's Redis entries change under it only
        self.dirty = True  # Redis may not match self.local: the next beat rewrites them
        self.failing = False
        self._started = False
        self._stopped = False

    # --- what the socket handlers and views call ------------------------------------------
    def connected(self, user_id, sid):
        """Record a socket; True when it is the user's first in any process."""
        self.start()
        with self._lock:
            self.local.connected(user_id, sid)
            if self.dirty:
                return False  # the next beat's SYNC announces it
            try:
                return self._connect(keys=[self.proc_key, self.users_key, self.procs_key],
                                     args=[user_id, self.token]) == 1
            except _FAILURES as error:
                self._lost(error)
                return False

    def disconnected(self, user_id, sid):
        """Forget a socket; True when it was the user's last in any process."""
        with self._lock:
            if not self.local.holds(user_id, sid):
                return False
            self.local.disconnected(user_id, sid)
            if self.dirty:
                return False
            try:
                return self._disconnect(keys=[self.proc_key, self.users_key],
                                        args=[user_id]) == 1
            except _FAILURES as error:
                self._lost(error)
                return False

    def online_among(self, user_ids):
        """The users of `user_ids` with a socket in any process (this one's only while Redis
        is unreachable)."""
        here = self.local.online_among(user_ids)
        rest = [user_id for user_id in user_ids if user_id not in here]
        if not rest or self.failing:
            return here
        try:
            counts = self.redis.hmget(self.users_key, rest)
        except _FAILURES as error:
            self._lost(error)
            return here
        return here | {user_id for user_id, count in zip(rest, counts)
                       if count is not None and int(count) > 0}

    # --- the heartbeat ----------------------------------------------------------------------
    def start(self):
        """Start the heartbeat task once (on the first request or socket, not at import: the
        CLI builds the app too and must not register as a server process)."""
        if self._started:
            return
        with self._lock:
            if self._started:
                return
            self._started = True
        self.tasks.start_background_task(self._run)

    def stop(self):
        """End the heartbeat task after its current sleep (tests)."""
        self._stopped = True

    def beat(self):
        """Renew this process's heartbeat (rewriting its entries when they were lost) and
        remove dead processes' entries; answer [(user id, online)] to announce."""
        changes = []
        if self.dirty or not self.redis.pexpire(self.alive_key, self.ttl_ms):
            changes = self._rewrite()
        gone = self._reap(keys=[self.procs_key, self.users_key],
                          args=[self.alive_prefix, self.proc_prefix])
        self._recovered()
        return changes + [(int(user_id), False) for user_id in gone]

    def _rewrite(self):
        """Make this process's entries in Redis its local counts; answer who crossed 0."""
        with self._lock:
            args = [self.token, self.ttl_ms]
            for user_id, count in self.local.counts().items():
                args += [user_id, count]
            flat = self._sync(keys=[self.alive_key, self.proc_key, self.users_key,
                                    self.procs_key], args=args)
            self.dirty = False
        return [(int(flat[i]), bool(flat[i + 1])) for i in range(0, len(flat), 2)]

    def tick(self):
        """One heartbeat, its changes announced; Redis failing is logged once, not raised."""
        try:
            changes = self.beat()
        except _FAILURES as error:
            self._lost(error)
            return
        if changes and self.announce is not None:
            try:
                self.announce(changes)
            except Exception:  # noqa: BLE001 - the heartbeat must outlive a busy database
                log.exception("could not announce %d presence changes", len(changes))

    def _run(self):
        while not self._stopped:
            self.tick()
            self.tasks.sleep(self.interval)

    def _lost(self, error):
        self.dirty = True
        if not self.failing:
            self.failing = True
            log.warning("presence: Redis unreachable (%s); showing only this process's "
                        "users online until it is back", error.__class__.__name__)

    def _recovered(self):
        if self.failing:
            self.failing = False
            log.warning("presence: Redis reachable again; presence is shared again")
