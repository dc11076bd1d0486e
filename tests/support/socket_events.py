"""Reading what a Flask-SocketIO test client received, for tests/socket."""


def received(sio, name):
    """Payloads of one event name (the test client unwraps single arguments)."""
    payloads = []
    for event in sio.get_received():
        if event["name"] == name:
            args = event["args"]
            payloads.append(args[0] if isinstance(args, list) else args)
    return payloads
