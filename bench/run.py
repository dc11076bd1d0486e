"""`python -m bench`: run the scenarios against the bare relays (Python, Node), SendApp on
SQLite (rate limiter off and on) and on PostgreSQL, take the browser-side figures in Chromium,
print the tables and write the JSON
results (see docs/BENCHMARKS.md)."""
import argparse
import asyncio
import datetime
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from sendapp import tls
from sendapp.client.realtime import ssl_context

from . import browser, groups, measure, people, report, targets
from .measure import log

SERVER_CORE, GENERATOR_CORE = 0, 1
SERVER_MAX_MEMBERS = 64  # the server's default max_members (PROTOCOL §9.1), raised for more
GROUP_BACKENDS = ("sqlite", "postgres")  # the relays have no groups; the limiter run is 1:1
BACKENDS = report.TARGETS  # bare, node, sqlite, sqlite-limiter, postgres
# The rate limiter on, its limits raised so that they do not bite: what checking costs.
LIMITER_ENV = {"SENDAPP_RATELIMIT": "1", "SENDAPP_RATELIMIT_SOCKET": "100000/second",
               "SENDAPP_RATELIMIT_AUTH": "100000/second",
               "SENDAPP_RATELIMIT_PRELOGIN": "100000/second",
               "SENDAPP_RATELIMIT_VAULT": "100000/second",
               "SENDAPP_RATELIMIT_FRIENDS": "100000/second"}


def counts(text, kind=int):
    """A comma-separated list of positive numbers, e.g. `1,50,500`."""
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"numbers must be positive: {text!r}")
    return values


def factors(text):
    return counts(text, float)


def options(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"comma-separated, from {','.join(BACKENDS)} (default: all)")
    parser.add_argument("--runs", type=int, default=1, help="repeat everything; medians reported")
    parser.add_argument("--pairs", type=int, default=50,
                        help="pairs of the open-loop scenarios and the rate-limiter run")
    parser.add_argument("--pair-counts", type=counts, default=[1, 50, 500],
                        help="pair counts of the throughput scenario (default 1,50,500)")
    parser.add_argument("--window", type=int, default=8, help="messages in flight per sender")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    parser.add_argument("--rate-hint", type=float, default=6000.0,
                        help="highest msg/s expected: sizes the pre-sealed pools")
    parser.add_argument("--node-rate-hint", type=float, default=12000.0,
                        help="the same for the Node relay (several times faster)")
    parser.add_argument("--group-size", type=int, default=25,
                        help="members of the group scenario, every one online (SendApp "
                             "backends only; 0: skip; above 64 the server's max_members is "
                             "raised to it)")
    parser.add_argument("--group-senders", type=int, default=5,
                        help="members sending in the group scenario, each --window in flight")
    parser.add_argument("--group-only", action="store_true",
                        help="run only the group scenario, on the SendApp backends asked for "
                             "(no browser figures)")
    parser.add_argument("--group-rate-hint", type=float, default=1000.0,
                        help="highest group msg/s expected: sizes the group's pre-sealed pools")
    parser.add_argument("--lone", type=int, default=200, help="sequential lone messages")
    parser.add_argument("--rate-seconds", type=float, default=5.0,
                        help="seconds of the fixed-rate and overload scenarios")
    parser.add_argument("--sustained", type=float, default=0.0, metavar="SECONDS",
                        help="also offer --sustained-factor x the max for this long, "
                             "sampling the server's memory (0: skip; default)")
    parser.add_argument("--sustained-factor", type=float, default=0.5,
                        help="the sustained scenario's rate, as a share of the max")
    parser.add_argument("--sustained-rate", type=float, default=0.0, metavar="MSG_PER_S",
                        help="the sustained scenario's rate in msg/s, instead of a share of "
                             "the max (the same load on both sides of a comparison)")
    parser.add_argument("--overload", type=factors, default=[2.0, 4.0],
                        help="overload factors x max rate (default 2,4)")
    parser.add_argument("--catch-up", type=int, default=10_000, help="messages to sync (0: skip)")
    parser.add_argument("--idle-counts", type=counts, default=[1000, 5000, 10000],
                        help="idle sockets per pass (default 1000,5000,10000)")
    parser.add_argument("--no-idle", action="store_true", help="skip the idle-socket passes")
    parser.add_argument("--polling-pairs", type=int, default=10,
                        help="pairs of the long-polling scenarios (0: skip)")
    parser.add_argument("--polling-lone", type=int, default=50,
                        help="lone messages over long-polling")
    parser.add_argument("--server-root", type=Path, default=targets.ROOT,
                        help="run SendApp's app.py from this checkout (e.g. a worktree of an "
                             "older commit) with this harness and .venv")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a SENDAPP_* setting for SendApp's processes (repeatable), to "
                             "measure a setting against its default")
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
    parser.add_argument("--bare-stock-gc", action="store_true",
                        help="bare relay with Python's own collector settings (SendApp "
                             "freezes old objects out of the collector's walks)")
    parser.add_argument("--bare-to", choices=("pair", "peer"), default="pair",
                        help="bare relay emits to the pair room (both sockets, as SendApp) "
                             "or only to the peer's")
    parser.add_argument("--postgres", default=targets.POSTGRES_ADMIN_URL,
                        help="admin URL; a scratch database is created and dropped")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/generator")
    parser.add_argument("--tiny", action="store_true",
                        help="a seconds-long smoke run: 1 pair, 20 messages, small everything")
    parser.add_argument("--keep-logs", type=Path, metavar="DIR",
                        help="copy each server's log there, <run>-<backend>.log (not the cluster's)")
    parser.add_argument("--out", default=str(Path("bench") / "results" / "latest.json"))
    parser.add_argument("--table", metavar="FILE",
                        help="only print the table of an earlier results file")
    parser.add_argument("--compare", nargs="+", metavar="FILE",
                        help="only print results files side by side: a lever's before and after, or a series")
    args = parser.parse_args(argv)
    if args.tiny:
        args.pairs, args.pair_counts, args.lone, args.catch_up = 1, [1, 2], 5, 300
        args.idle_counts, args.polling_pairs, args.polling_lone = [5], 1, 5
        args.group_size, args.group_senders = min(args.group_size, 3), min(args.group_senders, 2)
        args.warmup, args.duration, args.rate_seconds, args.runs = 0.0, 10.0, 1.0, 1
        args.tiny_messages, args.settle = 20, 0.2
    else:
        args.tiny_messages, args.settle = None, 1.0
    if args.no_idle:
        args.idle_counts, args.no_browser = [], True
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    if args.group_size < 0:
        parser.error("--group-size must be 0 (no group scenario) or more")
    if args.group_senders < 1:
        parser.error("--group-senders must be at least 1")
    if args.group_only:
        if not args.group_size:
            parser.error("--group-only needs a --group-size")
        args.backends = [b for b in args.backends if b in GROUP_BACKENDS]
        if not args.backends:
            parser.error(f"--group-only runs on {', '.join(GROUP_BACKENDS)} only "
                         "(the bare relays have no groups)")
        args.idle_counts, args.no_browser = [], True
    if not (args.server_root / "app.py").is_file():
        parser.error(f"--server-root {args.server_root}: no app.py there")
    args.users_pairs = max(args.pair_counts + [args.pairs])
    # Every idle socket, two per pair and a margin (polling, catch-up): one IP opens them all.
    args.max_connections = max(4096, max(args.idle_counts or [0]) + 2 * args.users_pairs + 1000)
    return args


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
    if name in ("bare", "node"):
        if name == "bare":
            process = targets.bare_process(folder, cert_dir, core, args.bare_nagle,
                                           args.bare_to, args.bare_stock_gc)
        else:
            process = targets.node_process(folder, cert_dir, core, args.bare_nagle,
                                           args.bare_to)
        process = process.start()
        try:
            out = asyncio.run(measure.measure_bare(name, process, args, ssl))
        finally:
            code, seconds = process.stop()
            keep_log(args.keep_logs, process, run_index, name)
        out["stop"] = {"exit": code, "seconds": round(seconds, 2)}
        return out
    if name == "cluster":
        return _run_cluster(name, args, folder, core, run_index)
    context = targets.scratch_postgres(args.postgres) if name == "postgres" else None
    database_url = context.__enter__() if context else None
    limiter = name == "sqlite-limiter"
    env = dict(LIMITER_ENV) if limiter else {}
    env.update(server_env(args.server_env))
    if args.group_size > SERVER_MAX_MEMBERS:
        env["SENDAPP_GROUP_MAX_MEMBERS"] = str(args.group_size)
    try:
        process = targets.sendapp_process(
            folder / name, cert_dir, core, database_url, env, args.server_root,
            args.max_connections).start()
        try:
            prefix = f"r{run_index}"
            if not args.group_only:
                users = args.pairs if limiter else args.users_pairs
                log(f"{name}: registering {2 * users + 2} users through the API")
                pairs, seconds = people.sendapp_pairs(process.url, ca, users, prefix)
                catch_pairs, _ = people.sendapp_pairs(process.url, ca, 1, prefix + "c")
                extra["setup_seconds"] = round(seconds, 2)
            group = None
            if args.group_size and name in GROUP_BACKENDS:
                log(f"{name}: registering a group of {args.group_size} through the API")
                group, seconds = groups.sendapp_group(process.url, ca, args.group_size,
                                                      prefix + "g")
                extra["group_setup_seconds"] = round(seconds, 2)
            database_pids = None
            if database_url:
                database = database_url.rsplit("/", 1)[1]
                database_pids = lambda: targets.postgres_backends(args.postgres, database)  # noqa: E731
            if args.group_only:
                out = asyncio.run(measure.measure_group(name, process, group, args, ssl,
                                                        database_pids))
            elif limiter:
                out = asyncio.run(measure.measure_limiter(name, process, pairs, args, ssl))
            else:
                out = asyncio.run(measure.measure_sendapp(name, process, pairs, catch_pairs[0],
                                                          args, ssl, database_pids, group))
        finally:
            code, seconds = process.stop()
            tracebacks = process.count_in_log("Traceback")
            keep_log(args.keep_logs, process, run_index, name)
        out.update(extra)
        out["stop"] = {"exit": code, "seconds": round(seconds, 2), "tracebacks": tracebacks}
        if "sigterm" in out:  # the server was stopped under load already
            out["stop"].update(exit=out["sigterm"].get("exit"),
                               seconds=out["sigterm"].get("seconds"), under_load=True)
        closed = [k for k in out if k.startswith("tput_")] + ["polling", "group"]
        out["integrity_throughput"] = integrity(out, closed)
        out["integrity_all"] = integrity(out, closed + [
            k for k in out if k.startswith("overload_")] + [
            "lone", "polling_lone", "half_rate", "sustained", "sigterm"])
        return out
    finally:
        if context:
            context.__exit__(None, None, None)


CLUSTER_PAIRS = 100  # nginx's per-client connection cap (256) holds 2 sockets per pair


def server_env(pairs):
    """--server-env NAME=VALUE options as a dict; only SendApp's own settings."""
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("SENDAPP_"):
            raise SystemExit(f"--server-env wants SENDAPP_NAME=VALUE, not {pair!r}")
        settings[name] = value
    return settings


def _run_cluster(name, args, folder, core, run_index):
    """Two processes behind the shipped nginx config, PostgreSQL and Redis (bench/cluster.py)."""
    from . import cluster

    with targets.scratch_postgres(args.postgres) as database_url:
        database = database_url.rsplit("/", 1)[1]
        process = cluster.ClusterProcess(folder / name, database_url, core).start()
        try:
            count = min(max(args.pair_counts + [args.pairs]), CLUSTER_PAIRS)
            log(f"{name}: registering {2 * count} users through nginx")
            pairs, seconds = people.sendapp_pairs(process.url, process.ca, count,
                                                  f"r{run_index}")
            out = asyncio.run(measure.measure_cluster(
                name, process, pairs, args, ssl_context(str(process.ca)),
                lambda: targets.postgres_backends(args.postgres, database),
                lambda: cluster.LockWaits(args.postgres, database)))
            out["setup_seconds"] = round(seconds, 2)
        finally:
            code, seconds = process.stop()
            tracebacks = process.count_in_log("Traceback")
        out["stop"] = {"exit": code, "seconds": round(seconds, 2), "tracebacks": tracebacks}
        # A WebSocket is logged when it ends: count after the stop.
        out["sockets_per_process"] = {str(i): n for i, n in
                                      enumerate(process.sockets_per_process())}
        out["integrity_throughput"] = integrity(out, [k for k in out if k.startswith("tput_")])
        out["integrity_all"] = integrity(out, [k for k in out if k.startswith("tput_")]
                                         + ["lone", "half_rate"])
        return out


def keep_log(keep, process, run_index, name):
    """Copy a stopped target's log out of the scratch folder (--keep-logs)."""
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(process.log_path, keep / f"run{run_index + 1}-{name}.log")


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
        if len(args.compare) < 2:
            print("--compare needs at least two results files", file=sys.stderr)
            return 2
        print(report.compare(*(json.loads(Path(f).read_text()) for f in args.compare)))
        return 0
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if {"postgres", "cluster"} & set(args.backends):
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
    open_files = targets.raise_open_files()
    wanted_files = max(args.idle_counts or [0]) + 2 * args.users_pairs + 200
    if open_files[0] != -1 and open_files[0] < wanted_files:
        log(f"the open-file limit ({open_files[0]}, hard {open_files[1]}) is below the "
            f"{wanted_files} sockets wanted: the largest idle pass cannot open them all")
    pinned = not args.no_pin and targets.can_pin() and targets.pin_self(GENERATOR_CORE)
    server_core = SERVER_CORE if pinned else None
    meta = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(), "load_average_at_start": os.getloadavg(),
            "pinned": pinned, "server_core": server_core,
            "generator_core": GENERATOR_CORE if pinned else None,
            "open_files_limit": open_files,
            "harness_commit": targets.git_head(targets.ROOT),
            "server_root": str(args.server_root.resolve()),
            "server_commit": targets.git_head(args.server_root),
            "options": {k: (str(v) if isinstance(v, Path) else v)
                        for k, v in vars(args).items() if k != "postgres"}}
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
    result = {"meta": meta, "runs": runs, "browser": figures}
    result["median"] = report.run_medians(result)
    result["targets"] = report.targets(result["median"], report.table_options(meta["options"]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print()
    report.print_results(result)
    print(f"Results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
