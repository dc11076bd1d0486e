"""SendApp's benchmark harness (`make bench`, `python -m bench --help`); see docs/BENCHMARKS.md.

It starts the real server (`python app.py`: eventlet, TLS) pinned to one core and a bare
Flask-SocketIO relay (bench/bare_relay.py) with the same async mode and certificate, and
drives both from this process, pinned to the other core, with real users (registered
through the API by `sendapp.client`) and real PROTOCOL §5 envelopes sealed with
`sendapp.crypto` before each timed part. Sockets speak Engine.IO 4 / Socket.IO 5 directly
over aiohttp WebSockets (bench/wire.py) so the generator stays far from saturation; it
reports its own CPU use next to every figure.

A bare Node socket.io relay (bench/bare_relay.mjs) gives the protocol's ceiling next to
the stack's.

Modules: `wire` (the minimal Socket.IO client over WebSockets), `polling` (its
long-polling transport), `targets` (start, measure and stop the servers, PostgreSQL
scratch databases), `people` (users, friendships, envelope pools), `groups` (a group's
members and its §9.4 envelope pools), `scenarios` (what is measured), `group_scenario`
(the group's members all online, a few sending), `browser` (the browser-side crypto
figures, in Chromium), `outbox` (resending `retry` nacks in the overload scenario),
`measure` (which scenarios run against which server), `report` (medians, table, targets,
compare), `run` (the command).
"""
