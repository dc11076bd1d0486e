"""Live side of the Python client: Socket.IO over asyncio (PROTOCOL §8).

`RealtimeClient` runs `sync` from its cursor after every (re)connect, paging
while `more`, then resends its outbox with the same cids, so nothing is lost
and nothing is shown twice. The outbox and the cursor live in memory and, given
`outbox_path`, in a JSON state file written before each emit, so a killed
client resends on its next start.

One module per job, so a new conversation kind adds a module instead of
growing one file (STYLE rule 18):

- `connection`: open, reconnect, emit with an ack; `ssl_context`
- `events`: route server pushes to their job and to `on_event`
- `catchup`: the sync cursor, paging and held live messages
- `inbox`: deliver each message id (and each opened (from, cid)) once (`SeenIds`)
- `opening`: decrypt and check key pins (`IncomingMessage`)
- `outbox`: persist, send, resend, settle acks; replace a refused envelope
- `pairs`: join, typing, read markers and sends to one friend
- `groups`: sends to a group (re-sealed on `stale_members`), typing, read
  markers, admin changes with their `group` message, rosters (§9)
- `state`: the state file (`ClientState`); `errors`: the exceptions
- `client`: `RealtimeClient`, the parts put together
"""
from .client import RealtimeClient
from .connection import ssl_context
from .errors import RealtimeError, SendFailure, StateError
from .groups import Roster
from .inbox import SeenIds
from .opening import IncomingMessage
from .state import ClientState

__all__ = ["ClientState", "IncomingMessage", "RealtimeClient", "RealtimeError", "Roster",
           "SeenIds", "SendFailure", "StateError", "ssl_context"]
