"""WSGI layers that a parked WebSocket does not pay for.

A WebSocket's reader stays inside every WSGI layer for the socket's whole life, parked in
`recv`, and eventlet copies the part of the C stack under it aside (greenlet's saved
stack). CPython 3.11 runs a call to a function or a bound method inside the running eval
loop, but a call to an *instance* (`__call__`) or a class (`__init__`) re-enters the C eval
loop: about 730 B more of saved C stack per layer and per idle socket, measured
(docs/BENCHMARKS.md, "Flat WSGI calls"). So layers are stored and passed as bound methods.
"""
import types

import socketio


def flat(wsgi_app):
    """`wsgi_app` as a function or bound method, which CPython calls without a C frame."""
    if isinstance(wsgi_app, (types.FunctionType, types.MethodType)):
        return wsgi_app
    return wsgi_app.__call__


def wrap(app, layer, *args):
    """Put `layer(inner, *args)` around the Flask app's WSGI callable, both kept flat."""
    app.wsgi_app = flat(layer(flat(app.wsgi_app), *args))


class SocketIOInPlace(socketio.WSGIApp):
    """Flask-SocketIO's middleware, minus its copy of the environ.

    Flask-SocketIO's `_SocketIOMiddleware` copies the environ to add `flask.app`; Engine.IO
    keeps that copy for a WebSocket's whole life (about 0.8 KB per socket) beside the one
    eventlet keeps. eventlet builds a new environ per request, so the key is added in place.
    """

    def __init__(self, middleware):
        super().__init__(middleware.engineio_app, middleware.wsgi_app,
                         socketio_path=middleware.engineio_path)
        self.flask_app = middleware.flask_app

    def __call__(self, environ, start_response):
        environ["flask.app"] = self.flask_app
        return super().__call__(environ, start_response)
