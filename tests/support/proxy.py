"""Run the shipped deploy/nginx.conf in front of server processes, for tests and benchmarks.

The shipped file is used as it is, except for the values on its `# EDIT` lines, which a
self-hoster edits too: `render` swaps exactly these (ports, certificate paths, the access
log) and fails when one of them is no longer found, so the file cannot drift from what is
tested. Around it sits the part Debian's /etc/nginx/nginx.conf provides (`main`): a pid
file, error log and temporary folders, all under the test's folder.

nginx runs in the foreground (`daemon off`) as a child process, bound to 127.0.0.1 on a
free port, and is stopped by its pid. No pytest here: the benchmark uses it too.
"""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from support.live_server import HOST, ROOT, free_port, stop_process, trusting_session

SHIPPED_CONFIG = ROOT / "deploy" / "nginx.conf"
MARK = "# EDIT"
STARTUP_TIMEOUT = 10.0
POLL_INTERVAL = 0.05
# The shipped values of the `# EDIT` lines that tests replace (see `render`).
SHIPPED_LISTEN = "listen 443 ssl;"
SHIPPED_HTTP_LISTEN = "listen 80;"
SHIPPED_BACKENDS = ("server 127.0.0.1:8001 ", "server 127.0.0.1:8002 ")
SHIPPED_CERTIFICATE = "/etc/letsencrypt/live/chat.example.org/fullchain.pem;"
SHIPPED_CERTIFICATE_KEY = "/etc/letsencrypt/live/chat.example.org/privkey.pem;"
SHIPPED_UPSTREAM_CA = "/opt/sendapp/certs/ca.pem;"
SHIPPED_ACCESS_LOG = "/var/log/nginx/sendapp.access.log "


class NginxMissing(RuntimeError):
    """No nginx binary on this machine (`make test` installs Debian's)."""


class ProxyFailed(RuntimeError):
    """nginx exited or never listened; the message holds its error log."""


def nginx_binary():
    """The nginx executable (Debian puts it in /usr/sbin, which may not be on PATH)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise NginxMissing("nginx is not installed (apt-get install nginx; `make test` does)")
    return found


def _replace_marked(text, old, new):
    """Replace `old` on the one `# EDIT` line that holds it; fail when it is not exactly once."""
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if old in line]
    if len(hits) != 1 or MARK not in lines[hits[0]]:
        raise ValueError(f"{SHIPPED_CONFIG.name}: expected {old!r} once, on a line marked "
                         f"{MARK!r}; found it on {len(hits)} line(s)")
    lines[hits[0]] = lines[hits[0]].replace(old, new)
    return "".join(lines)


def render(text, *, https_port, http_port, backend_ports, certificate, certificate_key,
           upstream_ca, access_log):
    """The shipped config with its `# EDIT` values replaced, and nothing else changed.

    - `listen 443 ssl;` → `listen 127.0.0.1:<https_port> ssl;`, `listen 80;` likewise;
    - `server 127.0.0.1:8001 ` and `:8002 ` → the processes' ports (two or more: further
      processes get a copy of the last `server` line);
    - the certificate, key, upstream CA and access log paths → files in the test's folder.
    """
    if len(backend_ports) < 2:
        raise ValueError("the shipped config balances two or more processes")
    text = _replace_marked(text, SHIPPED_LISTEN, f"listen {HOST}:{https_port} ssl;")
    text = _replace_marked(text, SHIPPED_HTTP_LISTEN, f"listen {HOST}:{http_port};")
    for shipped, port in zip(SHIPPED_BACKENDS, backend_ports):
        text = _replace_marked(text, shipped, f"server {HOST}:{port} ")
    last = next(line for line in text.splitlines(keepends=True)
                if f"server {HOST}:{backend_ports[1]} " in line)
    extra = "".join(last.replace(f":{backend_ports[1]} ", f":{port} ")
                    for port in backend_ports[2:])
    text = text.replace(last, last + extra)
    text = _replace_marked(text, SHIPPED_CERTIFICATE, f"{certificate};")
    text = _replace_marked(text, SHIPPED_CERTIFICATE_KEY, f"{certificate_key};")
    text = _replace_marked(text, SHIPPED_UPSTREAM_CA, f"{upstream_ca};")
    return _replace_marked(text, SHIPPED_ACCESS_LOG, f"{access_log} ")


def main_config(folder, site):
    """What Debian's /etc/nginx/nginx.conf provides around the site file, under `folder`."""
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    # As root, workers would switch to `nobody`, who cannot enter pytest's 0700 folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} info;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    client_body_temp_path {temp['body']};\n"
        f"    proxy_temp_path {temp['proxy']};\n"
        f"    fastcgi_temp_path {temp['fastcgi']};\n"
        f"    uwsgi_temp_path {temp['uwsgi']};\n"
        f"    scgi_temp_path {temp['scgi']};\n"
        f"    access_log {folder / 'default-access.log'};\n"
        f"    include {site};\n"
        "}\n")


class NginxProxy:
    """nginx with the shipped config in front of `backend_ports`, on a free 127.0.0.1 port.

    :param folder: a folder owned by the test (prefix, config, pid, logs, temp files).
    :param certificate: the PEM chain nginx serves to clients; also what clients trust
        (`cert_path`), as with LiveServer.
    :param upstream_ca: PEM file of the CA(s) that signed the processes' certificates.
    """

    def __init__(self, folder, backend_ports, certificate, certificate_key, upstream_ca,
                 startup_timeout=STARTUP_TIMEOUT):
        self.folder = Path(folder)
        self.backend_ports = list(backend_ports)
        self.certificate = Path(certificate)
        self.certificate_key = Path(certificate_key)
        self.upstream_ca = Path(upstream_ca)
        self.port = free_port()
        self.http_port = free_port()
        self.startup_timeout = startup_timeout
        self.site_path = self.folder / "sendapp.conf"
        self.config_path = self.folder / "nginx.conf"
        self.access_log_path = self.folder / "sendapp.access.log"
        self.error_log_path = self.folder / "error.log"
        self.process = None

    @property
    def url(self):
        return f"https://{HOST}:{self.port}"

    @property
    def cert_path(self):
        """What clients trust (the same name as LiveServer's, so client helpers take either)."""
        return self.certificate

    @property
    def pid(self):
        return None if self.process is None else self.process.pid

    def running(self):
        return self.process is not None and self.process.poll() is None

    def write_config(self):
        """Render the shipped file and the main config into the folder; return the site text."""
        self.folder.mkdir(parents=True, exist_ok=True)
        site = render(SHIPPED_CONFIG.read_text(), https_port=self.port,
                      http_port=self.http_port, backend_ports=self.backend_ports,
                      certificate=self.certificate, certificate_key=self.certificate_key,
                      upstream_ca=self.upstream_ca, access_log=self.access_log_path)
        self.site_path.write_text(site)
        self.config_path.write_text(main_config(self.folder, self.site_path))
        return site

    def start(self):
        """Start nginx in the foreground and wait (bounded) until it accepts connections."""
        if self.running():
            raise RuntimeError("nginx is already running")
        binary = nginx_binary()
        self.write_config()
        with open(self.folder / "nginx.out", "ab") as out:
            self.process = subprocess.Popen(
                [binary, "-p", f"{self.folder}/", "-c", str(self.config_path),
                 "-e", str(self.error_log_path)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ProxyFailed(f"nginx exited with {self.process.returncode}:\n"
                                  + self.error_text())
            if _accepts(self.port):
                return self
            time.sleep(POLL_INTERVAL)
        self.stop()
        raise ProxyFailed(f"nginx not listening after {self.startup_timeout}s:\n"
                          + self.error_text())

    def stop(self, timeout=10):
        """Fast shutdown (SIGTERM to the master, which ends its workers); SIGKILL after
        `timeout` seconds. Returns the exit code."""
        return stop_process(self.process, timeout)

    def error_text(self):
        parts = [self.folder / "nginx.out", self.error_log_path]
        return "".join(p.read_text(errors="replace") for p in parts if p.exists())

    def access_lines(self):
        """The access log in the shipped `sendapp` format, one string per request."""
        if not self.access_log_path.exists():
            return []
        return self.access_log_path.read_text(errors="replace").splitlines()

    def http_session(self):
        """A requests.Session trusting only the proxy's certificate, ignoring the environment."""
        return trusting_session(self.cert_path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def _accepts(port):
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False
