"""Python client for SendApp: the same protocol as the browser, for scripts, bots and tests.

Layers, each usable alone: `http.HttpApi` (the JSON API, cookies and CSRF),
`account.Account` (keys, vault, envelopes; crypto comes from `sendapp.crypto`)
and `realtime.RealtimeClient` (Socket.IO with outbox, sync cursor and dedup).
`python -m sendapp.client --help` is the command line on top.

    api = HttpApi("https://localhost:8443", ca="certs/ca.pem")
    alice = Account.login(api, "alice", password)
    async with RealtimeClient(alice) as live:
        await live.send_text(alice.friend("bob")["id"], "hello")
"""
from .account import Account, AccountError, KeyChangeError, KeyPair
from .http import ApiFailure, HttpApi
from .realtime import (
    ClientState,
    IncomingMessage,
    RealtimeClient,
    RealtimeError,
    SeenIds,
    SendFailure,
    StateError,
)

__all__ = [
    "Account", "AccountError", "ApiFailure", "ClientState", "HttpApi", "IncomingMessage",
    "KeyChangeError",
    "KeyPair", "RealtimeClient", "RealtimeError", "SeenIds", "SendFailure", "StateError",
]
