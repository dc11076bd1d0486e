"""The server edge: `python app.py` serves SendApp over HTTPS with eventlet.

Run as a script it monkey-patches first thing; imported (`flask --app app
users list`) it only builds `app`, so the CLI and the tests never need eventlet.
"""
if __name__ == "__main__":
    import warnings

    # A deprecation notice for developers, not for operators starting the server.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()

import collections
import errno
import gc
import logging
import logging.config
import os
import re
import resource
import signal
import socket
import ssl
import struct
import sys
import time
from pathlib import Path

import flask_migrate

from sendapp import create_app, message_queue, tls, websocket_writer
from sendapp.admission import Admission, Notices
from sendapp.chat.service import close_writer
from sendapp.config import Config
from sendapp.extensions import db, socketio
from sendapp.gc_survivors import frozen_survivors_loop
from sendapp.schema_lock import migration_lock
from sendapp.wsgi_stack import flat


def _import_overrides():
    """Imported by the Flask CLI, use threading: Socket.IO idles there and eventlet stays unloaded.

    A server that loaded eventlet first (`python app.py`, gunicorn's eventlet
    worker) keeps the configured mode.
    """
    if __name__ == "__main__" or "eventlet" in sys.modules:
        return None
    return {"ASYNC_MODE": "threading"} if Config().ASYNC_MODE == "eventlet" else None


app = create_app(_import_overrides())

log = logging.getLogger("sendapp.server")
ACCESS_LOGGER = "sendapp.access"
# No cookies, no bodies and (see _DropQueryStrings) no query strings.
ACCESS_FORMAT = '%(client_ip)s "%(request_line)s" %(status_code)s %(body_length)s %(wall_seconds).3fs'
LISTEN_BACKLOG = 1024  # the kernel caps it at net.core.somaxconn
SHUTDOWN_GRACE = 3  # seconds in-flight sends and requests get after the listener closed
FLUSH_SHARE = 1.0  # seconds of the grace, at most, for acks to leave once every send is done
# Seconds for the writers to finish the frames they took before their connections are dropped
# (measured under load: with 0.05 s a few acks of stored messages were lost, with 0.3 s none).
ACK_WRITE_PAUSE = 0.3
QUEUE_START_WAIT = 5  # seconds a configured message queue has to answer at start-up
SOCKET_PATH = "/socket.io/"
HTTP_BUFFER_BYTES = 1024  # per connection and direction (EdgeProtocol); a longer line is read in pieces
STOP_POLL = 0.2  # seconds between checks for a stop signal
FD_RESERVE = 64  # file descriptors kept for the database, blobs, logs and the listener
# Only AEAD suites with forward secrecy for TLS 1.2 (TLS 1.3 suites are all AEAD already).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"


class _DropQueryStrings(logging.Filter):
    """Cut query strings from access-log request lines: engine.io puts session ids there."""

    _QUERY = re.compile(r'("[A-Z]+ [^ ?"]*)\?[^ "]*')

    def filter(self, record):
        if isinstance(record.msg, str) and not record.args:
            record.msg = self._QUERY.sub(r"\1", record.msg)
        return True


class _QuietDisconnects(logging.Filter):
    """Turn eventlet's traceback for a client that left mid-response into one line.

    eventlet.wsgi logs any failure to write a response as a traceback; a client that
    closes its connection early (a closed tab, a refused upload, a hostile client) is
    routine, so only the exception's name is kept. Other tracebacks pass unchanged.
    """

    _GONE = re.compile(r"^(?:ssl\.SSLEOFError|ssl\.SSLZeroReturnError|BrokenPipeError|"
                       r"ConnectionResetError|ConnectionAbortedError|TimeoutError|"
                       r"socket\.timeout)\b")

    def filter(self, record):
        message = record.msg
        if isinstance(message, str) and message.startswith("Traceback (most recent call last)"):
            last = message.rstrip().rsplit("\n", 1)[-1]
            if self._GONE.match(last):
                record.msg = f"a client left before its response was sent ({last.split(':')[0]})"
                record.args = ()
        return True


def configure_logging():
    """Log to stderr; also re-enables loggers that Alembic's fileConfig switched off."""
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "filters": {"no_query": {"()": _DropQueryStrings},
                    "quiet_disconnects": {"()": _QuietDisconnects}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain",
                                "stream": "ext://sys.stderr"}},
        "loggers": {ACCESS_LOGGER: {"filters": ["quiet_disconnects", "no_query"]}},
        "root": {"level": "INFO", "handlers": ["stderr"]},
    })


def migrate_database():
    """Apply pending migrations (AUTO_MIGRATE) so an upgraded checkout just runs.

    Processes started together take turns (sendapp/schema_lock.py, held in migrations/env.py).
    """
    if not app.config["AUTO_MIGRATE"]:
        return
    migrations = Path(app.extensions["migrate"].directory)
    with app.app_context():
        if migrations.is_dir():
            flask_migrate.upgrade()
        else:  # a checkout without migrations/ (never in a release): plain tables
            log.warning("no migrations folder at %s; creating tables directly", migrations)
            with db.engine.connect() as connection, migration_lock(connection):
                db.metadata.create_all(connection)
                connection.commit()


def warn_per_process_limits(config):
    """Warn (once, at start) when several processes would each keep their own rate limits."""
    if (config["MESSAGE_QUEUE"] and config["RATELIMIT_ENABLED"]
            and config["RATELIMIT_STORAGE_URI"].startswith("memory://")):
        log.warning("SENDAPP_MESSAGE_QUEUE is set, so several server processes may share the "
                    "load, but SENDAPP_RATELIMIT_STORAGE is memory://: each process counts "
                    "its own rate limits, which multiplies every limit by the number of "
                    "processes. Set SENDAPP_RATELIMIT_STORAGE to a shared redis:// URL.")


def url_host(host):
    """Put an IPv6 address in brackets for a URL."""
    return f"[{host}]" if ":" in host else host


def browser_urls(host, port):
    """The URLs to open: localhost, and every LAN address when listening on all interfaces."""
    if host in ("0.0.0.0", "::", ""):
        lan = [a for a in tls.local_addresses() if host == "::" or ":" not in a]
        hosts = ["localhost", *lan]
    elif host in ("127.0.0.1", "::1", "localhost"):
        hosts = ["localhost", host] if host != "localhost" else [host]
    else:
        hosts = [host]
    return [f"https://{url_host(h)}:{port}" for h in hosts]


def print_banner(host, port, cert_path):
    """Tell the operator where to point browsers and which certificate to trust."""
    print("Open SendApp at:")
    for url in browser_urls(host, port):
        print(f"  {url}")
    authority = tls.authority_path(cert_path)
    if authority is None or tls.can_sign_certificates(cert_path):
        print(f"Certificate: {cert_path}")
        print(f"  SHA-256 {tls.certificate_fingerprint(cert_path)}")
        print("  It can vouch for any site once trusted: run `flask --app app cert --force` and "
              "install the ca.pem it makes instead.")
    else:
        print(f"Certificate to install on phones: {authority}")
        print(f"  SHA-256 {tls.certificate_fingerprint(authority)}")
    if host in ("0.0.0.0", "::"):
        missing = set(tls.local_addresses()) - set(tls.certificate_sans(cert_path))
        if missing:
            print(f"  Not covered: {', '.join(sorted(missing))} (did the address change?); "
                  "run `flask --app app cert --force` and reinstall the certificate.")


def listen(host, port, cert_path, key_path):
    """Bind the TLS listening socket (SO_REUSEADDR only, so a second server cannot share it)."""
    from eventlet.green import ssl as green_ssl

    family, kind, proto, _name, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and hasattr(socket, "IPV6_V6ONLY"):
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # "::" takes IPv4 too
    sock.bind(address)
    sock.listen(LISTEN_BACKLOG)
    context = green_ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.load_cert_chain(str(cert_path), str(key_path))
    return context.wrap_socket(sock, server_side=True)


class _AdmittingListener:
    """The listening socket, handing eventlet.wsgi only connections that Admission let in."""

    def __init__(self, sock, admission):
        self._sock = sock
        self._admission = admission
        self._notices = Notices(log)
        self._closed = False

    def close(self):
        """Stop accepting: new connections are refused, while the accept loop stays parked.

        Ending the accept loop instead would run eventlet.wsgi's shutdown, which closes every
        idle connection at once, WebSockets included (they mark themselves idle), before the
        acks of the sends in hand are out; `drain` ends it later.
        """
        self._closed = True
        self._sock.close()

    def accept(self):
        import eventlet

        while True:
            if self._closed:
                _park()
            try:
                client, address = self._sock.accept()
            except OSError as error:
                if self._closed:  # closed under the waiting accept (eventlet's IOClosed)
                    _park()
                if error.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                self._notices.note("accept", "cannot accept connections: %s", error.strerror)
                eventlet.sleep(0.1)  # let connections end rather than spin on the backlog
                continue
            if self._admission.admit(client, address):
                _no_delay(client)
                return client, address
            try:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            client.close()  # a reset, now: the client learns at once instead of hanging

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _park():
    """Wait until killed (the accept loop of a closed listener, see _AdmittingListener.close)."""
    import eventlet.event

    eventlet.event.Event().wait()


def _no_delay(client):
    """Send small writes at once: an ack or a relayed message is one small TLS record, and
    Nagle's algorithm would hold it until the client's delayed ACK (about 40 ms)."""
    try:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # not TCP (a test's socket pair) or already closed
        pass


def edge_pool(admission):
    """A GreenPool that tells Admission when a connection's greenthread has ended.

    Admission bounds the connections; the pool only needs room for connections that were
    closed for room and have not finished unwinding yet, so it never blocks the accept loop.
    """
    import eventlet

    class EdgePool(eventlet.GreenPool):
        def spawn(self, function, *args, **kwargs):
            thread = super().spawn(function, *args, **kwargs)
            sock = args[0][1]  # eventlet.wsgi passes [address, socket, state]
            thread.link(lambda _thread: admission.release(sock))
            return thread

    return EdgePool(2 * admission.total + 64)


def tls_protocol(admission, header_timeout, idle_timeout, socket_threads=None):
    """Build eventlet's HTTP protocol with a quiet TLS handshake and header/idle deadlines.

    - TLS handshake and the first request header must be done `header_timeout` seconds
      after the connection was accepted; a kept-alive connection must send its next
      request header within `idle_timeout` seconds of the last response. Requests being
      answered (a long-poll, a WebSocket, an upload) have no such deadline.
    - Browsers that do not trust the self-signed certificate yet abort the handshake;
      that is routine, so it gets one log line instead of a traceback.
    - A request whose body the application did not read closes its connection instead of
      eventlet reading (up to Content-Length, any size) the rest to keep it alive.
    - The access log names the client sendapp/proxies.py found (X-Forwarded-For counts
      only from a trusted proxy); TLS lines before any request name the TCP peer.
    - While a connection answers a Socket.IO request (a WebSocket, a long-poll) its
      greenthread is in `socket_threads`, so a drain can drop exactly those (`drain`).
    """
    import eventlet
    import eventlet.wsgi

    access = logging.getLogger(ACCESS_LOGGER)

    class EdgeProtocol(eventlet.wsgi.HttpProtocol):
        _timer = None
        # A connection keeps its HTTP buffers for its whole life, a WebSocket's too (it
        # reads and writes the socket directly): eventlet's 8 + 16 KB cost about 12 KB of
        # each idle socket's RSS (docs/BENCHMARKS.md). Larger reads and writes bypass them.
        rbufsize = wbufsize = HTTP_BUFFER_BYTES

        def handle(self):
            self.close_connection = 1
            deadline = admission.accepted_at(self.request) + header_timeout
            if not self._handshake(deadline):
                return
            try:
                while True:
                    if not self._one_request(deadline):
                        break
                    if self.conn_state[2] == eventlet.wsgi.STATE_CLOSE or self.close_connection:
                        break
                    self.conn_state[2] = eventlet.wsgi.STATE_IDLE
                    deadline = time.monotonic() + idle_timeout
            except ssl.SSLError as error:  # a client breaking TLS mid-connection
                self.close_connection = 1
                access.info("%s TLS error: %s", self.client_address[0], _reason(error))
            except ValueError:  # "Read on closed or unwrapped SSL socket": the server is stopping
                if self.conn_state[2] != eventlet.wsgi.STATE_CLOSE:
                    raise
                self.close_connection = 1

        def _handshake(self, deadline):
            timer = eventlet.Timeout(max(deadline - time.monotonic(), 0))
            try:
                self.connection.do_handshake()
                return True
            except eventlet.Timeout as expired:
                if expired is not timer:
                    raise
                access.debug("%s TLS handshake timed out", self.client_address[0])
            except OSError as error:  # ssl.SSLError and socket.timeout are OSErrors
                level = logging.DEBUG if _is_probe(error) else logging.INFO
                access.log(level, "%s TLS handshake failed: %s",
                           self.client_address[0], _reason(error))
            finally:
                timer.cancel()
            self.close_connection = 1
            return False

        def _one_request(self, deadline):
            """Serve one request; False when its header did not come in time."""
            admission.set_idle(self.request, True)
            self._timer = timer = eventlet.Timeout(max(deadline - time.monotonic(), 0))
            try:
                self.handle_one_request()
                return True
            except eventlet.Timeout as expired:
                if expired is not timer:
                    raise
                self.close_connection = 1
                access.debug("%s closed: no request header in time", self.client_address[0])
                return False
            finally:
                timer.cancel()
                admission.set_idle(self.request, False)

        def parse_request(self):
            try:
                return super().parse_request()
            finally:  # the header is in: no deadline while the request is answered
                self._timer.cancel()
                admission.set_idle(self.request, False)

        def get_environ(self):
            """The environ, then only what eventlet still reads of the parsed header block
            (Connection, when it answers): a WebSocket keeps its request for its whole life,
            and the block plus eventlet's `headers_raw` copy cost about 2.5 KB per socket."""
            environ = super().get_environ()
            del environ["headers_raw"]  # eventlet's extension; nothing here reads it
            self.headers = {"Connection": self.headers.get("Connection", "")}
            return environ

        def get_client_address(self):
            """The client for the access log: REMOTE_ADDR as sendapp/proxies.py left it (the
            forwarded client only from a trusted proxy), never a raw X-Forwarded-For."""
            host, port = eventlet.wsgi.addr_to_host_port(self.client_address)
            environ = getattr(self, "environ", None) or {}
            return environ.get("REMOTE_ADDR", host), port

        def finish(self):
            try:
                super().finish()
            except OSError as error:  # flushing to a client that already left
                access.debug("%s left: %s", self.client_address[0], _reason(error))
                self.connection.close()

        def handle_one_response(self):
            application, body = self.application, self.environ["eventlet.input"]

            def close_if_body_unread(environ, start_response):
                def start(status, headers, exc_info=None):
                    if body.chunked_input or body.position < (body.content_length or 0):
                        self.close_connection = 1  # eventlet then sends Connection: close
                    return start_response(status, headers, exc_info)

                return application(environ, start)

            self.application = close_if_body_unread
            realtime = socket_threads is not None and \
                self.environ.get("PATH_INFO", "").startswith(SOCKET_PATH)
            if realtime:
                socket_threads.add(eventlet.getcurrent())
            try:
                super().handle_one_response()
            finally:
                if realtime:
                    socket_threads.discard(eventlet.getcurrent())
            if body.chunked_input or body.position < (body.content_length or 0):
                self.close_connection = 1  # read after the response started: still never drain it

    def serve_connection(conn_state, server):
        """What eventlet calls per connection; a class call here would re-enter the C eval
        loop under every parked WebSocket (sendapp/wsgi_stack.py), a method call does not."""
        protocol = EdgeProtocol.__new__(EdgeProtocol)
        protocol.__init__(conn_state, server)

    return serve_connection


def _is_probe(error):
    """A client that connected and left without a word (port check, closed tab)."""
    return isinstance(error, (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError))


def _reason(error):
    """One short reason, e.g. SSLV3_ALERT_BAD_CERTIFICATE or HTTP_REQUEST (plain HTTP)."""
    return getattr(error, "reason", None) or error.__class__.__name__


def connection_limit(wanted):
    """Raise the open-file limit as far as allowed; return how many connections it has room for."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted + FD_RESERVE)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    room = wanted if soft == resource.RLIM_INFINITY else min(wanted, soft - FD_RESERVE)
    if room < wanted:
        log.warning("the open-file limit (%d) allows %d connections, not %d "
                    "(SENDAPP_MAX_CONNECTIONS); raise `ulimit -n`", soft, room, wanted)
    return max(room, 1)


def serve(sock, stop_requested):
    """Serve until a stop is requested, then drain (`drain`) and return the exit code."""
    import eventlet
    import eventlet.wsgi

    config = app.config
    admission = Admission(connection_limit(config["MAX_CONNECTIONS"]),
                          config["MAX_CONNECTIONS_PER_IP"], log, config["TRUSTED_PROXIES"])
    pool = edge_pool(admission)
    socket_threads = set()
    protocol = tls_protocol(admission, config["HEADER_TIMEOUT"], config["IDLE_TIMEOUT"],
                            socket_threads)
    listener = _AdmittingListener(sock, admission)
    server = eventlet.spawn(
        eventlet.wsgi.server, listener, flat(app),
        log=logging.getLogger(ACCESS_LOGGER), log_format=ACCESS_FORMAT, protocol=protocol,
        custom_pool=pool, debug=False,  # never send tracebacks to clients
    )
    host, port = config["HOST"], config["PORT"]
    print(f"SendApp ready on https://{url_host(host)}:{port}", flush=True)
    while not stop_requested() and not server.dead:
        eventlet.sleep(STOP_POLL)
    if server.dead:
        server.wait()  # re-raises what stopped the accept loop
        return 1
    drain(server, listener, pool, socket_threads)
    return 0


def drain(server, listener, pool, socket_threads):
    """Stop so that a proxy in front loses nothing: readiness first, then the listener, then
    the sockets once every send in hand has its ack; bounded by DRAIN_DELAY + SHUTDOWN_GRACE.

    1. /readyz answers 503 "draining"; for SENDAPP_DRAIN_DELAY seconds (default 0) nothing
       else changes, so a load balancer polling /readyz stops sending new connections.
    2. The listening socket closes: new connections are refused and go to another process;
       open ones stay (a long-polling client's next request comes on its kept-alive one).
    3. New sends are answered `retry`; the sends in hand finish (committed, then acked) and
       their acks leave.
    4. Socket.IO connections are dropped. No Engine.IO CLOSE packet: clients treat it as
       "the server sent us away" and python-socketio then stays disconnected; a dropped
       connection makes every client reconnect (through the proxy, to another process),
       sync, and resend its outbox with the same cids.
    5. Other requests get the rest of the grace, then their connections are dropped too.
    """
    import eventlet
    from eventlet.support.greenlets import GreenletExit

    from sendapp.edge import unsent_packets
    from sendapp.health.readiness import readiness
    from sendapp.load import sends_in_hand

    readiness(app).drain()
    delay = app.config["DRAIN_DELAY"]
    log.info("stopping: /readyz answers 503%s", f"; closing in {delay:g} s" if delay else "")
    eventlet.sleep(delay)
    listener.close()
    in_hand = sends_in_hand(app)
    in_hand.close()
    deadline = time.monotonic() + SHUTDOWN_GRACE
    _wait_until(lambda: in_hand.count == 0, deadline)
    flushed = _wait_until(lambda: unsent_packets(socketio.server) == 0,
                          min(deadline, time.monotonic() + FLUSH_SHARE))
    eventlet.sleep(ACK_WRITE_PAUSE)
    dropped = list(socket_threads)
    for thread in dropped:
        thread.kill()
    log.info("stopped accepting; %d Socket.IO connections dropped%s", len(dropped),
             "" if in_hand.count == 0 and flushed else
             f" ({in_hand.count} sends still in hand, some acks unsent)")
    server.kill()  # eventlet.wsgi's own shutdown: closes idle connections, waits for the pool
    with eventlet.Timeout(max(deadline - time.monotonic(), 0), False):
        pool.waitall()
    for thread in list(pool.coroutines_running):
        thread.kill()
    try:
        server.wait()
    except (GreenletExit, OSError):  # OSError: the closed listener's (eventlet's IOClosed)
        pass


def _wait_until(condition, deadline, pause=0.02):
    """Poll `condition` until it holds or the deadline passes; answers whether it held."""
    import eventlet

    while not condition():
        if time.monotonic() >= deadline:
            return False
        eventlet.sleep(pause)
    return True


def fast_websocket_unmasking():
    """Have eventlet's WebSocket unmask client frames with sendapp.websocket_mask (its own
    loop costs a fifth of the CPU of each message)."""
    import eventlet.websocket

    from sendapp.websocket_mask import unmask

    eventlet.websocket.RFC6455WebSocket._apply_mask = staticmethod(unmask)


def websocket_write_now():
    """sendapp.websocket_writer's `write_now` for eventlet's WebSocket: the frames queued on
    a socket leave in one write, from the task that queued them, when the socket takes
    them without waiting. Before, each burst started a greenthread to write it (and each
    frame was its own TLS record): in a message's open-loop life, up to three greenthreads that
    did nothing but one small write each (docs/BENCHMARKS.md).

    The socket's send lock is held from the first try to the last byte, so frames never
    interleave; a TLS write that would wait is finished by the socket's writer task with
    the same bytes, as OpenSSL requires of a retried write. The server speaks only TLS;
    any other socket is left to the writer task."""
    from eventlet.green.ssl import GreenSSLSocket

    def write_now(ws, frames):
        data = b"".join(ws._pack_message(frame) for frame in frames)
        sock, lock = ws.socket, ws._sendlock
        if not isinstance(sock, GreenSSLSocket) or not lock.acquire(blocking=False):
            return lambda: ws._send(data)  # the writer task writes it, in its turn
        try:
            sent = super(GreenSSLSocket, sock).send(data)  # the stdlib's: never waits
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            sent = 0
        except BaseException:
            lock.release()
            raise
        if sent == len(data):
            lock.release()
            return None

        def rest():
            try:
                ws.socket.sendall(data[sent:])
            finally:
                lock.release()

        return rest

    return write_now


GC_PAUSE_NOTICE = 0.05  # seconds: a garbage collection this long shows in every latency
GC_REPORT_EVERY = 1.0  # seconds between logging the long collections recorded meanwhile


def log_long_collections(start=None, sleep=None):
    """Log each garbage collection that stopped the server for GC_PAUSE_NOTICE or more.

    With thousands of sockets open a full collection walks every one of their objects
    while nothing else runs; this makes those pauses visible (docs/BENCHMARKS.md).
    The collector's callback only records a pause and a task logs it: the callback runs
    inside whatever allocation started the collection, and a log record asks for the
    current thread. Inside eventlet's own registration of the current greenthread, that
    registered it twice, and its exit then failed with a KeyError (seen under load).
    """
    started, pauses = {}, collections.deque(maxlen=1000)

    def note(phase, info):
        if phase == "start":
            started["at"] = time.perf_counter()
        elif "at" in started:
            seconds = time.perf_counter() - started.pop("at")
            if seconds >= GC_PAUSE_NOTICE:
                generation = info["generation"]
                pauses.append((generation, seconds, len(gc.get_objects(generation))))

    def report():
        while True:
            (sleep or socketio.sleep)(GC_REPORT_EVERY)
            while pauses:
                generation, seconds, tracked = pauses.popleft()
                log.info("garbage collection of generation %d paused the server %.0f ms "
                         "(%d objects tracked)", generation, seconds * 1000, tracked)

    gc.callbacks.append(note)
    (start or socketio.start_background_task)(report)
    return note


def freeze_survivors(every, thaw_every, start=None, sleep=None):
    """Keep objects that lived `every` seconds out of the garbage collector's walks, and let it
    see everything once each `thaw_every` seconds.

    With thousands of sockets open, each full collection walks every socket's objects (0.6 s
    and more at 1,000 sockets) and messages in flight trigger one every second or two.
    gc.freeze() moves what is tracked now into the generation no collection walks: reference
    counting still frees it, but a cycle among frozen objects waits for the next thaw, which
    unfreezes and runs one full collection (docs/BENCHMARKS.md).
    """
    loop = frozen_survivors_loop(every, thaw_every, sleep or socketio.sleep)
    (start or socketio.start_background_task)(loop)


def timer_pings():
    """Have Engine.IO ping each socket from a timer instead of a sleeping greenthread.

    python-engineio keeps one greenthread per socket asleep for the whole ping interval,
    and a started greenthread holds its own stacks (CPython's frame chunk alone is 16 KB);
    a timer holds a not-yet-started greenthread until the ping is due (docs/BENCHMARKS.md).
    The ping itself is engineio's `Socket._send_ping` after its sleep.
    """
    import eventlet
    from engineio import packet
    from engineio.socket import Socket

    def ping_now(sock):
        if not sock.closing and not sock.closed:
            sock.last_ping = time.time()
            sock.send(packet.Packet(packet.PING))

    def schedule_ping(sock):
        if sock.last_ping:  # only after the previous ping was answered, as engineio does
            sock.last_ping = None
            eventlet.spawn_after(sock.server.ping_interval, ping_now, sock)

    Socket.schedule_ping = schedule_ping


def queue_answers(url):
    """Refuse to start (one line on stderr) when a Redis queue is set but does not answer
    within QUEUE_START_WAIT seconds: a process would otherwise say "ready", ack sends, and
    relay none of them to the other processes."""
    if not message_queue.is_redis_url(url):
        return True
    reason = message_queue.wait_for_queue(url, QUEUE_START_WAIT)
    if reason is None:
        return True
    print(f"The message queue {message_queue.safe_url(url)} (SENDAPP_MESSAGE_QUEUE) does not "
          f"answer after {QUEUE_START_WAIT} s: {reason}. Start Redis, or correct or unset "
          "SENDAPP_MESSAGE_QUEUE.", file=sys.stderr, flush=True)
    return False


def main():
    """Run the server: certificate, migrations, listen, serve until SIGINT/SIGTERM."""
    configure_logging()
    fast_websocket_unmasking()
    timer_pings()
    websocket_writer.install(websocket_write_now())
    signals = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _frame: signals.append(number))
    if app.config["ASYNC_MODE"] != "eventlet":
        print("app.py serves with eventlet; set SENDAPP_ASYNC_MODE=eventlet or use "
              "another server for this async mode.", file=sys.stderr)
        return 2
    if not queue_answers(app.config["MESSAGE_QUEUE"]):
        return 1
    host, port = app.config["HOST"], app.config["PORT"]
    cert_path, key_path, created = tls.ensure_certificate(app.config["CERT_DIR"])
    if created:
        print("Created a certificate and its CA (ca.pem) for: "
              + ", ".join(tls.certificate_sans(cert_path)))
    migrate_database()
    configure_logging()  # again: Alembic's logging setup disables the app's loggers
    warn_per_process_limits(app.config)
    try:
        sock = listen(host, port, cert_path, key_path)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        print(f"Port {port} on {host} is in use: is SendApp already running? "
              "Set SENDAPP_PORT to use another port.", file=sys.stderr)
        return 1
    print_banner(host, port, cert_path)
    # What start-up made (modules, app, tables' metadata) lives until exit: keep it out of
    # every later garbage collection, which otherwise walks it again and again under load.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*app.config["GC_THRESHOLDS"])
    log_long_collections()
    if app.config["GC_FREEZE_SECONDS"] > 0:
        freeze_survivors(app.config["GC_FREEZE_SECONDS"], app.config["GC_THAW_SECONDS"])
    message_queue.start_listening(socketio.server)
    code = 0 if signals else serve(sock, lambda: bool(signals))
    with app.app_context():
        close_writer()
        db.session.remove()
        db.engine.dispose()
    print("SendApp stopped", flush=True)
    return code


def exit_now(code):
    """Leave without interpreter teardown, which would wait out sleeping greenthreads' timers.

    Engine.IO keeps a ping greenthread per past connection asleep for up to
    the ping interval; finalising them at exit stalls the process for seconds.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
