"""The servers under test: SendApp (`python app.py`) and the bare relays (Python and Node),
each pinned to one core.

Each is started as its own process (by `taskset -c <core>` when the machine has the
cores), waited for with a bound, measured through /proc (CPU time, RSS) and stopped by
its pid: SIGTERM, then SIGKILL after a bound. PostgreSQL runs get a scratch database
that is dropped afterwards, as tests/support/services.py does for the tests.
"""
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
KDF_ITERATIONS = 1000  # the test servers' setting; clients lower their floor to it
STARTUP_TIMEOUT = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
POSTGRES_ADMIN_URL = os.environ.get(
    "SENDAPP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


class TargetFailed(RuntimeError):
    """A server exited or never became ready; the message holds the end of its log."""


def free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def can_pin():
    """Pinning needs two cores and taskset."""
    return (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


def pin_self(core):
    """Pin this process (the load generator) to one core; False when it cannot be."""
    try:
        os.sched_setaffinity(0, {core})
        return True
    except (OSError, AttributeError):
        return False


def cpu_seconds(pid):
    """User + system CPU seconds a process and its live children (the server's checkpoint
    helper, sendapp/wal_checkpoint.py) have used (from /proc, 1/CLK_TCK resolution); of
    several together when `pid` is a tuple (the processes of a cluster), each process
    counted once (nginx's workers are in the tuple and are its master's children)."""
    pids = pid if isinstance(pid, tuple) else (pid,)
    children = {child for one in pids for child in children_of(one)} - set(pids)
    return sum(_own_cpu(one) for one in pids) + sum(_cpu_or_zero(child) for child in children)


def _own_cpu(pid):
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_of(pid):
    """The pids of a process's live children (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


def _cpu_or_zero(pid):
    try:
        return _own_cpu(pid)
    except (OSError, IndexError, ValueError):
        return 0.0  # ended meanwhile


def rss_kb(pid):
    """Resident set size of a process in KiB."""
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * PAGE_KB


def _end_with_parent():
    """In the child before exec: get SIGTERM if the harness dies, even by SIGKILL (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Process:
    """A server process started with a ready line to wait for; stopped by pid.

    :param argv: the command (without pinning); `core` prefixes `taskset -c core`.
    """

    def __init__(self, name, argv, env, log_path, ready_text, core=None, cwd=ROOT):
        self.name = name
        self.cwd = cwd
        self.argv = (["taskset", "-c", str(core)] if core is not None else []) + list(argv)
        self.env = env
        self.log_path = Path(log_path)
        self.ready_text = ready_text
        self.process = None

    @property
    def pid(self):
        return self.process.pid  # taskset execs the command: the same pid

    def start(self, timeout=STARTUP_TIMEOUT):
        """Start the process and wait (bounded) for its ready line; stop it if that fails."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT,
                                            preexec_fn=_end_with_parent)
        try:
            return self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_text.encode() in self.log_bytes():
                return self
            if self.process.poll() is not None:
                raise TargetFailed(f"{self.name} exited with {self.process.returncode}:\n"
                                   + self.log_tail())
            time.sleep(0.05)
        raise TargetFailed(f"{self.name} not ready after {timeout}s:\n" + self.log_tail())

    def stop(self, timeout=10.0):
        """SIGTERM by pid, SIGKILL after `timeout` s; return (exit code, seconds taken)."""
        if self.process is None:
            return None, 0.0
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode, time.monotonic() - started

    def cpu(self):
        return cpu_seconds(self.pid)

    def rss_kb(self):
        return rss_kb(self.pid)

    def log_bytes(self):
        try:
            return self.log_path.read_bytes()
        except FileNotFoundError:
            return b""

    def log_tail(self, chars=4000):
        return self.log_bytes()[-chars:].decode(errors="replace")

    def count_in_log(self, text):
        return self.log_bytes().count(text.encode())


def base_env():
    """The parent's environment without SENDAPP_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDAPP_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def sendapp_process(folder, cert_dir, core, database_url=None, extra_env=None,
                    server_root=ROOT, max_connections=4096):
    """`python app.py` on a free port with its own instance folder and the run's certificate.

    :param server_root: the checkout whose app.py runs (an older commit's worktree for
        "before" figures), with this harness's Python.
    :param max_connections: SendApp's connection caps, total and per IP (one IP, the
        generator, opens every socket).
    """
    port = free_port()
    folder = Path(folder)
    env = base_env()
    env.update({
        "SENDAPP_HOST": HOST,
        "SENDAPP_PORT": str(port),
        "SENDAPP_INSTANCE_PATH": str(folder / "instance"),
        "SENDAPP_CERT_DIR": str(cert_dir),
        "SENDAPP_KDF_ITERATIONS": str(KDF_ITERATIONS),
        "SENDAPP_RATELIMIT": "off",
        "SENDAPP_SECRET_KEY": secrets.token_urlsafe(32),
        "SENDAPP_MAX_CONNECTIONS_PER_IP": str(max_connections),
        "SENDAPP_MAX_CONNECTIONS": str(max_connections),
    })
    if database_url:
        env["SENDAPP_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    process = Process("sendapp", [sys.executable, "app.py"], env, folder / "server.log",
                      f"SendApp ready on https://{HOST}:{port}", core, cwd=Path(server_root))
    process.url = f"https://{HOST}:{port}"
    process.database_url = database_url or f"sqlite:///{folder / 'instance' / 'sendapp.sqlite3'}"
    return process


def _relay_process(label, command, log_name, folder, cert_dir, core, nagle, to, extra=()):
    """A bare relay (`command` + its options) on a free port with the run's certificate."""
    port = free_port()
    argv = command + ["--host", HOST, "--port", str(port), "--cert-dir", str(cert_dir),
                      "--to", to] + (["--nagle"] if nagle else []) + list(extra)
    process = Process(label, argv, base_env(), Path(folder) / log_name,
                      f"{label} ready on https://{HOST}:{port}", core)
    process.url = f"https://{HOST}:{port}"
    process.database_url = None
    return process


def bare_process(folder, cert_dir, core, nagle=False, to="pair", stock_gc=False):
    """bench/bare_relay.py on a free port with the run's certificate."""
    return _relay_process("bare relay", [sys.executable, str(ROOT / "bench" / "bare_relay.py")],
                          "bare.log", folder, cert_dir, core, nagle, to,
                          ["--stock-gc"] if stock_gc else [])


def node_process(folder, cert_dir, core, nagle=False, to="pair"):
    """bench/bare_relay.mjs (socket.io on Node) on a free port with the run's certificate."""
    node = shutil.which("node")
    if node is None:
        raise TargetFailed("the node backend needs `node` on the PATH")
    if not (ROOT / "node_modules" / "socket.io").is_dir():
        raise TargetFailed("the node backend needs socket.io: run `npm ci` (devDependencies)")
    return _relay_process("bare node relay", [node, str(ROOT / "bench" / "bare_relay.mjs")],
                          "node.log", folder, cert_dir, core, nagle, to)


def raise_open_files():
    """Raise this process's open-file limit to the hard limit; return (soft, hard).

    The servers started afterwards inherit it (app.py raises its own as well)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def git_head(folder):
    """`git rev-parse --short HEAD` of a checkout, or None when it is not one."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, text=True,
                              capture_output=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL admin database cannot be reached."""


@contextmanager
def scratch_postgres(admin_url=POSTGRES_ADMIN_URL):
    """Create a throw-away PostgreSQL database, yield its URL, drop it afterwards."""
    import psycopg2

    name = "sendapp_bench_" + uuid.uuid4().hex[:12]
    try:
        admin = psycopg2.connect(admin_url, connect_timeout=5)
    except psycopg2.OperationalError as error:
        raise PostgresUnavailable(f"PostgreSQL at {admin_url} is not reachable: {error}") \
            from None
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def postgres_backends(admin_url, database):
    """Pids of the PostgreSQL backends serving `database` (empty when not visible here)."""
    import psycopg2

    with psycopg2.connect(admin_url, connect_timeout=5) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))
            return [pid for (pid,) in cursor.fetchall()]


def cpu_of(pids):
    """{pid: CPU seconds} of the processes that still exist and are readable."""
    seconds = {}
    for pid in pids:
        try:
            seconds[pid] = cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            pass
    return seconds


def postgres_reachable(admin_url=POSTGRES_ADMIN_URL):
    """None when the admin database answers, else the reason."""
    import psycopg2

    try:
        psycopg2.connect(admin_url, connect_timeout=5).close()
        return None
    except psycopg2.OperationalError as error:
        return str(error).strip()
