"""The real server on PostgreSQL: migrations on start, then a full exchange and sync."""
import asyncio

from sendapp.client import Account, HttpApi, RealtimeClient
from support.services import scratch_postgres_database
from support.live_server import TEST_KDF_ITERATIONS

PASSWORD = "correct horse battery staple"
WAIT = 30


def test_exchange_and_sync_on_postgresql(start_live_server):
    with scratch_postgres_database() as url:
        server = start_live_server({"SENDAPP_DATABASE_URL": url})
        api = lambda: HttpApi(server.url, ca=str(server.cert_path))  # noqa: E731
        alice = Account.register(api(), "alice", PASSWORD, min_iterations=TEST_KDF_ITERATIONS)
        bob = Account.register(api(), "bob", PASSWORD, min_iterations=TEST_KDF_ITERATIONS)
        alice.api.request_friend("bob")
        bob.api.accept_friend(alice.id)

        async def scenario():
            async with RealtimeClient(alice) as a, RealtimeClient(bob) as b:
                acks = [await a.send_text(bob.id, f"pg {i}", timeout=WAIT) for i in range(5)]
                got = [await b.next_message(WAIT) for _ in range(5)]
                assert [m.text for m in got] == [f"pg {i}" for i in range(5)]
                assert [m.id for m in got] == [ack["id"] for ack in acks]
                assert acks == sorted(acks, key=lambda ack: ack["id"])

        asyncio.run(asyncio.wait_for(scenario(), 120))
        page = bob.api.history(alice.id, limit=10)
        assert [m["cid"] for m in page["messages"]] and len(page["messages"]) == 5
        server.stop()
