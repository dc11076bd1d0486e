"""Admission control (who may hold a connection), without a server process."""
import logging
import socket

import pytest

from sendapp.admission import Admission, address_key


@pytest.fixture
def sockets():
    """Connected socket pairs; the server ends are what Admission sees."""
    pairs = []

    def make():
        pair = socket.socketpair()
        pairs.append(pair)
        return pair

    yield make
    for pair in pairs:
        for end in pair:
            end.close()


@pytest.mark.parametrize("host, key", [
    ("192.0.2.7", "192.0.2.7"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::9%eth0", "2001:db8:1:2::/64"),
    ("fe80::1", "fe80::/64"),
])
def test_addresses_are_grouped_by_household(host, key):
    assert address_key(host) == key


def closed(peer):
    peer.settimeout(1)
    return peer.recv(1) == b""


def test_address_at_its_cap_makes_room_by_closing_its_oldest_idle_connection(sockets):
    admission = Admission(total=100, per_address=2, logger=logging.getLogger("test"))
    (first, first_peer), (second, _), (third, _) = sockets(), sockets(), sockets()
    assert admission.admit(first, ("192.0.2.1", 1))
    assert admission.admit(second, ("192.0.2.1", 2))
    assert admission.admit(third, ("192.0.2.1", 3))
    assert closed(first_peer) and len(admission) == 2


def test_busy_connections_are_never_closed_for_room_and_a_newcomer_is_refused(sockets):
    admission = Admission(total=100, per_address=2, logger=logging.getLogger("test"))
    busy = [sockets()[0] for _ in range(2)]
    for number, sock in enumerate(busy):
        assert admission.admit(sock, ("192.0.2.1", number))
        admission.set_idle(sock, False)
    assert not admission.admit(sockets()[0], ("192.0.2.1", 9))
    assert admission.admit(sockets()[0], ("192.0.2.2", 1))  # another household is welcome


def test_full_server_closes_an_idle_connection_of_the_address_holding_the_most(sockets):
    admission = Admission(total=3, per_address=10, logger=logging.getLogger("test"))
    (mine, mine_peer), (flood_a, flood_a_peer), (flood_b, _) = sockets(), sockets(), sockets()
    assert admission.admit(mine, ("192.0.2.1", 1))
    assert admission.admit(flood_a, ("198.51.100.9", 1))
    assert admission.admit(flood_b, ("198.51.100.9", 2))
    assert admission.admit(sockets()[0], ("203.0.113.5", 1))
    assert closed(flood_a_peer)
    mine_peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        mine_peer.recv(1)  # still open


def test_released_connections_free_their_place(sockets):
    admission = Admission(total=1, per_address=1, logger=logging.getLogger("test"))
    sock = sockets()[0]
    assert admission.admit(sock, ("192.0.2.1", 1))
    admission.set_idle(sock, False)
    assert not admission.admit(sockets()[0], ("192.0.2.1", 2))
    admission.release(sock)
    assert admission.admit(sockets()[0], ("192.0.2.1", 3))


def test_trusted_proxy_is_held_to_the_total_only(sockets):
    """Behind a reverse proxy every client arrives from the proxy's address (sendapp/proxies.py):
    the per-address cap would cap the whole site, so the proxy limits per client itself."""
    from sendapp.proxies import TrustedNetworks

    admission = Admission(total=4, per_address=2, logger=logging.getLogger("test"),
                          unlimited=TrustedNetworks.parse("10.0.0.5"))
    for number in range(4):
        sock = sockets()[0]
        assert admission.admit(sock, ("10.0.0.5", number))
        admission.set_idle(sock, False)
    assert not admission.admit(sockets()[0], ("10.0.0.5", 9))  # the total still holds
    stranger = Admission(total=4, per_address=2, logger=logging.getLogger("test"),
                         unlimited=TrustedNetworks.parse("10.0.0.5"))
    for number in range(2):
        sock = sockets()[0]
        assert stranger.admit(sock, ("10.0.0.6", number))
        stranger.set_idle(sock, False)
    assert not stranger.admit(sockets()[0], ("10.0.0.6", 9))  # others keep their cap
