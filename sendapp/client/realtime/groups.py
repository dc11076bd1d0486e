"""Group conversations: what the client says to a group, and what it keeps of each (§9).

The sibling of pairs.py. Sends go through the same outbox as 1:1 envelopes
(persisted, resent, idempotent by cid); a `stale_members` refusal is answered
here by sealing the same plaintext again, with the same cid, for the members
the server now lists (§9.5). Received group envelopes take the kind-neutral
path (catchup → inbox → opening); this module only watches the `group`
messages among them to keep each group's name and roster (§9.3, §9.6).
"""
import asyncio
import logging
from dataclasses import dataclass, field

from .. import groups
from ...group_crypto import read_group_plaintext
from .attachments import read_attachment
from .state import is_id

log = logging.getLogger("sendapp.client")


@dataclass
class Roster:
    """The newest `group` message applied for one group: its name, members and admins (§9.6)."""

    message_id: int = 0
    name: str = ""
    members: list = field(default_factory=list)
    admins: list = field(default_factory=list)
    chosen_by_server: bool = False  # applied because no admin of the old roster was left


class GroupMixin:
    """Group sends, typing and read markers, admin changes with their `group` message.

    Uses from the client: `account`, `api`, `_call`, `_epoch`, `_when_ready` (connection.py),
    `_emit_event` (events.py),
    `queue_envelope`/`wait_acked`/`on_refusal` (outbox.py), `_observe` (inbox.py).
    """

    def _init_groups(self):
        self._groups = {}  # group id → (epoch it was fetched in, §9.2 group object)
        self.rosters = {}  # group id → Roster
        self.on_refusal("stale_members", self._reseal_stale)
        self._observe(self._note_group_message)
        self._when_ready.append(self._compare_groups)

    # --- the server's view of a group --------------------------------------------------------
    async def group(self, group_id, refresh=False):
        """The group as the server lists it (§9.2), fetched once per connection or on `refresh`.

        Kept current by `group` events; a reconnect fetches again, since the
        events missed meanwhile are not replayed (§9.5). While the connection is
        down the last list is used: what it seals waits in the outbox, and a
        stale list is corrected by `stale_members` when it is sent.
        """
        if not is_id(group_id):
            raise ValueError("a group id is a positive integer")
        cached = self._groups.get(group_id)
        outdated = cached is None or (cached[0] != self._epoch and self.connected)
        if refresh or outdated:
            group = await asyncio.to_thread(self.api.group, group_id)
            self._remember_group(group)
            return group
        return cached[1]

    def _remember_group(self, group):
        self._groups[group["id"]] = (self._epoch, group)

    def _on_group_event(self, data):
        """Server → client `group {id, change, user, by, group}` (§9.5): update the cache."""
        if not isinstance(data, dict) or not is_id(data.get("id")):
            return
        group = data.get("group")
        if isinstance(group, dict) and group.get("id") == data["id"]:
            self._remember_group(group)
        else:  # null: I am no longer a member (or the group is gone)
            self._groups.pop(data["id"], None)

    async def _compare_groups(self, epoch):
        """After a reconnect: fetch GET /api/groups and tell `on_event` what changed (§9.5).

        The `group` events missed while offline are not replayed, so the application
        hears `groups_changed {changed: [ids], gone: [ids]}` instead. A client that
        never looked at a group skips the request.
        """
        if not self._groups:
            return
        try:
            listing = await asyncio.to_thread(self.api.groups)
        except Exception as exc:  # offline again, or refused: the next reconnect retries
            log.info("could not compare the groups after reconnecting: %s", exc)
            return
        if epoch != self._epoch:
            return
        fresh = {group["id"]: group for group in listing["groups"]}
        changed = sorted(gid for gid, group in fresh.items() if gid in self._groups
                         and _roles(self._groups[gid][1]) != _roles(group))
        gone = sorted(gid for gid in self._groups if gid not in fresh)
        for group in fresh.values():
            if group["id"] in self._groups:
                self._remember_group(group)
        for gid in gone:
            self._groups.pop(gid, None)
        if changed or gone:
            await self._emit_event("groups_changed", {"changed": changed, "gone": gone})

    def group_name(self, group_id):
        """The name of the newest applied `group` message ("" when none or unnamed, §9.3)."""
        roster = self.rosters.get(group_id)
        return roster.name if roster else ""

    async def _known_name(self, group_id):
        """The applied roster's name, else the newest readable one in the group's history."""
        if group_id in self.rosters:
            return self.rosters[group_id].name
        found = await asyncio.to_thread(groups.newest_group_plain, self.account, group_id)
        return found["name"] if found else ""

    async def unconfirmed_members(self, group_id):
        """Members the server lists but no applied roster names: "added, not yet confirmed by
        an admin's device" (§9.6); ask before the first send that wraps for them."""
        listed = groups.member_ids(await self.group(group_id))
        roster = self.rosters.get(group_id)
        if roster is None:
            return set()  # nothing applied yet: the first roster is trusted on first use
        return set(listed) - set(roster.members)

    # --- sending -------------------------------------------------------------------------------
    async def queue_group_plain(self, group_id, plain, confirm_key_change=False):
        """Seal a plaintext for every current member and queue it; return its cid (§9.4)."""
        group = await self.group(group_id)
        envelope = await asyncio.to_thread(groups.seal, self.account, group, plain, None,
                                           confirm_key_change)
        return await self.queue_envelope(envelope)

    async def send_group_plain(self, group_id, plain, timeout=None, confirm_key_change=False):
        """Seal, send and wait for the ack `{ok, id, ts}` (re-sealed on `stale_members`)."""
        cid = await self.queue_group_plain(group_id, plain, confirm_key_change)
        return await self.wait_acked(cid, timeout)

    async def queue_group_text(self, group_id, text):
        """Queue a text message to a group without waiting for the ack; return its cid."""
        return await self.queue_group_plain(group_id, groups.text_plain(text))

    async def send_group_text(self, group_id, text, timeout=None, confirm_key_change=False):
        """Send a text message to a group; return the ack."""
        return await self.send_group_plain(group_id, groups.text_plain(text), timeout,
                                           confirm_key_change)

    async def send_group_file(self, group_id, path_or_bytes, name=None, mime=None,
                              timeout=None):
        """Encrypt and upload an attachment for a group, then send its `file` message."""
        data, name, mime = await read_attachment(path_or_bytes, name, mime)
        group = await self.group(group_id)
        plain = await asyncio.to_thread(groups.upload_file, self.account, group, data, name, mime)
        return await self.send_group_plain(group_id, plain, timeout)

    async def _reseal_stale(self, envelope, error):
        """Outbox replacer for `stale_members`: the same plaintext, same cid, current members.

        The group and every member's keys are fetched again (§9.5); a `group`
        message gets its roster rebuilt from the fresh list, so `members` stays
        the set it is wrapped for (§9.3).
        """
        if not groups.is_group_envelope(envelope):
            return None
        group = await self.group(envelope["g"], refresh=True)
        if sorted(groups.member_ids(group)) != error.details.get("members"):
            log.warning("group %s: the members refused (%s) differ from the members listed now",
                        group["id"], error.details.get("members"))
        for member_id in groups.member_ids(group):
            if member_id != self.account.id:
                self.account.forget_peer(member_id)
        return await asyncio.to_thread(groups.reseal, self.account, envelope, group)

    # --- typing and read markers (§9.5) --------------------------------------------------------
    async def typing_group(self, group_id, on=True):
        """Tell the other members I am (or stopped) typing; not stored."""
        return await self._call("typing", {"group": group_id, "on": bool(on)})

    async def read_group(self, group_id, up_to):
        """Move my read marker of a group forward; every member is told. Answers `{ok, up_to}`."""
        return await self._call("read", {"group": group_id, "up_to": up_to})

    # --- admin changes, each followed by its `group` message (§9.3) -------------------------------
    async def announce_group(self, group_id, name=None, timeout=None, leaving=False):
        """Send the `group` message naming the group and its roster as listed now (§9.3).

        :param name: the name to announce; None keeps the current one (a rename passes it).
        """
        group = await self.group(group_id, refresh=True)
        if name is None:
            name = await self._known_name(group_id)
        plain = groups.roster_plain(self.account, group, name, leaving=leaving)
        return await self.send_group_plain(group_id, plain, timeout)

    async def create_group(self, member_ids, name="", timeout=None):
        """Create a group with these friends, then name it for them; return the group."""
        group = await asyncio.to_thread(self.api.create_group, member_ids)
        self._remember_group(group)
        await self.announce_group(group["id"], name, timeout)
        return group

    async def add_group_member(self, group_id, user_id, timeout=None):
        """Add a friend (admins only), then tell every member, the new one included."""
        self._remember_group(await asyncio.to_thread(self.api.add_group_member, group_id,
                                                     user_id))
        await self.announce_group(group_id, None, timeout)
        return await self.group(group_id)

    async def remove_group_member(self, group_id, user_id, timeout=None):
        """Remove a member (admins only), then tell the remaining members."""
        await asyncio.to_thread(self.api.remove_group_member, group_id, user_id)
        await self.announce_group(group_id, None, timeout)
        return await self.group(group_id)

    async def promote_group_member(self, group_id, user_id, timeout=None):
        """Make a member an admin (admins only), then tell every member."""
        self._remember_group(await asyncio.to_thread(self.api.promote_group_member, group_id,
                                                     user_id))
        await self.announce_group(group_id, None, timeout)
        return await self.group(group_id)

    async def leave_group(self, group_id, timeout=None):
        """Leave a group; as its only admin, first hand the roster to my successor (§9.3)."""
        group = await self.group(group_id, refresh=True)
        me = self.account.id
        others = [m for m in groups.member_ids(group) if m != me]
        if others and groups.admin_ids(group) == [me]:
            await self.announce_group(group_id, None, timeout, leaving=True)
        await asyncio.to_thread(self.api.remove_group_member, group_id, me)
        self._groups.pop(group_id, None)

    # --- rosters from received `group` messages (§9.6) -----------------------------------------
    async def _note_group_message(self, message):
        """Apply a readable `group` message to its group's roster when its sender may set it."""
        if message.group is None or message.kind != "group":
            return
        try:
            update = read_group_plaintext(message.plain)
        except (TypeError, ValueError) as exc:
            log.info("group %s: message %s is not a valid group message: %s",
                     message.group, message.id, exc)
            return
        roster = self.rosters.get(message.group)
        if roster is not None and message.id <= roster.message_id:
            return  # an older roster (e.g. history read late): the newest one counts
        chosen_by_server = False
        if roster is not None and message.sender not in roster.admins:
            listed = await self._listed_admins(message.group)
            if listed is None or set(roster.admins) & listed.get("members", set()) \
                    or message.sender not in listed.get("admins", set()):
                log.info("group %s: a group message from %s, not an admin, is not applied",
                         message.group, message.sender)
                return
            chosen_by_server = True  # no admin of the old roster is left (§9.6)
        self.rosters[message.group] = Roster(message.id, update["name"], update["members"],
                                             update["admins"], chosen_by_server)

    async def _listed_admins(self, group_id):
        """The members and admins the server lists now, or None when it cannot be asked."""
        try:
            group = await self.group(group_id, refresh=True)
        except Exception as exc:  # not a member any more, or offline: apply nothing
            log.info("group %s could not be fetched: %s", group_id, exc)
            return None
        return {"members": set(groups.member_ids(group)), "admins": set(groups.admin_ids(group))}


def _roles(group):
    """What a group change can alter: who is a member, in which role, under which key."""
    return sorted((m["id"], m.get("role"), m.get("key_id")) for m in group["members"])
