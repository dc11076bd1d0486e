"""The WSGI layers a WebSocket parks inside stay flat (sendapp/wsgi_stack.py).

A call to an instance re-enters CPython's C eval loop; under a parked greenthread that C
frame is copied aside for the socket's whole life. The first test shows that cost on the
interpreter and greenlet this project pins, the others that every layer of the real app
is called flat.
"""
import tracemalloc
import types

import greenlet

from sendapp.extensions import socketio
from sendapp.wsgi_stack import SocketIOInPlace, flat

LAYERS = 6
PARKED = 100


class Layer:
    def __init__(self, inner):
        self.inner = inner

    def __call__(self, value):
        return self.inner(value)


def saved_stack_per_greenlet(entry):
    """Bytes greenlet allocates per greenlet parked (switched away from) inside `entry`."""
    main = greenlet.getcurrent()

    def park(value):
        return main.switch(value)

    callable_ = entry(park)
    parked = [greenlet.greenlet(callable_) for _ in range(PARKED)]
    tracemalloc.start()
    try:
        for each in parked:
            each.switch(1)
        size, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        for each in parked:
            each.switch(None)  # let every greenlet end
    assert all(each.dead for each in parked)
    return size / PARKED


def nested(wrapper):
    def build(innermost):
        layer = innermost
        for _ in range(LAYERS):
            layer = wrapper(Layer(layer))
        return layer

    return build


def test_instance_layers_cost_saved_stack_and_flat_ones_do_not():
    bare = saved_stack_per_greenlet(lambda park: park)
    as_instances = saved_stack_per_greenlet(nested(lambda layer: layer))
    as_methods = saved_stack_per_greenlet(nested(flat))
    assert as_instances - bare > LAYERS * 400
    assert as_methods - bare < LAYERS * 100


def test_flat_keeps_functions_and_methods_and_binds_instances():
    def function(environ, start_response):
        return []

    layer = Layer(function)
    assert flat(function) is function
    assert flat(layer.__call__) == layer.__call__
    bound = flat(layer)
    assert isinstance(bound, types.MethodType) and bound.__self__ is layer


def test_every_layer_of_the_app_down_to_flask_is_called_flat(app):
    layers, current = [], app.wsgi_app
    while getattr(current, "__self__", app) is not app:
        assert isinstance(current, (types.FunctionType, types.MethodType)), current
        layers.append(type(current.__self__).__name__)
        current = current.__self__.wsgi_app
        assert len(layers) < 20
    assert current.__func__ is type(app).wsgi_app  # Flask's own, reached
    assert layers[:3] == ["TrustedProxies", "SecurityHeaders", "EngineIOGate"]
    assert layers[3:] == ["SocketIOInPlace"]  # in place of Flask-SocketIO's own


def test_engineio_gets_its_websocket_handler_as_a_bound_method(app):
    make_websocket = socketio.server.eio._async["websocket"]
    websocket = make_websocket(lambda ws: None, socketio.server.eio)
    assert isinstance(websocket, types.MethodType)
    assert websocket.__name__ == "__call__"


def test_socketio_gets_the_environ_itself_with_the_flask_app(app):
    class Recorder:
        def handle_request(self, environ, start_response):
            seen.append(environ)
            return [b"engine.io"]

    seen = []
    middleware = type("Like", (), {"engineio_app": Recorder(), "wsgi_app": None,
                                   "engineio_path": "/socket.io/", "flask_app": app})()
    environ = {"PATH_INFO": "/socket.io/", "QUERY_STRING": "EIO=4&transport=polling"}
    assert SocketIOInPlace(middleware)(environ, None) == [b"engine.io"]
    assert seen == [environ] and seen[0] is environ and environ["flask.app"] is app
