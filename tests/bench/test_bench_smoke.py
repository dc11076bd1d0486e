"""The benchmark harness (`make bench`, bench/) in its tiny mode: it runs and its counts are sane.

Not a timed test: it asserts what must hold at any speed (every message answered,
acked ones stored exactly once and delivered once, every scenario produced figures),
never how fast. The bare relay and SendApp on SQLite; PostgreSQL is left to `make bench`,
the browser-side figures to test_browser_bench.py.
"""
import json
import signal
import subprocess
import sys

from support.live_server import ROOT

RUN_TIMEOUT = 120  # seconds; the tiny run takes about 20


def run_tiny(out, backends="bare,sqlite", extra=()):
    """`python -m bench --tiny` as its own process; SIGTERM (it stops its servers) on timeout."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "--tiny", "--backends", backends, "--no-pin",
         "--no-browser", "--out", str(out), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        raise AssertionError(f"the tiny benchmark did not finish in {RUN_TIMEOUT} s:\n{output}")
    return process.returncode, output


def assert_every_message_answered_once(flow, sent):
    assert flow["sent"] == sent
    assert flow["acked"] == sent, flow
    assert flow["nacked"] == {} and flow["timeouts"] == 0
    assert flow["delivered"] == sent and flow["delivered_twice_or_more"] == 0
    assert flow["ack"]["n"] == sent and flow["ack"]["p50_ms"] > 0
    assert flow["receive"]["n"] == sent and flow["receive"]["p50_ms"] > 0
    assert flow["generator_cpu_pct"] >= 0 and flow["server_cpu_pct"] >= 0


def assert_stored_once(stored, sent):
    assert stored["ok"] is True, stored
    assert stored["acked"] == stored["stored"] == sent
    assert stored["missing"] == stored["duplicated"] == stored["wrong_id"] == 0


def assert_group_message_stored_and_received_once_by_every_member(group, members, sent):
    """Every group message acked, stored once with one wrap per member, and received
    exactly once by every member, the sender's own socket included (PROTOCOL §9.5)."""
    assert group["members"] == members
    assert group["sent"] == group["acked"] == sent, group
    assert group["nacked"] == {} and group["timeouts"] == 0
    assert group["delivered"] == sent and group["delivered_twice_or_more"] == 0
    assert group["receipts"] == group["receipts_expected"] == members * sent
    assert group["receipts_missing"] == group["receipts_doubled"] == 0
    assert group["received_not_acked"] == 0 and group["received_once_by_all"] is True
    assert group["ack"]["n"] == sent and group["receive"]["n"] == members * sent
    assert group["receive_last"]["n"] == sent
    assert group["receive"]["p50_ms"] > 0 and group["receive_last"]["p99_ms"] > 0
    assert group["rate_per_s"] > 0 and group["deliveries_per_s"] > 0
    assert group["server_cpu_us_per_msg"] > 0
    stored = group["stored"]
    assert_stored_once(stored, sent)
    assert stored["wraps"] == members * sent and stored["wrong_wraps"] == 0
    assert stored["not_group_messages"] == 0


def test_tiny_benchmark_acks_stores_and_delivers_every_message_once(tmp_path):
    out = tmp_path / "results.json"
    code, output = run_tiny(out, extra=("--keep-logs", str(tmp_path / "logs"),
                                        "--sustained", "3", "--sustained-rate", "100"))
    assert code == 0, output
    assert "SendApp ready" in (tmp_path / "logs" / "run1-sqlite.log").read_text()
    assert "ready" in (tmp_path / "logs" / "run1-bare.log").read_text()
    assert "msg/s, 1 pair, 8 in flight" in output  # the printed table
    result = json.loads(out.read_text())
    bare, sqlite = result["median"]["bare"], result["median"]["sqlite"]

    for target in (bare, sqlite):
        for pairs in (1, 2):  # --tiny's pair counts
            assert_every_message_answered_once(target[f"tput_{pairs}"], 20 * pairs)
            assert target[f"tput_{pairs}"]["rate_per_s"] > 0
        assert_every_message_answered_once(target["lone"], 5)
        assert_every_message_answered_once(target["polling"], 20)  # Engine.IO long-polling
        assert_every_message_answered_once(target["polling_lone"], 5)
    assert bare["tput_1"]["stored"] is None  # the bare relay stores nothing
    for name in ("half_rate", "sustained"):  # the stack's own latency at a fixed rate
        assert bare[name]["sent"] > 0
        assert_every_message_answered_once(bare[name], bare[name]["sent"])
        assert bare[name]["stored"] is None
    assert "group" not in bare  # the bare relays have no groups

    # --tiny's group: 3 members, 2 of them sending 20 messages each
    assert_group_message_stored_and_received_once_by_every_member(sqlite["group"], 3, 40)
    assert sqlite["group"]["senders"] == 2
    assert "group of 3 (SendApp only" in output

    assert_stored_once(sqlite["tput_1"]["stored"], 20)
    assert_stored_once(sqlite["lone"]["stored"], 5)
    assert_stored_once(sqlite["polling"]["stored"], 20)
    for name in ("half_rate", "overload_2x", "overload_4x"):
        flow = sqlite[name]
        assert flow["sent"] > 0
        assert flow["acked"] + sum(flow["nacked"].values()) + flow["timeouts"] == flow["sent"]
        assert flow["stored"]["ok"] is True, flow["stored"]
        assert flow["stored"]["acked"] == flow["acked"]
    for name in ("overload_2x", "overload_4x"):  # retry nacks resent: no cid stored twice, and
        flow = sqlite[name]  # a cid never stored is one the outbox gave up on (never acked)
        assert flow["doubled"] == 0, flow
        assert flow["lost"] <= flow["gave_up"] + flow["timeouts"], flow
        assert flow["resent"] >= 0 and flow["retry_nacks"] >= flow["gave_up"]
    sustained = result["runs"][0]["sqlite"]["sustained"]  # 100 msg/s for 3 s
    assert sustained["offered_per_s"] == 100 and sustained["sent"] == 300
    assert sustained["acked"] + sum(sustained["nacked"].values()) == 300
    assert sustained["stored"]["ok"] is True and sustained["stored"]["acked"] == sustained["acked"]
    memory = sustained["rss_kb"]
    assert len(memory["samples"]) >= 2 and 0 < memory["first"] <= memory["max"]
    assert sum(stretch["n"] for stretch in sustained["ack_by_stretch"]) == sustained["acked"]
    assert sustained["worst_stretch_p99_ms"] >= sustained["ack_by_stretch"][0]["p99_ms"] > 0
    assert "sustained 3 s: offered msg/s" in output
    assert sqlite["catch_up"]["received"] == sqlite["catch_up"]["messages"] == 300
    idle = sqlite["idle_5"]
    assert idle["opened"] == idle["sockets"] == 5 and idle["failures"] == 0
    assert idle["all_opened"] is True and idle["chat_meanwhile"]["stored_ok"] is True
    assert idle["rss_open_kb"] > 0
    assert sqlite["sigterm"]["stored"]["ok"] is True  # SIGTERM under load lost no ack
    assert sqlite["integrity_all"] is True
    assert sqlite["stop"]["exit"] == 0 and sqlite["stop"]["tracebacks"] == 0
    assert result["targets"], "the issue-8 target check produced no lines"
    assert len(result["meta"]["server_commit"]) >= 7  # --server-root's commit, here ours


def test_tiny_cluster_benchmark_runs_two_processes_behind_nginx(tmp_path):
    """The 2-process backend (bench/cluster.py: the live tests' cluster behind the shipped
    nginx config, PostgreSQL, Redis): every message answered and stored once, both
    processes counted, the order lock's waits sampled."""
    from support.proxy import NginxMissing, nginx_binary
    from support.services import scratch_postgres_database, unavailable

    try:
        nginx_binary()
    except NginxMissing as error:
        unavailable("nginx", error)
    with scratch_postgres_database():  # fails in CI, skips locally, when PostgreSQL is away
        pass
    out = tmp_path / "cluster.json"
    code, output = run_tiny(out, backends="cluster")
    assert code == 0, output
    cluster = json.loads(out.read_text())["runs"][0]["cluster"]
    for pairs in (1, 2):
        flow = cluster[f"tput_{pairs}"]
        assert_every_message_answered_once(flow, 20 * pairs)
        assert_stored_once(flow["stored"], 20 * pairs)
        assert flow["lock_waits"]["samples"] > 0
        assert 0 <= flow["lock_waits"]["share_with_a_writer_waiting"] <= 1
    assert_every_message_answered_once(cluster["lone"], 5)
    assert cluster["half_rate"]["stored"]["ok"] is True
    assert sum(cluster["sockets_per_process"].values()) >= 4  # 2 pairs, a socket each
    assert set(cluster["sockets_per_process"]) == {"0", "1"}
    assert cluster["integrity_all"] is True
    assert cluster["stop"]["tracebacks"] == 0
