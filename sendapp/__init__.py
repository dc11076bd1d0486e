"""SendApp: a self-hosted, end-to-end encrypted web chat. `create_app` wires it."""
from pathlib import Path

from flask import Flask

from .config import ROOT, Config
from .edge import EngineIOGate, StrictPacket, close_unbound_sessions, guard_messages
from .extensions import csrf, db, limiter, login_manager, migrate, socketio
from .wsgi_stack import SocketIOInPlace, flat, wrap


def create_app(config=None):
    """Build the app: config, extensions, blueprints, Socket.IO handlers, CLI.

    :param config: a Config instance, or a dict of overrides on top of the environment.
    """
    settings = config if isinstance(config, Config) else Config()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=settings.INSTANCE_PATH,
    )
    app.config.from_object(settings)
    if isinstance(config, dict):
        app.config.update(config)
    Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)  # database, keys

    from .validation import RowIdConverter

    app.url_map.converters["int"] = RowIdConverter  # before any route is added

    from .blobs.routes import allow_upload_bodies

    app.before_request(allow_upload_bodies)  # before CSRF's check reads any body
    _import_socket_handlers()
    _bind_extensions(app)
    _register_blueprints(app)
    _register_cli(app)

    from .errors import register_error_handlers
    from .security import SecurityHeaders, add_security_headers, refuse_foreign_origin

    register_error_handlers(app)
    app.before_request(refuse_foreign_origin)
    from .blobs.collector import start_periodic

    start_periodic(app)
    app.after_request(add_security_headers)
    wrap(app, SecurityHeaders)  # Engine.IO answers get them too
    from .proxies import TrustedNetworks, TrustedProxies

    if isinstance(app.config["TRUSTED_PROXIES"], str):  # an override as written in the env
        app.config["TRUSTED_PROXIES"] = TrustedNetworks.parse(app.config["TRUSTED_PROXIES"])
    # Outermost: every layer inside sees the client's address, scheme and host.
    wrap(app, TrustedProxies, app.config["TRUSTED_PROXIES"])
    return app


def _import_socket_handlers():
    """Import handler modules before SocketIO.init_app, which copies the handlers it knows
    onto each new server (decorators run after a server exists bind to that server only)."""
    from . import realtime  # noqa: F401
    from .chat import events  # noqa: F401


def _bind_extensions(app):
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    from .i18n.setup import init_i18n

    init_i18n(app)
    packet_limit = 4 * app.config["MAX_CIPHERTEXT_CHARS"] + 65536
    from .message_queue import make_manager

    socketio.init_app(
        app,
        async_mode=app.config["ASYNC_MODE"],
        message_queue=app.config["MESSAGE_QUEUE"],
        # Always given (None: in-process), so no app inherits another's from init_app.
        client_manager=make_manager(app.config["MESSAGE_QUEUE"]),
        max_http_buffer_size=packet_limit,
        ping_interval=20,
        ping_timeout=20,
        serializer=StrictPacket,
        # Not a copy of the cookie session kept per socket (about 1 KB each): connect and
        # disconnect read the handshake's cookie session, other events need no session.
        manage_session=False,
    )
    from . import presence
    from .realtime import bind_events

    presence.init_app(app)

    bind_events(app, socketio.server)
    guard_messages(socketio.server)
    from .load import sends_in_hand, shed_sends

    shed_sends(socketio.server, sends_in_hand(app))
    close_unbound_sessions(socketio.server, app.config["HEADER_TIMEOUT"])
    app.wsgi_app = flat(SocketIOInPlace(app.wsgi_app))  # the one init_app put there
    wrap(app, EngineIOGate, socketio.server.eio, packet_limit)
    from .health.readiness import install

    install(app, socketio.server)
    from .auth import sessions
    from .database import tune

    sessions.configure_login_manager(login_manager)
    with app.app_context():
        tune(db.engine, socketio.sleep, app.config["DB_LOCK_WAIT"])


def _register_blueprints(app):
    from .auth.routes import bp as auth_bp
    from .blobs.routes import bp as blobs_bp
    from .chat.routes import bp as chat_bp
    from .friends.routes import bp as friends_bp
    from .groups.routes import bp as groups_bp
    from .health.routes import bp as health_bp
    from .i18n.routes import bp as i18n_bp
    from .keys.routes import bp as keys_bp
    from .pages.routes import bp as pages_bp

    for blueprint in (auth_bp, friends_bp, keys_bp, groups_bp, chat_bp, blobs_bp, pages_bp,
                      health_bp, i18n_bp):
        app.register_blueprint(blueprint)


def _register_cli(app):
    from .cli import register_cli

    register_cli(app)
