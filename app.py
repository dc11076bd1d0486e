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

import errno
import logging
import logging.config
import os
import re
import signal
import socket
import ssl
import sys
from pathlib import Path

import flask_migrate

from sendapp import create_app, tls
from sendapp.config import Config
from sendapp.extensions import db, socketio


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
MAX_CONNECTIONS = 1024
LISTEN_BACKLOG = 128
HANDSHAKE_TIMEOUT = 10  # seconds a client may take to finish TLS before it is dropped
SHUTDOWN_GRACE = 3  # seconds in-flight requests get after SIGTERM/SIGINT
STOP_POLL = 0.2  # seconds between checks for a stop signal


class _DropQueryStrings(logging.Filter):
    """Cut query strings from access-log request lines: engine.io puts session ids there."""

    _QUERY = re.compile(r'("[A-Z]+ [^ ?"]*)\?[^ "]*')

    def filter(self, record):
        if isinstance(record.msg, str) and not record.args:
            record.msg = self._QUERY.sub(r"\1", record.msg)
        return True


def configure_logging():
    """Log to stderr; also re-enables loggers that Alembic's fileConfig switched off."""
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "filters": {"no_query": {"()": _DropQueryStrings}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain",
                                "stream": "ext://sys.stderr"}},
        "loggers": {ACCESS_LOGGER: {"filters": ["no_query"]}},
        "root": {"level": "INFO", "handlers": ["stderr"]},
    })


def migrate_database():
    """Apply pending migrations (AUTO_MIGRATE) so an upgraded checkout just runs."""
    if not app.config["AUTO_MIGRATE"]:
        return
    migrations = Path(app.extensions["migrate"].directory)
    with app.app_context():
        if migrations.is_dir():
            flask_migrate.upgrade()
        else:  # a checkout without migrations/ (never in a release): plain tables
            log.warning("no migrations folder at %s; creating tables directly", migrations)
            db.create_all()


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
    print(f"Certificate: {cert_path}")
    print(f"  SHA-256 {tls.certificate_fingerprint(cert_path)}")
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
    context.load_cert_chain(str(cert_path), str(key_path))
    return context.wrap_socket(sock, server_side=True)


def tls_protocol():
    """Build eventlet's HTTP protocol with an explicit, quiet TLS handshake.

    Browsers that do not trust the self-signed certificate yet abort the
    handshake; that is routine, so it gets one log line instead of a traceback.
    """
    import eventlet.wsgi

    access = logging.getLogger(ACCESS_LOGGER)

    class QuietTLSProtocol(eventlet.wsgi.HttpProtocol):
        def handle(self):
            try:
                self.connection.settimeout(HANDSHAKE_TIMEOUT)
                self.connection.do_handshake()
                self.connection.settimeout(self.server.socket_timeout)
            except OSError as error:  # ssl.SSLError and socket.timeout are OSErrors
                self.close_connection = 1
                level = logging.DEBUG if _is_probe(error) else logging.INFO
                access.log(level, "%s TLS handshake failed: %s",
                           self.client_address[0], _reason(error))
                return
            try:
                super().handle()
            except ssl.SSLError as error:  # a client breaking TLS mid-connection
                self.close_connection = 1
                access.info("%s TLS error: %s", self.client_address[0], _reason(error))

    return QuietTLSProtocol


def _is_probe(error):
    """A client that connected and left without a word (port check, closed tab)."""
    return isinstance(error, (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError))


def _reason(error):
    """One short reason, e.g. SSLV3_ALERT_BAD_CERTIFICATE or HTTP_REQUEST (plain HTTP)."""
    return getattr(error, "reason", None) or error.__class__.__name__


def serve(sock, stop_requested):
    """Serve until a stop is requested, then close sockets and let requests finish briefly."""
    import eventlet
    import eventlet.wsgi
    from eventlet.support.greenlets import GreenletExit

    pool = eventlet.GreenPool(MAX_CONNECTIONS)
    server = eventlet.spawn(
        eventlet.wsgi.server, sock, app, log=logging.getLogger(ACCESS_LOGGER),
        log_format=ACCESS_FORMAT, protocol=tls_protocol(), custom_pool=pool,
        debug=False,  # never send tracebacks to clients
    )
    host, port = app.config["HOST"], app.config["PORT"]
    print(f"SendApp ready on https://{url_host(host)}:{port}", flush=True)
    while not stop_requested() and not server.dead:
        eventlet.sleep(STOP_POLL)
    if server.dead:
        server.wait()  # re-raises what stopped the accept loop
        return 1
    log.info("stopping")
    # No Engine.IO CLOSE packet: clients treat it as "the server sent us away" and python-socketio
    # then stays disconnected. Dropped connections (below, and at exit) make every client
    # reconnect by itself once the server is back.
    server.kill()  # stop accepting
    with eventlet.Timeout(SHUTDOWN_GRACE, False):
        pool.waitall()
    for thread in list(pool.coroutines_running):
        thread.kill()
    try:
        server.wait()
    except GreenletExit:
        pass
    return 0


def main():
    """Run the server: certificate, migrations, listen, serve until SIGINT/SIGTERM."""
    configure_logging()
    signals = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _frame: signals.append(number))
    if app.config["ASYNC_MODE"] != "eventlet":
        print("app.py serves with eventlet; set SENDAPP_ASYNC_MODE=eventlet or use "
              "another server for this async mode.", file=sys.stderr)
        return 2
    host, port = app.config["HOST"], app.config["PORT"]
    cert_path, key_path, created = tls.ensure_certificate(app.config["CERT_DIR"])
    if created:
        print(f"Created a self-signed certificate for: {', '.join(tls.certificate_sans(cert_path))}")
    migrate_database()
    configure_logging()  # again: Alembic's logging setup disables the app's loggers
    try:
        sock = listen(host, port, cert_path, key_path)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        print(f"Port {port} on {host} is in use: is SendApp already running? "
              "Set SENDAPP_PORT to use another port.", file=sys.stderr)
        return 1
    print_banner(host, port, cert_path)
    code = 0 if signals else serve(sock, lambda: bool(signals))
    with app.app_context():
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
