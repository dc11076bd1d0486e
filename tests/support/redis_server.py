"""A throw-away redis-server on a free 127.0.0.1 port, stopped by pid; nothing is saved."""
import shutil
import subprocess
import time
from pathlib import Path

from support.live_server import free_port
from support.services import unavailable

START_TIMEOUT = 10.0  # seconds for redis-server to answer PING


class RedisMissing(RuntimeError):
    """No redis-server on this machine, or it did not answer."""


class RedisServer:
    """One redis-server process of a test; `start` again after `kill` reuses the port."""

    def __init__(self, folder, port=None):
        self.folder = folder
        self.port = port or free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        """Start it and wait (bounded) until it answers; skip, or fail under CI, without it."""
        try:
            return self.launch()
        except RedisMissing as error:
            unavailable("redis-server", error)

    def launch(self):
        """Start it and wait (bounded) until it answers; RedisMissing without it (no pytest:
        the benchmark's cluster uses this too)."""
        import redis

        Path(self.folder).mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisMissing("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        self.kill()
        raise RedisMissing(f"redis-server did not answer within {START_TIMEOUT:.0f} s")

    def kill(self):
        """SIGKILL it by pid (its data is gone: nothing is saved)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def client(self):
        import redis

        return redis.Redis(port=self.port, socket_timeout=2)


def redis_server(tmp_path):
    """Start a RedisServer; answers (process, url), the caller kills the process."""
    server = RedisServer(tmp_path).start()
    return server.process, server.url
