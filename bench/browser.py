"""`python -m bench.browser`: the browser-side crypto figures of issue 8, in Chromium.

It starts the real server (bench/targets.py), opens its login page in headless Debian
chromium driven by Playwright (/usr/bin/chromium, never a downloaded browser) and, inside
the page, imports the app's own ES modules from /static/js/ and times them
(bench/browser_probe.js): the login's key derivation at 600,000 PBKDF2 iterations and the
whole login (session.js against this server, set to the same iterations), sealing and
opening a PROTOCOL §5 text message of 448 padded bytes under a real X25519 pair key, and
encrypting and decrypting a 10 MiB attachment. Figures are medians over repetitions;
every loop is bounded in count and time.
"""
import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from sendapp import tls

from . import people, report, targets

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PROBE = (Path(__file__).with_name("browser_probe.js")).read_text().strip()
PAGE = "/login"  # any page of the app: the probe needs its origin (and a secure context)
USERNAME = "bench_user"
PAGE_TIMEOUT_MS = 30_000
MB = 1_000_000  # throughput in decimal megabytes per second


@dataclass(frozen=True)
class Sizes:
    """How much to measure; the defaults are issue 8's figures."""

    iterations: int = 600_000  # the server's default PBKDF2 iterations (sendapp/config.py)
    derivations: int = 5  # and as many whole logins
    ops: int = 200  # messages per round of sealing and opening
    op_rounds: int = 7
    file_bytes: int = 10 * 1024 * 1024
    file_rounds: int = 5
    budget_s: float = 120.0  # in-page deadline: loops stop after their current repetition


TINY = Sizes(iterations=1000, derivations=3, ops=5, op_rounds=3, file_bytes=256 * 1024,
             file_rounds=3, budget_s=30.0)


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright is not installed here."""


def unavailable():
    """None when the figures can be taken here, else why not."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (make browser installs Debian's chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -r requirements-dev.txt)"
    return None


def measure(folder, cert_dir, sizes=Sizes(), core=None, log=lambda text: None):
    """Start SendApp, take the browser figures in chromium, stop it; answer the figures.

    :param cert_dir: a folder holding the run's certificate (sendapp.tls.ensure_certificate).
    :param core: pin the server to this core (it serves the page, the modules and the logins).
    """
    reason = unavailable()
    if reason:
        raise BrowserUnavailable(reason)
    process = targets.sendapp_process(Path(folder), cert_dir, core, extra_env={
        "SENDAPP_KDF_ITERATIONS": str(sizes.iterations)}).start()
    try:
        log(f"browser: chromium, PBKDF2 at {sizes.iterations:,} iterations, "
            f"{sizes.ops} messages x {sizes.op_rounds}, "
            f"a {sizes.file_bytes:,}-byte file x {sizes.file_rounds}")
        version, raw = _in_chromium(process.url + PAGE, sizes)
    finally:
        process.stop()
    return summarise(version, raw, sizes)


def _in_chromium(url, sizes):
    """Open `url` in a fresh headless chromium and run the probe there; (version, raw figures)."""
    from playwright.sync_api import sync_playwright  # only this part of the harness needs it

    arguments = {
        "username": USERNAME, "password": people.PASSWORD, "iterations": sizes.iterations,
        "derivations": sizes.derivations, "body": people.text_body(), "ops": sizes.ops,
        "opRounds": sizes.op_rounds, "fileBytes": sizes.file_bytes,
        "fileRounds": sizes.file_rounds, "budgetMs": int(sizes.budget_s * 1000),
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(ignore_https_errors=True)
            page = context.new_page()
            page.goto(url, wait_until="load", timeout=PAGE_TIMEOUT_MS)
            return browser.version, page.evaluate(PROBE, arguments)
        finally:
            browser.close()


def _median(values):
    return round(statistics.median(values), 1)


def summarise(version, raw, sizes):
    """The figures: medians over the repetitions, with every repetition's value kept."""
    login, flow = raw["login"], raw["loginFlow"]
    message, attachment = raw["message"], raw["attachment"]
    size = attachment["bytes"]

    def mb_per_s(ms):
        return round(size / MB / (ms / 1000), 1)

    return {
        "chromium": version,
        "user_agent": raw["userAgent"],
        "cross_origin_isolated": raw["crossOriginIsolated"],
        "sizes": asdict(sizes),
        "login_kdf": {"iterations": login["iterations"], "ms": _median(login["ms"]),
                      "runs_ms": [round(v, 1) for v in login["ms"]]},
        "login_flow": {"iterations": flow["iterations"], "ms": _median(flow["ms"]),
                       "runs_ms": [round(v, 1) for v in flow["ms"]]},
        "message": {"plaintext_bytes": message["plaintextBytes"],
                    "padded_bytes": message["paddedBytes"],
                    "envelope_json_bytes": message["envelopeBytes"], "ops": message["ops"],
                    "rounds": len(message["sealUs"]),
                    "seal_us": _median(message["sealUs"]), "open_us": _median(message["openUs"]),
                    "seal_rounds_us": [round(v, 1) for v in message["sealUs"]],
                    "open_rounds_us": [round(v, 1) for v in message["openUs"]]},
        "attachment": {"bytes": size, "rounds": len(attachment["encryptMs"]),
                       "encrypt_ms": _median(attachment["encryptMs"]),
                       "decrypt_ms": _median(attachment["decryptMs"]),
                       "encrypt_mb_per_s": mb_per_s(statistics.median(attachment["encryptMs"])),
                       "decrypt_mb_per_s": mb_per_s(statistics.median(attachment["decryptMs"]))},
        "seconds": round(raw["seconds"], 2),
    }


def run(sizes=Sizes(), log=lambda text: None):
    """Take the figures with a throw-away instance folder and certificate."""
    with tempfile.TemporaryDirectory(prefix="sendapp-bench-browser-") as tmp:
        cert_dir = Path(tmp) / "certs"
        tls.ensure_certificate(str(cert_dir), extra_hosts=[targets.HOST])
        return measure(Path(tmp) / "server", cert_dir, sizes, log=log)


def options(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.browser", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Sizes()
    parser.add_argument("--iterations", type=int, default=defaults.iterations)
    parser.add_argument("--derivations", type=int, default=defaults.derivations,
                        help="login derivations timed")
    parser.add_argument("--ops", type=int, default=defaults.ops, help="messages per round")
    parser.add_argument("--op-rounds", type=int, default=defaults.op_rounds)
    parser.add_argument("--file-bytes", type=int, default=defaults.file_bytes)
    parser.add_argument("--file-rounds", type=int, default=defaults.file_rounds)
    parser.add_argument("--budget", type=float, default=defaults.budget_s,
                        help="seconds before the page stops repeating")
    parser.add_argument("--tiny", action="store_true",
                        help="a seconds-long smoke run: 1,000 iterations, 5 messages, 256 KiB")
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else Sizes(
        iterations=args.iterations, derivations=args.derivations, ops=args.ops,
        op_rounds=args.op_rounds, file_bytes=args.file_bytes, file_rounds=args.file_rounds,
        budget_s=args.budget)
    for name, value in asdict(sizes).items():
        if value <= 0:
            parser.error(f"{name.replace('_', '-')} must be positive")
    return args, sizes


def main(argv=None):
    args, sizes = options(argv)
    reason = unavailable()
    if reason:
        print(f"The browser figures cannot be taken: {reason}.", file=sys.stderr)
        return 2
    figures = run(sizes, log=lambda text: print(text, flush=True))
    print(report.browser_table(figures))
    print(json.dumps(figures, indent=1))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
