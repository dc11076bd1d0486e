"""With a Redis message queue the app keeps presence in Redis, and the friends API reads it.

A SharedPresence built beside the app plays another server process holding bob's socket.
"""
import pytest

from sendapp.presence.local import LocalPresence
from sendapp.presence.shared import SharedPresence
from support.people import https_client, register
from support.redis_server import RedisServer


@pytest.fixture
def redis_url(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server.url
    server.kill()


def test_the_store_is_chosen_by_the_message_queue(make_app, redis_url):
    assert isinstance(make_app().extensions["sendapp_presence"], LocalPresence)
    for url in (redis_url, redis_url.replace("redis://", "rediss://")):
        shared = make_app(MESSAGE_QUEUE=url).extensions["sendapp_presence"]
        assert isinstance(shared, SharedPresence)


def test_friends_list_shows_a_friend_connected_to_another_process(make_app, make_friends,
                                                                  redis_url):
    app = make_app(MESSAGE_QUEUE=redis_url, PRESENCE_TTL=5)
    alice, bob = register(https_client(app), "alice"), register(https_client(app), "bob")
    make_friends(alice, bob)
    other_process = SharedPresence(redis_url, 5, token="other")
    other_process.beat()
    try:
        assert alice.get("/api/friends").get_json()["friends"][0]["online"] is False
        assert other_process.connected(bob.id, "bob-sid") is True
        assert alice.get("/api/friends").get_json()["friends"][0]["online"] is True
        assert other_process.disconnected(bob.id, "bob-sid") is True
        assert alice.get("/api/friends").get_json()["friends"][0]["online"] is False
    finally:
        app.extensions["sendapp_presence"].stop()
