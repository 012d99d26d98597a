"""Issue 16's digests in the production topology (see conftest.py for the deployment): after the
workers fetch and embed the day, each reader's digest arrives once by e-mail (a real SMTP server on
loopback, aiosmtpd) and once at its webhook (a loopback server), also when the worker sending them
is killed in the middle of a send and started again.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app.profiles.store import DigestChange, ItemChange, create_profile, merge_profile
from app.store.db import session_scope
from app.store.models import DigestDelivery
from tests.loopback import LoopbackServer, Reply
from tests.profiles.test_digests import Inbox, serving_inbox
from tests.topology.conftest import Deployment
from tests.workers.conftest import wait_for

pytestmark = pytest.mark.timeout(300)  # the deployment starts, and the embedder loads the model
READERS = ("first@example.org", "second@example.org")


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    with serving_inbox() as served:
        yield served


@pytest.fixture(scope="module")
def hooks() -> Iterator[LoopbackServer]:
    # The first reader's hook takes the POST and answers only after a minute: its sender is killed
    # while it waits (mid-send). The second reader's answers at once.
    replies = {"/hook/first": Reply(200, b"{}", delay=60), "/hook/second": Reply(200, b"{}")}
    with LoopbackServer(replies) as server:
        yield server


def _readers(deployment: Deployment, hooks: LoopbackServer) -> list[int]:
    """Two readers of cs.LG, each with an e-mail address and a webhook (the first made first)."""
    at = dt.datetime.now(dt.UTC)
    ids = []
    with session_scope(deployment.settings) as session:
        for address in READERS:
            profile, _ = create_profile(session)
            name = address.partition("@")[0]
            changes = [ItemChange("categories", "cs.LG", at), ItemChange("keywords", "learning", at)]
            digest = DigestChange("daily", address, f"{hooks.url}/hook/{name}", "hook-secret", at)
            merge_profile(session, profile, changes=changes, digest=digest, allow_private_webhooks=True)
            profile.digest_confirm_sent_at = profile.digest_email_confirmed_at = at  # its owner confirmed
            ids.append(profile.id)
    return ids


def _mail_to(inbox: Inbox) -> list[str]:
    with inbox.lock:
        return sorted(str(message["To"]) for message in inbox.messages)


def _deliveries(deployment: Deployment) -> dict[tuple[int, str], str]:
    with session_scope(deployment.settings) as session:
        rows = session.execute(
            select(DigestDelivery.profile_id, DigestDelivery.channel, DigestDelivery.status)
        )
        return {(pid, channel): status for pid, channel, status in rows}


def test_digests_arrive_once_after_the_pipeline_also_with_their_sender_killed_mid_send(
    inbox: tuple[Inbox, int], hooks: LoopbackServer, deployment: Deployment
) -> None:
    mail = {
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(inbox[1]), "SMTP_TLS": "off",
        "PUBLIC_URL": "https://papers.example", "WEBHOOK_ALLOW_PRIVATE": "true",
    }  # fmt: skip
    first, second = _readers(deployment, hooks)
    # The worker's start catches up the round due half an hour ago: the day is fetched; the embedder
    # embeds it, and its success sends `fetch.digest` to the worker.
    deployment.worker("worker", "fetch,summarize", **mail)
    deployment.worker("embedder", "embed", **mail)
    wait_for(
        lambda: hooks.requests_for("/hook/first"), timeout=180, what="the first webhook", logs=deployment.logs
    )
    # The first reader's e-mail went out; its webhook's POST is in flight: the worker dies whole.
    deployment.procs["worker"].kill_tree()
    deployment.procs["worker"].stop()
    assert _mail_to(inbox[0]) == [READERS[0]]
    assert _deliveries(deployment) == {(first, "email"): "sent", (first, "webhook"): "claimed"}

    # Started again, the worker's catch-up round puts the killed `fetch.digest` back; run again, it
    # sends what was never claimed, and nothing twice.
    deployment.worker("worker", "fetch,summarize", **mail)
    wait_for(
        lambda: hooks.requests_for("/hook/second") and len(_mail_to(inbox[0])) == 2,
        timeout=90,
        what="the second reader's digest",
        logs=deployment.logs,
    )
    time.sleep(3)  # anything sent twice would come now
    assert _mail_to(inbox[0]) == sorted(READERS)
    assert len(hooks.requests_for("/hook/first")) == len(hooks.requests_for("/hook/second")) == 1
    assert _deliveries(deployment) == {
        (first, "email"): "sent", (first, "webhook"): "claimed",  # may have arrived: never sent twice
        (second, "email"): "sent", (second, "webhook"): "sent",
    }  # fmt: skip
    # Once more, by hand (or a retry, or another worker): nothing goes out again.
    result = deployment.client.send_task("fetch.digest")  # type: ignore[union-attr]
    assert result.get(timeout=60)["sent"] == 0
    assert len(_mail_to(inbox[0])) == 2 and len(hooks.requests) == 2
