"""Command line client: `python -m sendapp.client --server URL --user NAME COMMAND`.

Thin by design: parse, prompt, print. The work is in `Account` and
`RealtimeClient`. Exit codes: 0 done, 1 refused or failed (the message says
why), 2 usage error, 3 server unreachable or TLS failure, 130 interrupted.
"""
import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
import time
import unicodedata
from pathlib import Path

from ..crypto import CryptoError
from . import groups
from .account import MIN_ITERATIONS, Account, AccountError
from .http import ApiFailure, HttpApi
from .realtime import RealtimeClient, RealtimeError, StateError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
HISTORY_PAGE = 200


class CliError(Exception):
    """An expected failure: printed as one line, no traceback."""

    def __init__(self, message, code=EXIT_FAILED):
        super().__init__(message)
        self.code = code


# --- output ------------------------------------------------------------------------------
def safe(text):
    """Neutralise control characters so a friend's message cannot drive the terminal."""
    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else f"\\u{ord(ch):04x}"
        for ch in str(text))


def when(ms):
    if not isinstance(ms, int):
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def message_line(message_id, ts, author, plain, error=None, friend="FRIEND", unverified=False):
    """One printed line for a message (text, file or an undecryptable item)."""
    head = f"#{message_id} {when(ts)} {safe(author)}:"
    if unverified and plain is not None:
        head += " [from an unverified key]"
    if plain is None:
        return f"{head} [{safe(error or 'could not decrypt')}]"
    kind = plain.get("t")
    if kind == "text":
        return f"{head} {safe(plain.get('body', ''))}"
    if kind == "file":
        line = (f"{head} [file] {safe(plain.get('name', '?'))} ({plain.get('size', '?')} bytes, "
                f"{safe(plain.get('mime', '?'))})")
        return line if friend is None else \
            f"{line} -- save it with: download {safe(friend)} {message_id}"
    if kind == "group":
        members = ", ".join(str(m) for m in plain.get("members", []))
        return f"{head} [group] named {safe(plain.get('name', ''))!r}, members: {members}"
    return f"{head} [unsupported message type {safe(kind)!s}]"


def out(line=""):
    print(line, flush=True)


# --- session setup -----------------------------------------------------------------------
def read_password(args, confirm=False):
    """The password from stdin (--password-stdin) or an interactive prompt."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            password = getpass.getpass(f"password for {args.user}: ")
            if confirm and getpass.getpass("again: ") != password:
                raise CliError("the passwords differ")
        except EOFError:
            raise CliError("no password given (use --password-stdin to pipe it)") from None
    if not password:
        raise CliError("the password is empty")
    return password


def make_api(args):
    try:
        return HttpApi(args.server, ca=args.ca, insecure=args.insecure, timeout=args.timeout)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def login(args):
    api = make_api(args)
    account = Account.login(api, args.user, read_password(args),
                            min_iterations=args.min_kdf_iterations)
    return account


def live_client(args, account, **options):
    return RealtimeClient(account, polling=args.polling, outbox_path=args.state,
                          ack_timeout=args.timeout, **options)


def history_messages(account, friend_id, limit, group=False):
    """The newest `limit` envelopes of a conversation, oldest first (HTTP, §7, §9.2)."""
    fetch = account.api.group_history if group else account.api.history
    collected, before = [], None
    while len(collected) < limit:
        page = fetch(friend_id, before=before, limit=min(HISTORY_PAGE, limit - len(collected)))
        collected[:0] = page["messages"]
        if not page["more"] or not page["messages"]:
            break
        before = page["messages"][0]["id"]
    return collected[-limit:] if limit else []


def open_any(account, envelope):
    """The plaintext of a pair (§5) or group (§9.4) envelope; raises as `Account.decrypt`."""
    if groups.is_group_envelope(envelope):
        return groups.open_envelope(account, envelope)
    return account.decrypt(envelope)


def print_envelope(account, envelope, names):
    unverified = False
    try:
        plain, error = open_any(account, envelope), None
        unverified = account.is_unverified(envelope)
    except CryptoError as exc:
        plain, error = None, f"could not decrypt: {exc}"
    except ApiFailure as failure:
        plain, error = None, f"could not decrypt: {failure.message}"
    author = names.get(envelope["from"], f"user {envelope['from']}")
    friend = None if groups.is_group_envelope(envelope) \
        else names.get(account.peer_of(envelope), "FRIEND")
    out(message_line(envelope["id"], envelope.get("ts"), author, plain, error, friend, unverified))


def warn_key_change(account, friend):
    """Say so when a friend's key warning is unanswered (§6)."""
    warning = account.key_warning(friend["id"])
    name = safe(friend["username"])
    if warning and warning["pending"]:
        print(f"warning: {name}'s security key changed; compare safety numbers (`safety {name}`), "
              f"then accept it with `trust {name}`", file=sys.stderr, flush=True)
    elif warning:
        print(f"warning: the server gave a key for {name} that does not match its id; it is "
              "not used", file=sys.stderr, flush=True)


# --- commands -------------------------------------------------------------------------------
def cmd_register(args):
    """Create an account (the password is typed twice when prompted)."""
    api = make_api(args)
    account = Account.register(api, args.user, read_password(args, confirm=True),
                               min_iterations=args.min_kdf_iterations)
    out(f"registered {account.username} (id {account.id}, key {account.current_key_id})")


def cmd_friends(args):
    """List friends and pending requests."""
    account = login(args)
    listing = account.api.friends()
    if not any(listing.values()):
        out("no friends yet: add someone with `add USERNAME`")
    for friend in listing["friends"]:
        status = "online" if friend.get("online") else "offline"
        out(f"{safe(friend['username'])}  ({status}, friends since {when(friend.get('since'))})")
    for item in listing["incoming"]:
        name = safe(item["username"])
        out(f"{name}  (asks to be your friend: `accept {name}`)")
    for item in listing["outgoing"]:
        out(f"{safe(item['username'])}  (request sent, waiting)")


def cmd_add(args):
    """Send a friend request (or accept theirs if they asked first)."""
    account = login(args)
    answer = account.api.request_friend(args.username)
    if answer.get("status") == "accepted":
        out(f"you and {safe(answer['friend']['username'])} are now friends")
    else:
        out(f"friend request sent to {safe(args.username)}")


def cmd_accept(args):
    """Accept a pending friend request."""
    account = login(args)
    request = account.incoming_request(args.username)
    friend = account.api.accept_friend(request["id"])
    out(f"you and {safe(friend['username'])} are now friends")


def cmd_history(args):
    """Print a conversation's latest messages, decrypted."""
    account = login(args)
    friend = account.friend(args.username)
    names = {account.id: account.username, friend["id"]: friend["username"]}
    envelopes = history_messages(account, friend["id"], args.limit)
    if not envelopes:
        out(f"no messages with {safe(friend['username'])} yet")
    for envelope in envelopes:
        print_envelope(account, envelope, names)
    warn_key_change(account, friend)


async def _send(args, account, make_ack):
    live = live_client(args, account, start_at="latest", queue_messages=False)
    await live.connect(timeout=args.timeout)
    try:
        return await make_ack(live)
    except asyncio.TimeoutError:
        where = "it stays in the outbox and is resent on the next run" if args.state \
            else "it may not have been stored (use --state FILE to keep an outbox)"
        raise CliError(f"the server did not acknowledge the message in time; {where}") from None
    finally:
        await live.disconnect()


def cmd_send(args):
    """Send a text message to a friend."""
    account = login(args)
    friend = account.friend(args.username)
    text = " ".join(args.text)
    ack = asyncio.run(_send(args, account, lambda live: live.send_text(
        friend["id"], text, args.timeout, confirm_key_change=args.confirm_key_change)))
    out(f"sent #{ack['id']} to {safe(friend['username'])}")


def cmd_send_file(args):
    """Encrypt, upload and send a file to a friend."""
    path = Path(args.path)
    if not path.is_file():
        raise CliError(f"{path} is not a readable file")
    account = login(args)
    friend = account.friend(args.username)
    ack = asyncio.run(_send(args, account, lambda live: live.send_file(
        friend["id"], path, name=path.name, mime=args.mime, timeout=args.timeout)))
    out(f"sent {safe(path.name)} as #{ack['id']} to {safe(friend['username'])}")


def cmd_download(args):
    """Fetch, decrypt and save the attachment of a message."""
    account = login(args)
    friend = account.friend(args.username)
    page = account.api.history(friend["id"], before=args.message_id + 1, limit=1)
    envelope = next((m for m in page["messages"] if m["id"] == args.message_id), None)
    if envelope is None:
        raise CliError(f"no message #{args.message_id} with {friend['username']}")
    plain = account.decrypt(envelope)
    if plain.get("t") != "file":
        raise CliError(f"message #{args.message_id} is not a file")
    name = Path(str(plain.get("name") or "attachment")).name or "attachment"
    target = Path(args.out) if args.out else Path(name)
    if target.is_dir():
        target = target / name
    if target.exists() and not args.force:
        raise CliError(f"{target} exists (use --force to overwrite)")
    data = account.download_file(plain)
    target.write_bytes(data)
    out(f"saved {len(data)} bytes to {target}")


def cmd_trust(args):
    """Accept a friend's changed key on all your devices (after comparing safety numbers).

    Accepted: their current key and the keys of their recent messages (what `history` shows).
    """
    account = login(args)
    friend = account.friend(args.username)
    for envelope in history_messages(account, friend["id"], args.limit):
        if envelope.get("from") != friend["id"]:
            continue
        try:
            account.decrypt(envelope)  # only a key that opens a real message is worth a look
        except (CryptoError, ApiFailure):
            continue
        account.is_unverified(envelope)
    ids = account.accept_keys(friend["id"])
    out(f"trusted {safe(friend['username'])}'s key {', '.join(sorted(ids))}")


def cmd_safety(args):
    """Print the safety number to compare with a friend."""
    account = login(args)
    friend = account.friend(args.username)
    out(f"safety number with {safe(friend['username'])}:")
    out(account.safety_number(friend["id"]))


def _status_printer(friend):
    """Print what matters about the friend while following: key changes and connection loss."""
    name = safe(friend["username"])

    def on_event(event, data):
        if event == "key_changed" and isinstance(data, dict) and data.get("user") == friend["id"]:
            out(f"!! {name}'s key changed: compare safety numbers again (`safety {name}`)")
        elif event == "disconnected":
            out("-- connection lost; reconnecting --")
        elif event == "connected":
            out("-- connected --")
    return on_event


async def _follow(args, account, friend):
    names = {account.id: account.username, friend["id"]: friend["username"]}
    live = live_client(args, account, start_at="latest")
    await live.connect(timeout=args.timeout)
    live.on_event = _status_printer(friend)  # after connect: only later changes are news
    try:
        printed = set()
        for envelope in await asyncio.to_thread(history_messages, account, friend["id"],
                                                args.limit):
            print_envelope(account, envelope, names)
            printed.add(envelope["id"])
        live.mark_seen(printed)
        out(f"-- following {safe(friend['username'])}; Ctrl-C to stop --")
        async for message in live.messages():
            if message.peer != friend["id"] or message.id in printed:
                continue
            printed.add(message.id)
            author = names.get(message.sender, f"user {message.sender}")
            out(message_line(message.id, message.ts, author, message.plain, message.error,
                             friend["username"], message.unverified))
    finally:
        live.on_event = None  # our own disconnect is no news
        await live.disconnect()


async def _until_signal(coroutine):
    """Run until done or until SIGINT/SIGTERM, which end it cleanly (its finally blocks run)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coroutine)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
        return None
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def cmd_follow(args):
    """Print a conversation, then its new messages as they arrive (Ctrl-C stops)."""
    account = login(args)
    friend = account.friend(args.username)
    asyncio.run(_until_signal(_follow(args, account, friend)))
    out("-- stopped --")


# --- groups (§9) --------------------------------------------------------------------------------
def member_names(group):
    return {member["id"]: member["username"] for member in group["members"]}


def cmd_groups(args):
    """List your groups: id, name and members (admins marked *)."""
    account = login(args)
    listing = account.api.groups()
    if not listing["groups"]:
        out("no groups yet: make one with `group-create --name NAME FRIEND...`")
    for group in listing["groups"]:
        newest = groups.newest_group_plain(account, group["id"])
        name = (newest or {}).get("name") or "(unnamed)"
        members = ", ".join(safe(m["username"]) + ("*" if m["role"] == "admin" else "")
                            for m in group["members"])
        out(f"#{group['id']} {safe(name)}: {members}")


def cmd_group_create(args):
    """Create a group with friends and name it for them."""
    account = login(args)
    member_ids = [account.friend(name)["id"] for name in args.usernames]
    group = asyncio.run(_send(args, account, lambda live: live.create_group(
        member_ids, name=args.name, timeout=args.timeout)))
    out(f"created group #{group['id']} with {len(group['members'])} members")


def cmd_group_send(args):
    """Send a text message to a group (by its id, see `groups`)."""
    account = login(args)
    text = " ".join(args.text)
    ack = asyncio.run(_send(args, account, lambda live: live.send_group_text(
        args.group_id, text, args.timeout, confirm_key_change=args.confirm_key_change)))
    out(f"sent #{ack['id']} to group #{args.group_id}")


def cmd_group_history(args):
    """Print a group's latest messages, decrypted."""
    account = login(args)
    names = member_names(account.api.group(args.group_id))
    envelopes = history_messages(account, args.group_id, args.limit, group=True)
    if not envelopes:
        out(f"no messages in group #{args.group_id} yet")
    for envelope in envelopes:
        print_envelope(account, envelope, names)


def cmd_group_leave(args):
    """Leave a group (as its only admin, first hand it to the oldest other member)."""
    account = login(args)
    asyncio.run(_send(args, account, lambda live: live.leave_group(args.group_id,
                                                                  timeout=args.timeout)))
    out(f"left group #{args.group_id}")


# --- parsing -----------------------------------------------------------------------------------
def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m sendapp.client",
        description="SendApp command line client (end-to-end encrypted; the server only "
                    "sees ciphertext).",
        epilog="exit codes: 0 done, 1 refused/failed, 2 usage, 3 unreachable/TLS, "
               "130 interrupted")
    parser.add_argument("--server", default=os.environ.get("SENDAPP_SERVER",
                                                           "https://localhost:8443"),
                        help="server address (default: $SENDAPP_SERVER or %(default)s)")
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument("--ca", metavar="PEM", help="certificate authority to trust, e.g. certs/ca.pem")
    trust.add_argument("--insecure", action="store_true",
                       help="do not verify the server certificate (testing only)")
    parser.add_argument("--user", default=os.environ.get("SENDAPP_USER"),
                        help="your username (default: $SENDAPP_USER)")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of stdin")
    parser.add_argument("--polling", action="store_true",
                        help="use HTTP long-polling instead of WebSocket")
    parser.add_argument("--state", "--outbox", metavar="FILE",
                        help="keep the outbox and sync cursor in FILE, so unsent messages "
                             "are resent by the next run")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for the server (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log connection details")
    parser.add_argument("--min-kdf-iterations", type=int, default=MIN_ITERATIONS, metavar="N",
                        help="refuse a server that announces fewer PBKDF2 iterations "
                             "(default %(default)s; lower it only for a test server)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name, func, **kwargs):
        sub = commands.add_parser(name, help=func.__doc__.splitlines()[0],
                                  description=func.__doc__, **kwargs)
        sub.set_defaults(func=func)
        return sub

    command("register", cmd_register)
    command("friends", cmd_friends)
    command("add", cmd_add).add_argument("username")
    command("accept", cmd_accept).add_argument("username")
    send = command("send", cmd_send)
    send.add_argument("username")
    send.add_argument("text", nargs="+")
    send.add_argument("--confirm-key-change", action="store_true",
                      help="send even though the friend's key changed and is not accepted yet")
    send_file = command("send-file", cmd_send_file)
    send_file.add_argument("username")
    send_file.add_argument("path")
    send_file.add_argument("--mime", help="media type (default: guessed from the name)")
    for name, func in (("history", cmd_history), ("follow", cmd_follow)):
        sub = command(name, func)
        sub.add_argument("username")
        sub.add_argument("--limit", type=int, default=50,
                         help="how many recent messages to print (default %(default)s)")
    download = command("download", cmd_download)
    download.add_argument("username")
    download.add_argument("message_id", type=int)
    download.add_argument("--out", metavar="PATH", help="file or folder to save into")
    download.add_argument("--force", action="store_true", help="overwrite an existing file")
    command("safety", cmd_safety).add_argument("username")
    command("groups", cmd_groups)
    group_create = command("group-create", cmd_group_create)
    group_create.add_argument("usernames", nargs="*", metavar="FRIEND")
    group_create.add_argument("--name", default="", help="the group's name (seen by members only)")
    group_send = command("group-send", cmd_group_send)
    group_send.add_argument("group_id", type=int)
    group_send.add_argument("text", nargs="+")
    group_send.add_argument("--confirm-key-change", action="store_true",
                            help="send even though a member's key changed and is not accepted")
    group_history = command("group-history", cmd_group_history)
    group_history.add_argument("group_id", type=int)
    group_history.add_argument("--limit", type=int, default=50,
                               help="how many recent messages to print (default %(default)s)")
    command("group-leave", cmd_group_leave).add_argument("group_id", type=int)
    trust_cmd = command("trust", cmd_trust)
    trust_cmd.add_argument("username")
    trust_cmd.add_argument("--limit", type=int, default=200,
                           help="how many recent messages to look at (default %(default)s)")
    return parser


def main(argv=None):
    """Run one command; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.user:
        parser.error("--user is required (or set SENDAPP_USER)")
    if getattr(args, "limit", 1) < 0:
        parser.error("--limit must not be negative")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
        return EXIT_OK
    except CliError as error:
        return fail(error, error.code)
    except ApiFailure as failure:
        unreachable = failure.code in ("network", "tls")
        return fail(failure.message if unreachable else failure,
                    EXIT_UNREACHABLE if unreachable else EXIT_FAILED)
    except RealtimeError as error:
        return fail(error.message, EXIT_UNREACHABLE if error.code == "connect" else EXIT_FAILED)
    except (AccountError, StateError, CryptoError) as error:
        return fail(error, EXIT_FAILED)
    except OSError as error:
        return fail(error, EXIT_FAILED)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED


def fail(message, code):
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
