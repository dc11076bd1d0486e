"""Results: medians over runs, the printed table, and issue 8's targets met or missed."""
import statistics

TARGETS = ("bare", "node", "sqlite", "sqlite-limiter", "postgres", "cluster")
# A column's figures are shown as a share of these columns' (the ceilings; limiter off;
# the two processes behind nginx against one process on PostgreSQL).
RATIO_BASES = {"sqlite": ("bare", "node"), "postgres": ("bare", "node"),
               "sqlite-limiter": ("sqlite",), "cluster": ("postgres",)}


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


def _ratios(results, name, path, value):
    """" (8 % of bare, 6 % of node)" for the columns this one is compared with."""
    parts = []
    for base_name in RATIO_BASES.get(name, ()):
        base = _get(results.get(base_name) or {}, path)
        if isinstance(value, (int, float)) and isinstance(base, (int, float)) and base:
            parts.append(f"{100 * value / base:.0f} % of {base_name}")
    return f" ({', '.join(parts)})" if parts else ""


def table_options(opts):
    """The counts a results file was made with; files from before the lists get theirs."""
    pairs = opts.get("pairs", 50)
    idle = opts.get("idle_counts")
    if idle is None:
        idle = [opts["idle"]] if opts.get("idle") else []
    overload = opts.get("overload", [2.0])
    return {"pairs": pairs, "pair_counts": opts.get("pair_counts") or sorted({1, pairs}),
            "idle_counts": idle, "overload": overload if isinstance(overload, list)
            else [overload], "catch_up": f"{opts.get('catch_up', 0):,}",
            "polling_pairs": opts.get("polling_pairs", 0),
            "group_size": opts.get("group_size", 0), "group_senders": opts.get("group_senders", 0),
            "window": opts.get("window", 8), "count_bound": bool(opts.get("tiny_messages")),
            "sustained": opts.get("sustained", 0)}


def merged_options(*many):
    """One set of counts covering several files' (for --compare)."""
    out = dict(many[-1])
    for key in ("pair_counts", "idle_counts", "overload"):
        out[key] = sorted({v for o in many for v in o[key]})
    out["sustained"] = max(o["sustained"] for o in many)
    return out


def normalized(tree, opts):
    """A target's results with the keys of files older than the count lists renamed."""
    if not isinstance(tree, dict):
        return tree
    renames = {"tput_n": f"tput_{opts['pairs']}"}
    if opts["overload"]:  # `--overload ''` runs none
        renames["overload"] = f"overload_{opts['overload'][0]:g}x"
    if opts["idle_counts"]:
        renames["idle"] = f"idle_{opts['idle_counts'][0]}"
    return {renames.get(k, k): v for k, v in tree.items()
            if not (k == "tput_n" and opts["pairs"] == 1)}


def pairs_text(n):
    return "1 pair" if n == 1 else f"{n:,} pairs"


def rows(o):
    """(label, path or paths, compare with the bare relays) per figure, for these counts."""
    out = []
    for n in o["pair_counts"]:
        t, pairs = f"tput_{n}", pairs_text(n)
        out += [(f"msg/s, {pairs}, 8 in flight", f"{t}.rate_per_s", True),
                (f"server CPU µs/msg ({pairs})", f"{t}.server_cpu_us_per_msg", False),
                (f"PostgreSQL backends' CPU µs/msg ({pairs})", f"{t}.database_cpu_us_per_msg",
                 False),
                (f"server / generator CPU % ({pairs})",
                 (f"{t}.server_cpu_pct", f"{t}.generator_cpu_pct"), False),
                (f"ack p50/p99 ms ({pairs})", (f"{t}.ack.p50_ms", f"{t}.ack.p99_ms"), False),
                (f"`retry` nacks sent again ({pairs})", f"{t}.retry_resent", False),
                (f"2 processes: share of time a writer waited for the order lock ({pairs})",
                 f"{t}.lock_waits.share_with_a_writer_waiting", False)]
    out.append(("2 processes: Socket.IO requests answered by each",
                ("sockets_per_process.0", "sockets_per_process.1"), False))
    out += group_rows(o)
    out += [
        ("all acked stored once (throughput)", "integrity_throughput", False),
        ("lone: send→ack p50/p99 ms", ("lone.ack.p50_ms", "lone.ack.p99_ms"), False),
        ("lone: send→receive p50/p99 ms", ("lone.receive.p50_ms", "lone.receive.p99_ms"), False),
        (f"long-polling msg/s, {pairs_text(o['polling_pairs'])}", "polling.rate_per_s", True),
        ("long-polling: server / generator CPU %",
         ("polling.server_cpu_pct", "polling.generator_cpu_pct"), False),
        ("long-polling: ack p50/p99 ms", ("polling.ack.p50_ms", "polling.ack.p99_ms"), False),
        ("long-polling lone: send→ack p50/p99 ms",
         ("polling_lone.ack.p50_ms", "polling_lone.ack.p99_ms"), False),
        ("long-polling lone: send→receive p50/p99 ms",
         ("polling_lone.receive.p50_ms", "polling_lone.receive.p99_ms"), False),
        ("half max rate: offered msg/s", "half_rate.offered_per_s", False),
        ("half max: ack p50/p99/p99.9 ms",
         ("half_rate.ack.p50_ms", "half_rate.ack.p99_ms", "half_rate.ack.p999_ms"), False),
        ("half max: receive p50/p99/p99.9 ms",
         ("half_rate.receive.p50_ms", "half_rate.receive.p99_ms", "half_rate.receive.p999_ms"),
         False),
        (f"catch-up of {o['catch_up']} by sync, s", "catch_up.seconds", False),
    ]
    if o.get("sustained"):
        out += [(f"sustained {o['sustained']:g} s: offered msg/s", "sustained.offered_per_s",
                 False),
                ("sustained: ack p50/p99 ms, worst 10-s p99",
                 ("sustained.ack.p50_ms", "sustained.ack.p99_ms",
                  "sustained.worst_stretch_p99_ms"), False),
                ("sustained: server RSS KiB first/max/last",
                 ("sustained.rss_kb.first", "sustained.rss_kb.max", "sustained.rss_kb.last"),
                 False)]
    for n in o["idle_counts"]:
        i = f"idle_{n}"
        out += [(f"KB per idle socket ({n:,} sockets)", f"{i}.kb_per_socket", False),
                (f"{n:,} idle sockets: all opened / seconds to open",
                 (f"{i}.all_opened", f"{i}.open_seconds"), False),
                (f"opening {n:,} idle sockets: server / generator CPU %",
                 (f"{i}.opening.server_cpu_pct", f"{i}.opening.generator_cpu_pct"), False),
                (f"chat ack p50/p99 ms while {n:,} idle sockets open",
                 (f"{i}.chat_meanwhile.ack.p50_ms", f"{i}.chat_meanwhile.ack.p99_ms"), False)]
    out.append(("sockets offering permessage-deflate: negotiated / opened",
                ("idle_deflate.deflate_negotiated", "idle_deflate.opened"), False))
    for f in o["overload"]:
        v = f"overload_{f:g}x"
        out += [(f"{f:g}x max: offered msg/s", f"{v}.offered_per_s", False),
                (f"{f:g}x max: accepted send→ack p50/p99 ms",
                 (f"{v}.attempt.p50_ms", f"{v}.attempt.p99_ms"), False),
                (f"{f:g}x max: first send→final ack p50/p99 ms (resends included)",
                 (f"{v}.ack.p50_ms", f"{v}.ack.p99_ms"), False),
                (f"{f:g}x max: accepted / retry nacks / resent / timeouts",
                 (f"{v}.acked", f"{v}.retry_nacks", f"{v}.resent", f"{v}.timeouts"), False),
                (f"{f:g}x max: cids never stored (outbox gave up) / stored twice",
                 (f"{v}.lost", f"{v}.doubled"), False),
                (f"{f:g}x max: server / generator CPU %",
                 (f"{v}.server_cpu_pct", f"{v}.generator_cpu_pct"), False)]
    out += [
        ("all acked stored once (all scenarios)", "integrity_all", False),
        ("SIGTERM to exit, s (SendApp: under full load)", "stop.seconds", False),
        ("SIGTERM under load: acked before / after it, unanswered",
         ("sigterm.acked_before_sigterm", "sigterm.acked", "sigterm.unanswered"), False),
        ("SIGTERM under load: acked stored once", "sigterm.stored.ok", False),
        ("tracebacks in the server log", "stop.tracebacks", False),
    ]
    return out


def group_rows(o):
    """The group scenario's rows (issue 9), next to the 1:1 throughput: SendApp only."""
    size = o.get("group_size")
    if not size:
        return []
    g = f"group of {size}"
    senders = o.get("group_senders") or 0
    senders = min(senders, size) if senders else "?"
    return [
        (f"{g} (SendApp only, the relays have no groups): msg/s, {senders} senders × "
         f"{o['window']} in flight", "group.rate_per_s", False),
        (f"{g}: deliveries/s (each message to all {size} members)", "group.deliveries_per_s",
         False),
        (f"{g}: server CPU µs per message / per delivery",
         ("group.server_cpu_us_per_msg", "group.server_cpu_us_per_delivery"), False),
        (f"{g}: PostgreSQL backends' CPU µs/msg", "group.database_cpu_us_per_msg", False),
        (f"{g}: server / generator CPU %",
         ("group.server_cpu_pct", "group.generator_cpu_pct"), False),
        (f"{g}: ack p50/p99 ms", ("group.ack.p50_ms", "group.ack.p99_ms"), False),
        (f"{g}: send→receive p50/p99 ms (every member's receipt)",
         ("group.receive.p50_ms", "group.receive.p99_ms"), False),
        (f"{g}: sent after the warm-up: ack / send→receive p99 ms",
         ("group.after_warmup.ack.p99_ms", "group.after_warmup.receive.p99_ms"), False),
        (f"{g}: send→received by all p50/p99 ms",
         ("group.receive_last.p50_ms", "group.receive_last.p99_ms"), False),
        (f"{g}: `retry` nacks sent again", "group.retry_resent", False),
        (f"{g}: acked stored once with a wrap per member / received once by every member",
         ("group.stored.ok", "group.received_once_by_all"), False),
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
    for label, path, compare in rows(options):
        cells = []
        for name in names:
            tree = results[name] or {}
            if isinstance(path, tuple):
                values = [_get(tree, p) for p in path]
                cell = " / ".join(_fmt(v) for v in values) if any(
                    v is not None for v in values) else "–"
            else:
                value = _get(tree, path)
                cell = _fmt(value)
                if compare:
                    cell += _ratios(results, name, path, value)
                scenario = path.split(".")[0]
                if path.endswith("rate_per_s") and _get(tree, f"{scenario}.pools_exhausted") \
                        and not options.get("count_bound"):
                    cell += " (pool ran out: raise --rate-hint)"
            cells.append(cell)
        if all(c == "–" for c in cells):
            continue
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(results, o):
    """Issue 8's targets this harness measures: (target, measured, met?) per line.

    :param o: table_options() of the results file."""
    out = []
    bare, node = results.get("bare") or {}, results.get("node") or {}
    sqlite, postgres = results.get("sqlite") or {}, results.get("postgres") or {}

    def add(what, measured, met):
        out.append({"target": what, "measured": measured, "met": met})

    many = f"tput_{o['pairs']}.rate_per_s"
    scales = {"tput_1.rate_per_s": "1 pair", many: pairs_text(o["pairs"])}
    for path, label in scales.items():
        s, b = _get(sqlite, path), _get(bare, path)
        if s and b:
            add(f"SQLite throughput ≥ 60 % of bare relay ({label})", f"{100 * s / b:.0f} %",
                s >= 0.6 * b)
        n = _get(node, path)
        if s and n:
            add(f"SQLite throughput as a share of the Node relay ({label}, no target)",
                f"{100 * s / n:.0f} %", None)
        p = _get(postgres, path)
        if s and p:
            add(f"PostgreSQL ≥ 80 % of SQLite ({label})", f"{100 * p / s:.0f} %", p >= 0.8 * s)
    on, off = _get(results.get("sqlite-limiter") or {}, many), _get(sqlite, many)
    if on and off:
        add(f"SQLite with the rate limiter on within 10 % of off ({pairs_text(o['pairs'])})",
            f"{100 * on / off:.0f} %", on >= 0.9 * off)
    for name, tree in (("SQLite", sqlite), ("PostgreSQL", postgres)):
        if tree:
            _sendapp_targets(add, name, tree, o)
    return out


def _sendapp_targets(add, name, tree, o):
    ack, rcv = _get(tree, "lone.ack.p50_ms"), _get(tree, "lone.receive.p50_ms")
    if ack is not None:
        add(f"{name}: lone message acked ≤ 5 ms (p50)", f"{ack:.1f} ms", ack <= 5)
    if rcv is not None:
        add(f"{name}: lone message delivered ≤ 5 ms (p50)", f"{rcv:.1f} ms", rcv <= 5)
    p99 = _get(tree, "half_rate.ack.p99_ms")
    if p99 is not None:
        add(f"{name}: p99 ≤ 10 ms at half the max rate (ack)", f"{p99:.1f} ms", p99 <= 10)
    for factor in o["overload"]:
        over = _get(tree, f"overload_{factor:g}x")
        p99 = _get(over or {}, "attempt.p99_ms")
        if p99 is None:
            p99 = _get(over or {}, "ack.p99_ms")  # files from before per-attempt latencies
        if p99 is None:
            continue
        timeouts = over.get("timeouts") or 0
        lost, doubled = over.get("lost"), over.get("doubled")
        add(f"{name}: {over['offered_per_s']:,.0f} msg/s offered ({factor:g}x max): p99 of "
            "accepted ≤ 1 s, no timeouts, every cid stored once after resends",
            f"{p99:,.0f} ms, {timeouts} timeouts, {_fmt(lost)} never stored, {_fmt(doubled)} doubled",
            p99 <= 1000 and timeouts == 0 and not lost and not doubled)
    passes = [(f"idle_{n}", f"{n:,} sockets, not offering permessage-deflate")
              for n in o["idle_counts"]]
    # The deflate pass opens its sockets after the others closed: its RSS reuses their
    # memory, so only whether deflate was negotiated is judged from it.
    for path, how in passes:
        kb = _get(tree, f"{path}.kb_per_socket")
        if kb is not None:
            opened = _get(tree, f"{path}.all_opened")
            add(f"{name}: ≤ 64 KB per idle authenticated socket ({how}), all open",
                f"{kb:.0f} KB, all opened: {_fmt(opened)}", kb <= 64 and opened is not False)
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


def print_results(result):
    """Print the table and the targets of a results file (`python -m bench --table FILE`)."""
    meta = result["meta"]
    opts = table_options(meta["options"])
    server = f"; server {meta['server_commit']}" if meta.get("server_commit") else ""
    print(f"Medians of {len(result['runs'])} run(s) started {meta['started']}; "
          f"pinned: {meta['pinned']}; {meta['seconds']} s{server}")
    median = run_medians(result)
    print(table(median, opts))
    print()
    print(targets_table(targets(median, opts)))
    figures = result.get("browser")
    if figures:
        print()
        print(f"Browser side failed: {figures['error']}" if "error" in figures
              else browser_table(figures))


def run_medians(result):
    """The medians of a results file's runs, its older keys renamed (normalized)."""
    opts = table_options(result["meta"]["options"])
    return medians([{k: normalized(v, opts) for k, v in run.items() if k in TARGETS}
                    for run in result["runs"]])


def compare(*results):
    """A Markdown table of results files (a lever's before and after, or each step of a
    series), figure by figure, one column per file, and the change from the first to the last."""
    medians_of = [run_medians(r) for r in results]
    opts = merged_options(*(table_options(r["meta"]["options"]) for r in results))
    commits = [r["meta"].get("server_commit") or "?" for r in results]
    lines = [f"Servers: {', '.join(commits)}", "",
             "| figure | target | " + " | ".join(commits) + " | change |",
             "|---|---|" + "---|" * len(commits) + "---|"]
    for label, path, _compare in rows(opts):
        for name in TARGETS:
            if any(name not in m for m in medians_of):
                continue
            for one in (path if isinstance(path, tuple) else (path,)):
                values = [_get(m[name] or {}, one) for m in medians_of]
                if all(v is None for v in values):
                    continue
                old, new = values[0], values[-1]
                change = ""
                if isinstance(old, (int, float)) and isinstance(new, (int, float)) \
                        and not isinstance(old, bool) and old:
                    change = f"{100 * (new - old) / old:+.0f} %"
                lines.append(f"| {label} [{one}] | {name} | "
                             + " | ".join(_fmt(v) for v in values) + f" | {change} |")
    return "\n".join(lines)


def targets_table(rows):
    lines = ["| target | measured | met |", "|---|---|---|"]
    met = {True: "yes", False: "no", None: "–"}
    lines += [f"| {r['target']} | {r['measured']} | {met[r['met']]} |" for r in rows]
    return "\n".join(lines)
