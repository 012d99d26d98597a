"""The pipeline with its real parts: Redis, `celery worker` processes, the database, arXiv on loopback.

Skipped without TEST_REDIS_URL (`make test` and tests/services.sh set it). Each test has its own
Redis database number and a fresh committed database; every process is killed at teardown.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path
from typing import cast

import pytest
import redis
from sqlalchemy.engine import make_url

from app.arxiv.ratelimit import RedisIntervalLimiter
from app.config import get_settings
from tests.daily_feeds import daily_feed
from tests.loopback import LoopbackServer, Reply
from tests.workers.conftest import (
    EMPTY_FEED,
    FEED,
    FEED_IDS,
    HTML_PAGE,
    Cluster,
    FlakyProxy,
    Proc,
    counts,
    fetch_logs,
    free_port,
    stored_ids,
    wait_for,
)

EXACTLY_ONCE = (len(FEED_IDS), len(FEED_IDS))  # (papers, cs.LG listings) of the day


def _child_pid(cluster: Cluster, task_id: str) -> int:
    """The pool process running the task (the STARTED state records its pid and hostname)."""
    result = cluster.result(task_id)
    info = wait_for(
        lambda: result.info if result.state == "STARTED" else None,
        timeout=20,
        what="the task to start",
        logs=cluster.logs,
    )
    return int(info["pid"])


def test_pool_process_killed_mid_fetch_is_redelivered(cluster: Cluster, arxiv: LoopbackServer) -> None:
    """SIGKILL of the pool process in the middle of `fetch.category`: requeued at once, done once."""
    arxiv.script("/rss/cs.LG", Reply(200, FEED, delay=30), Reply(200, FEED))
    w1, _ = cluster.workers("w1", "w2")
    task = cluster.send("fetch.category", "cs.LG")
    pid = _child_pid(cluster, task.id)
    wait_for(lambda: arxiv.requests_for("/rss/cs.LG"), timeout=20, what="the feed request", logs=cluster.logs)
    os.kill(pid, signal.SIGKILL)
    result = cluster.wait_done(task.id)
    assert result.state == "SUCCESS", cluster.logs()
    assert len(arxiv.requests_for("/rss/cs.LG")) == 2
    assert w1.alive()
    settings = get_settings()
    assert stored_ids(settings) == sorted(FEED_IDS)
    assert counts(settings) == EXACTLY_ONCE
    assert [log.http_status for log in fetch_logs(settings)] == [200]


def test_whole_worker_killed_mid_fetch_is_redelivered_after_visibility_timeout(
    cluster: Cluster, arxiv: LoopbackServer, redis_url: str
) -> None:
    """SIGKILL of a whole worker (parent and pool): the unacked message comes back once the
    visibility timeout (TASK_TIME_LIMIT * 3, here 15 s) has passed, and another worker does it."""
    arxiv.script("/rss/cs.LG", Reply(200, FEED, delay=30), Reply(200, FEED))
    w1 = cluster.worker("w1", TASK_TIME_LIMIT="5", TASK_SOFT_TIME_LIMIT="4")
    task = cluster.send("fetch.category", "cs.LG")
    wait_for(lambda: arxiv.requests_for("/rss/cs.LG"), timeout=20, what="the feed request", logs=cluster.logs)
    w1.kill_tree(signal.SIGKILL)
    w1.popen.wait(5)
    broker = redis.Redis.from_url(redis_url)
    unacked = cast(list[tuple[bytes, float]], broker.zrange("unacked_index", 0, -1, withscores=True))
    [(_, delivered_at)] = unacked  # w1's message, in flight when it died
    # A worker restores expired unacked messages when it starts polling: start w2 after the timeout.
    time.sleep(max(0.0, delivered_at + 15 + 1 - time.time()))
    cluster.worker("w2", TASK_TIME_LIMIT="5", TASK_SOFT_TIME_LIMIT="4")
    result = cluster.wait_done(task.id, timeout=30)
    assert (result.state, result.worker) == ("SUCCESS", "w2@test"), cluster.logs()
    assert counts(get_settings()) == EXACTLY_ONCE
    # Nothing left in flight once the follow-up fetch.details is done too.
    wait_for(lambda: broker.zcard("unacked_index") == 0, timeout=20, what="no unacked", logs=cluster.logs)
    broker.close()


def _redis_server(cluster: Cluster, port: int, folder: Path) -> Proc:
    argv = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
        "--appendonly", "yes", "--save", "", "--maxmemory-policy", "noeviction",
    ]  # fmt: skip
    proc = cluster.start(f"redis-{len(cluster.procs)}", argv, os.environ)
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    wait_for(lambda: _pings(client), timeout=10, what="redis-server", logs=cluster.logs)
    client.close()
    return proc


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _restart(cluster: Cluster, proc: Proc, port: int, folder: Path) -> Proc:
    proc.kill_tree(signal.SIGTERM)  # what `docker compose restart` sends: the AOF is fsynced on exit
    proc.popen.wait(10)
    return _redis_server(cluster, port, folder)


def test_redis_restart_loses_no_queued_task(cluster: Cluster, arxiv: LoopbackServer, tmp_path: Path) -> None:
    """Tasks queued on an append-only Redis survive its restart; a running worker reconnects."""
    port, folder = free_port(), tmp_path / "redis-aof"
    folder.mkdir()
    server = _redis_server(cluster, port, folder)
    cluster.use_redis(f"redis://127.0.0.1:{port}/0")
    categories = ["cs.LG", "cs.AI", "cs.CL"]
    for category in categories[1:]:
        arxiv.script(f"/rss/{category}", Reply(200, daily_feed(category)))
    tasks = [cluster.send("fetch.category", category) for category in categories]
    broker = redis.Redis(port=port)
    assert broker.llen("fetch") == 3
    broker.close()

    server = _restart(cluster, server, port, folder)
    broker = redis.Redis(port=port)
    assert broker.llen("fetch") == 3
    broker.close()
    cluster.worker("w1")
    for task in tasks:
        assert cluster.wait_done(task.id).state == "SUCCESS", cluster.logs()
    assert counts(get_settings()) == (4, 12)

    # Again with the worker running: it reconnects and takes new work.
    _restart(cluster, server, port, folder)
    arxiv.script("/rss/stat.ML", Reply(200, daily_feed("stat.ML")))
    late = cluster.send("fetch.category", "stat.ML")
    assert cluster.wait_done(late.id, timeout=60).state == "SUCCESS", cluster.logs()
    assert counts(get_settings()) == (4, 16)


def test_database_unavailable_for_a_while_then_back(cluster: Cluster, arxiv: LoopbackServer) -> None:
    """PostgreSQL away (refusing, then cutting pooled connections): the task retries, then succeeds."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base or not base.startswith("postgresql"):
        pytest.skip("needs PostgreSQL: TEST_DATABASE_URL is unset")
    url = make_url(get_settings().sqlalchemy_url)
    proxy = FlakyProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        cluster.worker("w1", DATABASE_URL=proxied, TASK_RETRY_BACKOFF="0.5")
        first = cluster.send("fetch.category", "cs.LG")
        wait_for(lambda: proxy.refused >= 2, timeout=20, what="two refused connections", logs=cluster.logs)
        proxy.up()
        result = cluster.wait_done(first.id)
        assert result.state == "SUCCESS", cluster.logs()
        assert result.retries >= 1
        assert counts(get_settings()) == EXACTLY_ONCE

        proxy.down()  # the worker's pooled connections are cut, and new ones refused
        refused = proxy.refused
        arxiv.script("/rss/cs.AI", Reply(200, daily_feed("cs.AI")))
        second = cluster.send("fetch.category", "cs.AI")
        wait_for(lambda: proxy.refused > refused, timeout=20, what="a refused connection", logs=cluster.logs)
        proxy.up()
        assert cluster.wait_done(second.id).state == "SUCCESS", cluster.logs()
        assert counts(get_settings()) == (4, 8)
    finally:
        proxy.close()


def test_bad_arxiv_answers_are_logged_change_nothing_and_a_retry_succeeds(
    cluster: Cluster, arxiv: LoopbackServer
) -> None:
    settings = get_settings()
    cluster.worker("w1", ARXIV_TIMEOUT="1.5", TASK_RETRY_BACKOFF="0.2")

    arxiv.script("/rss/cs.LG", Reply(200, HTML_PAGE, {"Content-Type": "text/html"}))
    html = cluster.wait_done(cluster.send("fetch.category", "cs.LG").id)
    assert html.state == "FAILURE" and "HTML page" in str(html.result)  # not transient: no retry
    arxiv.script("/rss/cs.LG", Reply(200, EMPTY_FEED))
    weekend = cluster.wait_done(cluster.send("fetch.category", "cs.LG").id)
    assert weekend.state == "SUCCESS" and weekend.result["summary"].startswith("0 entries seen")
    assert counts(settings) == (0, 0)

    arxiv.script(
        "/rss/cs.LG",
        Reply(503, b"<html>busy</html>", {"Retry-After": "1", "Content-Type": "text/html"}),
        Reply(429, b"too many requests"),
        Reply(200, FEED, truncate_at=len(FEED) // 2),
        Reply(200, FEED, delay=4),  # never finishes within ARXIV_TIMEOUT
        Reply(200, FEED),
    )
    task = cluster.send("fetch.category", "cs.LG")
    wait_for(lambda: len(arxiv.requests_for("/rss/cs.LG")) >= 6, timeout=20, what="4th", logs=cluster.logs)
    assert counts(settings) == (0, 0)  # three bad answers in, a fourth hanging: nothing stored
    result = cluster.wait_done(task.id)
    assert result.state == "SUCCESS", cluster.logs()
    assert result.retries == 4
    assert counts(settings) == EXACTLY_ONCE

    sent = arxiv.requests_for("/rss/cs.LG")[2:]
    assert sent[1].time - sent[0].time >= 1.0  # Retry-After honoured
    logs = fetch_logs(settings)
    assert [(log.http_status, log.entries_seen) for log in logs] == [
        (200, 0),  # the HTML page: refused by the parser, logged with the status it came with
        (200, 0),  # the weekend
        (503, 0),
        (429, 0),
        (None, 0),  # truncated
        (None, 0),  # timed out
        (200, 4),
    ]
    errors = [log.error or "" for log in logs]
    assert "HTML page" in errors[0] and errors[1] == ""
    assert "HTTP 503" in errors[2] and "HTTP 429" in errors[3]
    assert "connection failed" in errors[4] and "timed out" in errors[5] and errors[6] == ""


def test_redis_limiter_hands_out_consecutive_slots(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    slept: list[float] = []
    limiter = RedisIntervalLimiter(client, min_interval=1.0, key="test:slot", sleep=slept.append)
    for _ in range(3):
        limiter.wait()
    assert slept == [pytest.approx(1.0, abs=0.05), pytest.approx(2.0, abs=0.05)]
    assert 0 < client.pttl("test:slot") <= 4000  # the key expires once its slot is past
    client.close()


def test_same_task_twice_concurrently_gives_one_result(cluster: Cluster, arxiv: LoopbackServer) -> None:
    arxiv.script("/rss/cs.LG", Reply(200, FEED, delay=3.0))
    cluster.workers("w1", "w2")
    tasks = [cluster.send("fetch.category", "cs.LG") for _ in range(2)]
    results = [cluster.wait_done(task.id) for task in tasks]
    assert [r.state for r in results] == ["SUCCESS", "SUCCESS"], cluster.logs()
    assert {r.worker for r in results} == {"w1@test", "w2@test"}
    first, second = arxiv.requests_for("/rss/cs.LG")
    assert second.time - first.time < 3.0  # both were in flight at once
    settings = get_settings()
    assert stored_ids(settings) == sorted(FEED_IDS)
    assert counts(settings) == EXACTLY_ONCE
    assert sum(log.papers_new for log in fetch_logs(settings)) == len(FEED_IDS)


def test_two_workers_share_the_arxiv_rate_limit(cluster: Cluster, arxiv: LoopbackServer) -> None:
    categories = ["cs.LG", "cs.AI", "cs.CL", "stat.ML"]
    for category in categories[1:]:
        arxiv.script(f"/rss/{category}", Reply(200, daily_feed(category)))
    cluster.workers("w1", "w2", ARXIV_MIN_INTERVAL="1")
    tasks = [cluster.send("fetch.category", category) for category in categories]  # all at once
    results = [cluster.wait_done(task.id) for task in tasks]
    assert all(r.state == "SUCCESS" for r in results), cluster.logs()
    assert {r.worker for r in results} == {"w1@test", "w2@test"}
    # fetch.details went through the limiter too (one API request, for the papers the first stored).
    wait_for(lambda: arxiv.requests_for("/api/query"), timeout=20, what="fetch.details", logs=cluster.logs)
    times = sorted(request.time for request in arxiv.requests)
    assert len(times) >= 5
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 1.0 - 0.02, gaps
