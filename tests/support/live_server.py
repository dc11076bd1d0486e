"""Run the real server (`python app.py`: eventlet, TLS) on a free 127.0.0.1 port for tests."""
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
POLL_INTERVAL = 0.05
# PBKDF2 iterations of test servers: fast, so clients in tests lower their floor to it.
TEST_KDF_ITERATIONS = 1000
PROBE_INTERVAL = 0.5


def free_port(host=HOST):
    """Ask the kernel for a port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def stop_process(process, timeout=10):
    """SIGTERM a child by pid, SIGKILL it after `timeout` seconds; its exit code (None if
    never started)."""
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode


def trusting_session(cert_path):
    """A requests.Session trusting only `cert_path`, ignoring the environment (else
    REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override session.verify, and proxies apply)."""
    session = requests.Session()
    session.verify = str(cert_path)
    session.trust_env = False
    return session


class ServerFailed(RuntimeError):
    """The server process exited or never became ready; the message holds its log."""


class LiveServer:
    """One `python app.py` process with its own port, instance folder and certificate.

    :param tmp_path: a folder owned by the test (pytest's tmp_path).
    :param env: extra or overriding SENDAPP_* variables; a value of None removes one.
    :param port: a fixed port (e.g. another server's, to test a clash); default a free one.
    """

    def __init__(self, tmp_path, env=None, port=None, startup_timeout=STARTUP_TIMEOUT):
        self.folder = Path(tmp_path) / "live"
        self.instance_path = self.folder / "instance"
        self.cert_dir = self.folder / "certs"
        self.log_path = self.folder / "server.log"
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.process = None
        self.env = self._environment(env or {})

    def _environment(self, overrides):
        """The parent's environment minus its SENDAPP_* settings, plus this server's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENDAPP_")}
        env.update({
            "PYTHONUNBUFFERED": "1",
            "SENDAPP_HOST": HOST,
            "SENDAPP_PORT": str(self.port),
            "SENDAPP_INSTANCE_PATH": str(self.instance_path),
            "SENDAPP_CERT_DIR": str(self.cert_dir),
            "SENDAPP_KDF_ITERATIONS": str(TEST_KDF_ITERATIONS),
            "SENDAPP_RATELIMIT": "off",
            "SENDAPP_SECRET_KEY": secrets.token_urlsafe(32),  # kept across restarts
        })
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = str(value)
        return env

    @property
    def url(self):
        return f"https://{HOST}:{self.port}"

    @property
    def cert_path(self):
        return self.cert_dir / "cert.pem"

    @property
    def ready_line(self):
        return f"SendApp ready on {self.url}"

    @property
    def pid(self):
        return None if self.process is None else self.process.pid

    def running(self):
        return self.process is not None and self.process.poll() is None

    def start(self):
        """Start the process and wait (bounded) until it serves HTTPS."""
        if self.running():
            raise RuntimeError("the server is already running")
        self.folder.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "app.py"], cwd=ROOT, env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(offset)
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_ready(self, offset):
        """Return once the ready line is logged or /api/csrf answers; fail after the timeout."""
        deadline = time.monotonic() + self.startup_timeout
        next_probe = time.monotonic()
        while time.monotonic() < deadline:
            if self.ready_line.encode() in self._log_bytes()[offset:]:
                return
            if self.process.poll() is not None:
                raise ServerFailed(f"server exited with {self.process.returncode}:\n"
                                   + self._log_bytes()[offset:].decode(errors="replace"))
            if time.monotonic() >= next_probe and self.cert_path.exists():
                next_probe = time.monotonic() + PROBE_INTERVAL
                if self._answers():
                    return
            time.sleep(POLL_INTERVAL)
        raise ServerFailed(f"server not ready after {self.startup_timeout}s:\n"
                           + self._log_bytes()[offset:].decode(errors="replace"))

    def _answers(self):
        try:
            return requests.get(self.url + "/api/csrf", verify=str(self.cert_path),
                                timeout=1).ok
        except (requests.RequestException, OSError):
            return False

    def stop(self, timeout=10):
        """SIGTERM the process by pid, SIGKILL it after `timeout` seconds; return its exit code."""
        return stop_process(self.process, timeout)

    def signal(self, signum):
        """Send a signal to the server process (e.g. SIGINT)."""
        self.process.send_signal(signum)

    def wait(self, timeout=10):
        """Wait for the process to exit; return its exit code."""
        return self.process.wait(timeout)

    def kill(self):
        """SIGKILL the process (crash tests); return its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait(10)

    def restart(self, timeout=10):
        """Stop, then start again on the same port with the same folders and secret key."""
        self.stop(timeout)
        return self.start()

    def _log_bytes(self):
        try:
            return self.log_path.read_bytes()
        except FileNotFoundError:
            return b""

    def log_text(self):
        """Everything the process (and earlier runs of it) wrote to stdout and stderr."""
        return self._log_bytes().decode(errors="replace")

    def http_session(self):
        """A requests.Session trusting only this server's certificate (its SANs hold 127.0.0.1)."""
        return trusting_session(self.cert_path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
