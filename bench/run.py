"""`python -m bench`: run the scenarios against the bare relay, SendApp on SQLite and on
PostgreSQL, take the browser-side figures in Chromium, print the tables and write the JSON
results (see docs/BENCHMARKS.md)."""
import argparse
import asyncio
import datetime
import json
import math
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

from sendapp import tls
from sendapp.client.realtime import ssl_context

from . import browser, people, report, scenarios, targets

SERVER_CORE, GENERATOR_CORE = 0, 1
BACKENDS = ("bare", "sqlite", "postgres")


def options(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated, from bare,sqlite,postgres (default: all)")
    parser.add_argument("--runs", type=int, default=1, help="repeat everything; medians reported")
    parser.add_argument("--pairs", type=int, default=50, help="pairs for the many-pair scenarios")
    parser.add_argument("--window", type=int, default=8, help="messages in flight per sender")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    parser.add_argument("--rate-hint", type=float, default=3000.0,
                        help="highest msg/s expected: sizes the pre-sealed pools")
    parser.add_argument("--lone", type=int, default=200, help="sequential lone messages")
    parser.add_argument("--rate-seconds", type=float, default=5.0,
                        help="seconds of the fixed-rate and overload scenarios")
    parser.add_argument("--overload", type=float, default=2.0, help="overload x max rate")
    parser.add_argument("--catch-up", type=int, default=10_000, help="messages to sync (0: skip)")
    parser.add_argument("--idle", type=int, default=1000, help="idle sockets (0: skip)")
    parser.add_argument("--no-sigterm", action="store_true",
                        help="skip the last scenario: SIGTERM the server under full load")
    parser.add_argument("--no-idle-deflate", action="store_true",
                        help="skip the second idle pass whose sockets offer permessage-deflate")
    parser.add_argument("--no-browser", action="store_true",
                        help="skip the browser-side figures (bench/browser.py, Debian's chromium)")
    parser.add_argument("--plaintext-bytes", type=int, default=people.PLAINTEXT_BYTES)
    parser.add_argument("--ws-compress", type=int, default=0,
                        help="offer permessage-deflate with this window (0: do not offer)")
    parser.add_argument("--bare-nagle", action="store_true",
                        help="bare relay without TCP_NODELAY (as SendApp is today)")
    parser.add_argument("--bare-to", choices=("pair", "peer"), default="pair",
                        help="bare relay emits to the pair room (both sockets, as SendApp) "
                             "or only to the peer's")
    parser.add_argument("--postgres", default=targets.POSTGRES_ADMIN_URL,
                        help="admin URL; a scratch database is created and dropped")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/generator")
    parser.add_argument("--tiny", action="store_true",
                        help="a seconds-long smoke run: 1 pair, 20 messages, small everything")
    parser.add_argument("--out", default=str(Path("bench") / "results" / "latest.json"))
    parser.add_argument("--table", metavar="FILE",
                        help="only print the table of an earlier results file")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"),
                        help="only print two results files side by side (a lever's effect)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.pairs, args.lone, args.catch_up, args.idle = 1, 5, 300, 5
        args.warmup, args.duration, args.rate_seconds, args.runs = 0.0, 10.0, 1.0, 1
        args.tiny_messages, args.settle = 20, 0.2
    else:
        args.tiny_messages, args.settle = None, 1.0
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    return args


def log(text):
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def pool_size(args, pairs, rate_hint=None):
    """Envelopes per sender for a closed-loop run: enough for `rate_hint` msg/s, bounded."""
    if args.tiny_messages:
        return args.tiny_messages
    rate = rate_hint or args.rate_hint
    return math.ceil(rate * (args.warmup + args.duration) * 1.2 / pairs) + args.window


def seal_pools(pairs, per_pair, body):
    return [people.seal(pair, per_pair, body) for pair in pairs]


async def closed_and_lone(target, args, body, log_prefix):
    """The scenarios the bare relay and SendApp share: throughput at 1 and N pairs, lone."""
    out = {}
    log(f"{log_prefix}: throughput, 1 pair")
    pools = seal_pools(target.pairs[:1], pool_size(args, 1), body)
    out["tput_1"] = await scenarios.throughput(target, 1, pools, args.window, args.warmup,
                                               args.duration)
    if args.pairs > 1:
        log(f"{log_prefix}: throughput, {args.pairs} pairs")
        pools = seal_pools(target.pairs, pool_size(args, args.pairs), body)
        out["tput_n"] = await scenarios.throughput(target, args.pairs, pools, args.window,
                                                   args.warmup, args.duration)
    else:
        out["tput_n"] = out["tput_1"]
    log(f"{log_prefix}: {args.lone} lone messages")
    out["lone"] = await scenarios.lone(target, seal_pools(target.pairs[:1], args.lone, body)[0],
                                       args.lone)
    return out


async def measure_bare(process, args, ssl):
    pairs = people.bare_pairs(args.pairs)
    body = people.text_body()
    target = scenarios.Target("bare", process, pairs, ssl, args.ws_compress)
    await target.open()
    try:
        return await closed_and_lone(target, args, body, "bare")
    finally:
        await target.close()


async def measure_sendapp(name, process, pairs, catch_pair, args, ssl, database_pids=None):
    body = people.text_body()
    target = scenarios.Target(name, process, pairs, ssl, args.ws_compress, database_pids)
    await target.open()
    try:
        out = await closed_and_lone(target, args, body, name)
        max_rate = out["tput_n"].get("rate_per_s") or 1.0
        rate = max_rate / 2
        log(f"{name}: fixed rate {rate:.0f} msg/s (half the max) for {args.rate_seconds} s")
        per_pair = math.ceil(rate * args.rate_seconds / len(pairs)) + 1
        out["half_rate"] = await scenarios.open_loop(
            target, seal_pools(pairs, per_pair, body), rate, args.rate_seconds)
        if args.catch_up:
            log(f"{name}: catch-up of {args.catch_up} messages by sync")
            out["catch_up"] = await scenarios.catch_up(target, catch_pair, args.catch_up)
        if args.idle:
            log(f"{name}: {args.idle} idle sockets")
            out["idle"] = await scenarios.idle_sockets(
                target, args.idle, chat_messages=min(50, args.lone), settle=args.settle,
                chat_pool=seal_pools(pairs[:1], 50, body)[0])
            if not args.no_idle_deflate:
                log(f"{name}: {args.idle} idle sockets offering permessage-deflate")
                out["idle_deflate"] = await scenarios.idle_sockets(
                    target, args.idle, chat_messages=0, settle=args.settle, compress=15)
        rate = max_rate * args.overload
        log(f"{name}: overload {rate:.0f} msg/s ({args.overload:g}x max) for "
            f"{args.rate_seconds} s")
        per_pair = math.ceil(rate * args.rate_seconds / len(pairs)) + 1
        out["overload"] = await scenarios.open_loop(
            target, seal_pools(pairs, per_pair, body), rate, args.rate_seconds,
            ack_timeout=60.0)
        if not args.no_sigterm:
            log(f"{name}: SIGTERM under full load ({max_rate:.0f} msg/s)")
            per_pair = math.ceil(max_rate * args.rate_seconds / len(pairs)) + 1
            out["sigterm"] = await scenarios.sigterm_under_load(
                target, seal_pools(pairs, per_pair, body), max_rate,
                after=min(2.0, args.rate_seconds / 2), duration=args.rate_seconds)
        return out
    finally:
        await target.close()


def integrity(out, keys):
    """True when every listed scenario's acked messages were each stored exactly once."""
    checks = [(out.get(k) or {}).get("stored") for k in keys if k in out]
    checks = [c for c in checks if c is not None]
    return all(c["ok"] for c in checks) if checks else None


def cpu_times():
    """The machine's CPU time counters from /proc/stat: (total, steal) in ticks."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[7]


def run_target(name, args, folder, cert_dir, ca, core, run_index):
    """Measure one target; note the load average and the hypervisor's steal meanwhile."""
    load, (total0, steal0) = os.getloadavg()[0], cpu_times()
    out = _run_target(name, args, folder, cert_dir, ca, core, run_index)
    total1, steal1 = cpu_times()
    out["machine"] = {"load_1min_before": load,
                      "steal_pct": round(100 * (steal1 - steal0) / max(total1 - total0, 1), 2)}
    return out


def _run_target(name, args, folder, cert_dir, ca, core, run_index):
    """Start one server, measure it, stop it by pid; return its results."""
    ssl = ssl_context(str(ca))
    extra = {}
    if name == "bare":
        process = targets.bare_process(folder, cert_dir, core, args.bare_nagle,
                                       args.bare_to).start()
        try:
            out = asyncio.run(measure_bare(process, args, ssl))
        finally:
            code, seconds = process.stop()
        out["stop"] = {"exit": code, "seconds": round(seconds, 2)}
        return out
    context = targets.scratch_postgres(args.postgres) if name == "postgres" else None
    database_url = context.__enter__() if context else None
    try:
        process = targets.sendapp_process(folder / name, cert_dir, core, database_url).start()
        try:
            log(f"{name}: registering {2 * args.pairs + 2} users through the API")
            prefix = f"r{run_index}"
            pairs, seconds = people.sendapp_pairs(process.url, ca, args.pairs, prefix)
            catch_pairs, _ = people.sendapp_pairs(process.url, ca, 1, prefix + "c")
            extra["setup_seconds"] = round(seconds, 2)
            database_pids = None
            if database_url:
                database = database_url.rsplit("/", 1)[1]
                database_pids = lambda: targets.postgres_backends(args.postgres, database)  # noqa: E731
            out = asyncio.run(measure_sendapp(name, process, pairs, catch_pairs[0], args, ssl,
                                              database_pids))
        finally:
            code, seconds = process.stop()
            tracebacks = process.count_in_log("Traceback")
        out.update(extra)
        out["stop"] = {"exit": code, "seconds": round(seconds, 2), "tracebacks": tracebacks}
        if "sigterm" in out:  # the server was stopped under load already
            out["stop"].update(exit=out["sigterm"].get("exit"),
                               seconds=out["sigterm"].get("seconds"), under_load=True)
        out["integrity_throughput"] = integrity(out, ["tput_1", "tput_n"])
        out["integrity_all"] = integrity(out, ["tput_1", "tput_n", "lone", "half_rate",
                                               "overload", "sigterm"])
        return out
    finally:
        if context:
            context.__exit__(None, None, None)


def browser_figures(args, folder, cert_dir, server_core):
    """The browser-side figures, once after the runs; a failure is recorded, not fatal."""
    sizes = browser.TINY if args.tiny else browser.Sizes()
    try:
        return browser.measure(folder / "browser", cert_dir, sizes, server_core, log)
    except Exception as error:  # noqa: BLE001 - the server figures are kept either way
        log(f"browser: failed: {error}")
        return {"error": str(error)}


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = None
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem_kb and mem_kb // 1024,
            "kernel": platform.release(), "python": platform.python_version()}


def _stop_on_sigterm(signum, _frame):
    """SIGTERM unwinds like Ctrl-C, so every started server is stopped by its pid."""
    raise SystemExit(128 + signum)


def main(argv=None):
    args = options(argv)
    if args.table:
        report.print_results(json.loads(Path(args.table).read_text()))
        return 0
    if args.compare:
        before, after = (json.loads(Path(f).read_text()) for f in args.compare)
        print(report.compare(before, after))
        return 0
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if "postgres" in args.backends:
        reason = targets.postgres_reachable(args.postgres)
        if reason:
            print(f"PostgreSQL is not reachable ({reason}); run with "
                  "BENCH_ARGS='--backends bare,sqlite' to leave it out.", file=sys.stderr)
            return 2
    reason = None if args.no_browser else browser.unavailable()
    if reason:
        print(f"The browser figures cannot be taken: {reason}; run with "
              "BENCH_ARGS='--no-browser' to leave them out.", file=sys.stderr)
        return 2
    pinned = not args.no_pin and targets.can_pin() and targets.pin_self(GENERATOR_CORE)
    server_core = SERVER_CORE if pinned else None
    meta = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(), "load_average_at_start": os.getloadavg(),
            "pinned": pinned, "server_core": server_core,
            "generator_core": GENERATOR_CORE if pinned else None,
            "options": {k: v for k, v in vars(args).items() if k != "postgres"}}
    runs = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sendapp-bench-") as tmp:
        folder = Path(tmp)
        cert_dir = folder / "certs"
        tls.ensure_certificate(str(cert_dir), extra_hosts=[targets.HOST])
        ca = cert_dir / tls.CA_NAME
        for run_index in range(args.runs):
            run = {"load_average": os.getloadavg()}
            for name in args.backends:
                log(f"run {run_index + 1}/{args.runs}: {name}")
                run[name] = run_target(name, args, folder / f"run{run_index}", cert_dir, ca,
                                       server_core, run_index)
            runs.append(run)
        figures = None if args.no_browser else browser_figures(args, folder, cert_dir,
                                                                server_core)
    meta["seconds"] = round(time.perf_counter() - started, 1)
    meta["load_average_at_end"] = os.getloadavg()
    median = report.medians([{k: v for k, v in r.items() if k in BACKENDS} for r in runs])
    goals = report.targets(median)
    result = {"meta": meta, "median": median, "targets": goals, "runs": runs,
              "browser": figures}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print()
    report.print_results(result)
    print(f"Results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
