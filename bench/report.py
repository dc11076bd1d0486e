"""Results: medians over runs, the printed table, and issue 8's targets met or missed."""
import statistics

TARGETS = ("bare", "sqlite", "postgres")


def median_of(values):
    """The median of the runs' values: numbers by statistics.median, booleans all-true."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, bool) for v in present):
        return all(present)
    if all(isinstance(v, (int, float)) for v in present):
        middle = statistics.median(present)
        if all(isinstance(v, int) for v in present) and middle == int(middle):
            return int(middle)
        return round(middle, 3) if isinstance(middle, float) else middle
    if all(isinstance(v, dict) for v in present):
        keys = []
        for v in present:
            keys += [k for k in v if k not in keys]
        return {k: median_of([v.get(k) for v in present]) for k in keys}
    return present[-1]  # text: the last run's


def medians(runs):
    """One result tree whose numbers are the medians over `runs` (each {target: results})."""
    names = [t for t in TARGETS if any(t in run for run in runs)]
    return {t: median_of([run.get(t) for run in runs]) for t in names}


def _get(tree, path):
    for key in path.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _fmt(value, unit=""):
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        value = f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{unit}"


def _ratio(value, base):
    if not isinstance(value, (int, float)) or not isinstance(base, (int, float)) or not base:
        return ""
    return f" ({100 * value / base:.0f} %)"


ROWS = [
    # label, path, unit, compare with bare
    ("msg/s, 1 pair, 8 in flight", "tput_1.rate_per_s", "", True),
    ("msg/s, {pairs} pairs, 8 in flight", "tput_n.rate_per_s", "", True),
    ("server CPU µs/msg ({pairs} pairs)", "tput_n.server_cpu_us_per_msg", "", False),
    ("PostgreSQL backends' CPU µs/msg ({pairs} pairs)", "tput_n.database_cpu_us_per_msg", "",
     False),
    ("server CPU % (1 pair / {pairs} pairs)", ("tput_1.server_cpu_pct", "tput_n.server_cpu_pct"),
     "", False),
    ("generator CPU % (1 pair / {pairs} pairs)",
     ("tput_1.generator_cpu_pct", "tput_n.generator_cpu_pct"), "", False),
    ("ack p50/p99 ms ({pairs} pairs)", ("tput_n.ack.p50_ms", "tput_n.ack.p99_ms"), "", False),
    ("all acked stored once (throughput)", "integrity_throughput", "", False),
    ("lone: send→ack p50/p99 ms", ("lone.ack.p50_ms", "lone.ack.p99_ms"), "", False),
    ("lone: send→receive p50/p99 ms", ("lone.receive.p50_ms", "lone.receive.p99_ms"), "", False),
    ("half max rate: offered msg/s", "half_rate.offered_per_s", "", False),
    ("half max: ack p50/p99/p99.9 ms",
     ("half_rate.ack.p50_ms", "half_rate.ack.p99_ms", "half_rate.ack.p999_ms"), "", False),
    ("half max: receive p50/p99/p99.9 ms",
     ("half_rate.receive.p50_ms", "half_rate.receive.p99_ms", "half_rate.receive.p999_ms"), "",
     False),
    ("catch-up of {catch_up} by sync, s", "catch_up.seconds", "", False),
    ("KB per idle socket ({idle} sockets)", "idle.kb_per_socket", "", False),
    ("KB per idle socket offering permessage-deflate", "idle_deflate.kb_per_socket", "", False),
    ("chat p50 ack ms while idle sockets open", "idle.chat_meanwhile.ack.p50_ms", "", False),
    ("2x max: offered msg/s", "overload.offered_per_s", "", False),
    ("2x max: acked p50/p99 ms", ("overload.ack.p50_ms", "overload.ack.p99_ms"), "", False),
    ("2x max: acked / retry nacks / timeouts",
     ("overload.acked", "overload.retry_nacks", "overload.timeouts"), "", False),
    ("all acked stored once (all scenarios)", "integrity_all", "", False),
    ("SIGTERM to exit, s (SendApp: under full load)", "stop.seconds", "", False),
    ("SIGTERM under load: acked before / after it, unanswered",
     ("sigterm.acked_before_sigterm", "sigterm.acked", "sigterm.unanswered"), "", False),
    ("SIGTERM under load: acked stored once", "sigterm.stored.ok", "", False),
    ("tracebacks in the server log", "stop.tracebacks", "", False),
]


BROWSER_ROWS = [
    # label, path in bench/browser.py's figures
    ("login key derivation, PBKDF2 {iterations} iterations, ms", "login_kdf.ms"),
    ("login end to end (prelogin, derivation, /api/login, vault, keys kept), ms",
     "login_flow.ms"),
    ("seal one text message ({padded_bytes} B padded), µs", "message.seal_us"),
    ("open one text message, µs", "message.open_us"),
    ("attachment encrypt ({file}), MB/s", "attachment.encrypt_mb_per_s"),
    ("attachment decrypt and check ({file}), MB/s", "attachment.decrypt_mb_per_s"),
]


def _size_text(size):
    mib = size / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 else f"{size // 1024} KiB"


def browser_table(figures):
    """A Markdown table of the browser-side figures, the Chromium version in its header."""
    labels = {"iterations": _fmt(_get(figures, "login_kdf.iterations")),
              "padded_bytes": _get(figures, "message.padded_bytes"),
              "file": _size_text(_get(figures, "attachment.bytes") or 0)}
    lines = [f"| browser side | Chromium {figures.get('chromium')} |", "|---|---|"]
    lines += [f"| {label.format(**labels)} | {_fmt(_get(figures, path))} |"
              for label, path in BROWSER_ROWS]
    return "\n".join(lines)


def table(results, options):
    """A Markdown table: one row per figure, one column per target, ratios to the bare relay."""
    names = [t for t in TARGETS if t in results]
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, path, unit, compare in ROWS:
        cells = []
        for name in names:
            tree = results[name] or {}
            if isinstance(path, tuple):
                values = [_get(tree, p) for p in path]
                cell = " / ".join(_fmt(v) for v in values) if any(
                    v is not None for v in values) else "–"
            else:
                value = _get(tree, path)
                cell = _fmt(value, unit)
                if compare and name != "bare" and "bare" in results:
                    cell += _ratio(value, _get(results["bare"] or {}, path))
                scenario = path.split(".")[0]
                if path.endswith("rate_per_s") and _get(tree, f"{scenario}.pools_exhausted") \
                        and not options.get("count_bound"):
                    cell += " (pool ran out: raise --rate-hint)"
            cells.append(cell)
        if all(c == "–" for c in cells):
            continue
        lines.append(f"| {label.format(**options)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(results):
    """Issue 8's targets this harness measures: (target, measured, met?) per line."""
    out = []
    bare = results.get("bare") or {}
    sqlite = results.get("sqlite") or {}
    postgres = results.get("postgres") or {}

    def add(what, measured, met):
        out.append({"target": what, "measured": measured, "met": met})

    for n_path, label in (("tput_1.rate_per_s", "1 pair"), ("tput_n.rate_per_s", "many pairs")):
        s, b = _get(sqlite, n_path), _get(bare, n_path)
        if s and b:
            add(f"SQLite throughput ≥ 60 % of bare relay ({label})", f"{100 * s / b:.0f} %",
                s >= 0.6 * b)
        p = _get(postgres, n_path)
        if s and p:
            add(f"PostgreSQL ≥ 80 % of SQLite ({label})", f"{100 * p / s:.0f} %", p >= 0.8 * s)
    for name, tree in (("SQLite", sqlite), ("PostgreSQL", postgres)):
        if not tree:
            continue
        ack, rcv = _get(tree, "lone.ack.p50_ms"), _get(tree, "lone.receive.p50_ms")
        if ack is not None:
            add(f"{name}: lone message acked ≤ 5 ms (p50)", f"{ack:.1f} ms", ack <= 5)
        if rcv is not None:
            add(f"{name}: lone message delivered ≤ 5 ms (p50)", f"{rcv:.1f} ms", rcv <= 5)
        p99 = _get(tree, "half_rate.ack.p99_ms")
        if p99 is not None:
            add(f"{name}: p99 ≤ 10 ms at half the max rate (ack)", f"{p99:.1f} ms", p99 <= 10)
        over = _get(tree, "overload.ack.p99_ms")
        if over is not None:
            lost = (_get(tree, "overload.timeouts") or 0)
            add(f"{name}: {_get(tree, 'overload.offered_per_s'):,.0f} msg/s offered (2x max): "
                "p99 of accepted ≤ 1 s, no timeouts",
                f"{over:,.0f} ms, {lost} timeouts", over <= 1000 and lost == 0)
        for path, how in (("idle_deflate", "offering permessage-deflate as browsers do"),
                          ("idle", "not offering permessage-deflate")):
            kb = _get(tree, f"{path}.kb_per_socket")
            if kb is not None:
                add(f"{name}: ≤ 64 KB per idle authenticated socket ({how})", f"{kb:.0f} KB",
                    kb <= 64)
        seconds = _get(tree, "sigterm.seconds")
        if seconds is not None:
            add(f"{name}: SIGTERM under full load exits ≤ 5 s, every acked message stored",
                f"{seconds:.1f} s, stored: {_fmt(_get(tree, 'sigterm.stored.ok'))}",
                seconds <= 5 and _get(tree, "sigterm.stored.ok") is True)
        seconds = _get(tree, "catch_up.seconds")
        if seconds is not None:
            count = _get(tree, "catch_up.messages")
            add(f"{name}: catch-up of {count:,} messages by sync ≤ 1 s", f"{seconds:.2f} s",
                seconds <= 1)
    return out


def print_results(result):
    """Print the table and the targets of a results file (`python -m bench --table FILE`)."""
    meta = result["meta"]
    opts = meta["options"]
    table_options = {"pairs": opts["pairs"], "catch_up": f"{opts['catch_up']:,}",
                     "idle": f"{opts['idle']:,}", "count_bound": bool(opts.get("tiny_messages"))}
    print(f"Medians of {len(result['runs'])} run(s) started {meta['started']}; "
          f"pinned: {meta['pinned']}; {meta['seconds']} s")
    median = _run_medians(result)
    print(table(median, table_options))
    print()
    print(targets_table(targets(median)))
    figures = result.get("browser")
    if figures:
        print()
        print(f"Browser side failed: {figures['error']}" if "error" in figures
              else browser_table(figures))


def _run_medians(result):
    return medians([{k: v for k, v in run.items() if k in TARGETS} for run in result["runs"]])


def compare(before, after):
    """A Markdown table of two results files, figure by figure: before, after, change."""
    a, b = _run_medians(before), _run_medians(after)
    opts = after["meta"]["options"]
    labels = {"pairs": opts["pairs"], "catch_up": f"{opts['catch_up']:,}",
              "idle": f"{opts['idle']:,}"}
    lines = ["| figure | target | before | after | change |", "|---|---|---|---|---|"]
    for label, path, unit, _compare in ROWS:
        for name in TARGETS:
            if name not in a or name not in b:
                continue
            for one in (path if isinstance(path, tuple) else (path,)):
                old, new = _get(a[name] or {}, one), _get(b[name] or {}, one)
                if old is None and new is None:
                    continue
                change = ""
                if isinstance(old, (int, float)) and isinstance(new, (int, float)) \
                        and not isinstance(old, bool) and old:
                    change = f"{100 * (new - old) / old:+.0f} %"
                lines.append(f"| {label.format(**labels)} [{one}] | {name} "
                             f"| {_fmt(old)} | {_fmt(new)} | {change} |")
    return "\n".join(lines)


def targets_table(rows):
    lines = ["| target | measured | met |", "|---|---|---|"]
    lines += [f"| {r['target']} | {r['measured']} | {'yes' if r['met'] else 'no'} |"
              for r in rows]
    return "\n".join(lines)
