"""Digests: composed from a profile, sent over real SMTP (aiosmtpd) and a real webhook, once per day."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import numpy as np
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from app.arxiv.parse import parse_feed
from app.config import Settings, get_settings
from app.profiles.deliver import SIGNATURE_HEADER, claim_delivery, send_digests, unsubscribe
from app.profiles.digest import compose_digests, load_readers, one_line_summary
from app.profiles.store import DigestChange, ItemChange, create_profile, merge_profile
from app.search.embed import embed_missing
from app.store.db import session_scope
from app.store.ingest import ingest_feed
from app.store.models import DigestDelivery, Paper, Profile, Summary
from tests.conftest import DATA
from tests.fakes import FakeEmbedder
from tests.loopback import LoopbackServer, Reply

DAY = dt.date(2025, 12, 15)
AT = dt.datetime(2025, 12, 15, 8, tzinfo=dt.UTC)
SECRET = "hook-secret"


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []  # as sent, before any parsing decodes its headers
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
            self.raw.append(envelope.content)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving_inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on loopback (aiosmtpd) keeping what it accepts: (inbox, port)."""
    handler, port = Inbox(), _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with serving_inbox() as served:
        yield served


@pytest.fixture
def hook() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/hook": Reply(200, b"{}")}) as server:
        yield server


@pytest.fixture
def world(
    settings_env: Settings, inbox: tuple[Inbox, int], hook: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """A committed day of cs.CV papers with vectors, SMTP and the webhook on loopback."""
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(inbox[1]))
    monkeypatch.setenv("SMTP_TLS", "off")
    monkeypatch.setenv("PUBLIC_URL", "https://papers.example")
    monkeypatch.setenv("DIGEST_PAPERS", "5")
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "true")  # the hook listens on loopback
    get_settings.cache_clear()
    settings = get_settings()
    with session_scope(settings) as session:
        feed = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes())
        ingest_feed(session, feed=feed, categories=["cs.CV"], day=DAY)
        embed_missing(session, FakeEmbedder(name=settings.embed_model))
    return settings


def _papers(settings: Settings) -> list[Paper]:
    with session_scope(settings) as session:
        return list(session.scalars(select(Paper).order_by(Paper.id)))


def _profile(
    settings: Settings,
    hook_url: str | None,
    email: str | None = "reader@example.org",
    *,
    confirmed: bool = True,
    **items: list[str],
) -> int:
    """A profile with these items and digest channels; its address already confirmed by its owner
    unless `confirmed` is False (the confirmation itself: test_a_new_address_is_confirmed_first)."""
    with session_scope(settings) as session:
        profile, _ = create_profile(session)
        changes = [ItemChange(kind, value, AT) for kind, values in items.items() for value in values]
        digest = DigestChange("daily", email, hook_url, SECRET, AT)
        merge_profile(session, profile, changes=changes, digest=digest, allow_private_webhooks=True)
        if confirmed and email is not None:
            profile.digest_confirm_sent_at = profile.digest_email_confirmed_at = AT
        return profile.id


def test_digest_picks_neighbours_of_stars_and_never_dismissed_ones(world: Settings) -> None:
    papers = _papers(world)
    star, dismissed = papers[0], papers[1]
    avoided = next(p for p in papers[2:] if "image" in p.title.lower())
    pid = _profile(
        world,
        None,
        stars=[star.arxiv_id],
        dismissals=[dismissed.arxiv_id],
        negative_keywords=["image"],
        categories=["cs.CV"],
    )
    with session_scope(world) as session:
        [digest] = compose_digests(session, world, load_readers(session, world, profile_ids=[pid]))
    picked = [p.arxiv_id for p in digest.papers]
    assert digest.listing_day == DAY and len(picked) == 5
    assert star.arxiv_id not in picked and dismissed.arxiv_id not in picked and avoided.arxiv_id not in picked
    assert all("image" not in p.title.lower() for p in digest.papers)
    assert all(p.reason == f"close to {star.title}" for p in digest.papers)
    assert digest.papers[0].url == f"https://papers.example/arxiv/{picked[0]}"
    assert [p.score for p in digest.papers] == sorted((p.score for p in digest.papers), reverse=True)


def test_a_pick_is_explained_only_by_what_brought_it(world: Settings) -> None:
    """Every pick said "close to <star>", however far from it, and a keyword's pick too (QA): as on
    the website, a star explains a pick from a cosine of WHY_MIN_COSINE, else the keyword does."""
    from app.ranking.rank import WHY_MIN_COSINE
    from app.store.embeddings import vectors_for
    from app.store.models import Embedding

    papers = _papers(world)
    star, picked_by_word = papers[0], papers[7]
    word = next(w for w in picked_by_word.title.lower().split() if len(w) > 6 and w.isalpha())
    with session_scope(world) as session:
        vectors = vectors_for(session, paper_ids=[p.id for p in papers], model=world.embed_model)
        away = -np.mean([vectors[p.id] for p in papers[1:]], axis=0)  # a star far from every paper
        away /= np.linalg.norm(away)
        session.execute(
            update(Embedding).where(Embedding.paper_id == star.id).values(vector=away.astype("<f4").tobytes())
        )
    assert all(float(vectors[p.id] @ away) < WHY_MIN_COSINE for p in papers[1:])
    pid = _profile(world, None, stars=[star.arxiv_id], keywords=[word], categories=["cs.CV"])
    with session_scope(world) as session:
        [digest] = compose_digests(session, world, load_readers(session, world, profile_ids=[pid]))
    reasons = {p.arxiv_id: p.reason for p in digest.papers}
    assert reasons[picked_by_word.arxiv_id] == f"mentions {word}"
    assert not any((reason or "").startswith("close to") for reason in reasons.values())


def test_digest_papers_carry_their_faqs_one_line_summary(world: Settings) -> None:
    papers = _papers(world)
    with session_scope(world) as session:
        for paper in papers[1::2]:  # every other paper has a written FAQ
            answer = f"Paper {paper.id} does this. And more."
            session.add(
                Summary(paper_id=paper.id, model="m", prompt_version="v1", lang="en", status="ready",
                        content=[{"question": "Summarise the paper.", "answer": answer}], created_at=AT,
                        updated_at=AT)
            )  # fmt: skip
    pid = _profile(world, None, keywords=["learning"], categories=["cs.CV"])
    with session_scope(world) as session:
        [digest] = compose_digests(session, world, load_readers(session, world, profile_ids=[pid]))
    written = {p.arxiv_id: f"Paper {p.id} does this." for p in papers[1::2]}
    assert any(p.summary for p in digest.papers) and not all(p.summary for p in digest.papers)
    assert [p.summary for p in digest.papers] == [written.get(p.arxiv_id) for p in digest.papers]


def test_digest_arrives_once_by_email_and_webhook(
    world: Settings, inbox: tuple[Inbox, int], hook: LoopbackServer
) -> None:
    star = _papers(world)[0]
    _profile(world, f"{hook.url}/hook", stars=[star.arxiv_id], categories=["cs.CV"])
    first = send_digests(world)
    assert (first.sent, first.failed, first.skipped) == (2, 0, 0), first.errors
    [message] = inbox[0].messages
    assert message["To"] == "reader@example.org" and "papers for you" in message["Subject"]
    leave = message["List-Unsubscribe"].strip("<>")
    assert leave.startswith("https://papers.example/api/v1/profiles/unsubscribe/")
    # Sent plain, as RFC 2369 and 8058 want: at 78 columns it was RFC 2047-encoded (=?utf-8?q?...).
    assert f"\r\nList-Unsubscribe: <{leave}>\r\n".encode() in inbox[0].raw[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://papers.example/arxiv/" in message.get_body(("plain",)).get_content()
    [request] = hook.requests_for("/hook")
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER.lower()] == expected
    payload = json.loads(request.body)
    assert payload["day"] == DAY.isoformat() and len(payload["papers"]) == 5
    # A retried task, a second worker, the CLI by hand: nothing goes out twice.
    again = send_digests(world)
    assert (again.sent, again.skipped) == (0, 2)
    assert len(inbox[0].messages) == 1 and len(hook.requests_for("/hook")) == 1


def test_a_worker_killed_after_claiming_never_sends_twice(
    world: Settings, inbox: tuple[Inbox, int], hook: LoopbackServer
) -> None:
    pid = _profile(world, f"{hook.url}/hook", categories=["cs.CV"], keywords=["learning"])
    # A worker claimed the e-mail and died before marking it sent (it may or may not have gone out).
    with session_scope(world) as session:
        assert claim_delivery(session, profile_id=pid, day=DAY, channel="email", papers=5)
    report = send_digests(world)
    assert (report.sent, report.skipped) == (1, 1)  # the webhook only
    assert inbox[0].messages == [] and len(hook.requests_for("/hook")) == 1
    assert send_digests(world).sent == 0
    with session_scope(world) as session:
        rows = dict(session.execute(select(DigestDelivery.channel, DigestDelivery.status)).all())
    assert rows == {"email": "claimed", "webhook": "sent"}


def test_a_refused_delivery_is_tried_again(world: Settings, hook: LoopbackServer) -> None:
    hook.script("/hook", Reply(503, b"busy"), Reply(200, b"{}"))
    _profile(world, f"{hook.url}/hook", email=None, categories=["cs.CV"])  # webhook only
    first = send_digests(world)
    assert (first.sent, first.failed) == (0, 1) and "503" in first.errors[0]
    second = send_digests(world)
    assert (second.sent, second.failed) == (1, 0)
    assert send_digests(world).skipped == 1
    assert len(hook.requests_for("/hook")) == 2


def test_a_webhooks_answer_is_judged_by_its_status_alone(world: Settings, hook: LoopbackServer) -> None:
    # A broken (or endless) body after a 200: the digest was taken, and the body is never read.
    hook.script("/hook", Reply(200, b"x" * 1_000_000, truncate_at=10))
    _profile(world, f"{hook.url}/hook", email=None, categories=["cs.CV"])
    report = send_digests(world)
    assert (report.sent, report.failed) == (1, 0), report.errors


def test_unreachable_smtp_server_is_refused_not_lost(
    world: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _profile(world, None, categories=["cs.CV"])
    monkeypatch.setenv("SMTP_PORT", str(_free_port()))  # nothing listens there
    get_settings.cache_clear()
    report = send_digests(get_settings())
    assert report.failed == 1 and "unreachable" in report.errors[0]
    with session_scope(world) as session:
        assert session.scalar(select(DigestDelivery.status)) == "refused"


def test_dry_run_sends_nothing(world: Settings, inbox: tuple[Inbox, int], hook: LoopbackServer) -> None:
    _profile(world, f"{hook.url}/hook", categories=["cs.CV"])
    report = send_digests(world, dry_run=True)
    assert report.would_send == 2 and report.sent == 0
    assert inbox[0].messages == [] and hook.requests == []
    with session_scope(world) as session:
        assert session.scalar(select(DigestDelivery.id)) is None


def test_unsubscribe_link_stops_the_emails_and_only_them(
    world: Settings, inbox: tuple[Inbox, int], hook: LoopbackServer
) -> None:
    """It turned the whole digest off, the webhook's too (QA): now the address goes, the rest stays."""
    pid = _profile(world, f"{hook.url}/hook", categories=["cs.CV"])
    send_digests(world)
    leave = inbox[0].messages[0]["List-Unsubscribe"].strip("<>")
    profile_id, signature = leave.rsplit("/", 2)[-2:]
    with session_scope(world) as session:
        assert not unsubscribe(session, profile_id=int(profile_id), signature="0" * 32)
        assert unsubscribe(session, profile_id=int(profile_id), signature=signature)
    with session_scope(world) as session:
        profile = session.get(Profile, pid)
        assert profile is not None and profile.digest_email is None
        assert (profile.digest_frequency, profile.digest_webhook_url) == ("daily", f"{hook.url}/hook")


def test_a_new_address_is_confirmed_first_and_a_stranger_is_asked_once(
    world: Settings, inbox: tuple[Inbox, int]
) -> None:
    """Anyone could sign a stranger's address up for daily digests: now its owner confirms it first,
    from one e-mail, and an address many profiles name is asked once a day."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    star = _papers(world)[0]
    client = TestClient(create_app())
    token = client.post("/api/v1/profiles").json()["token"]
    at = dt.datetime.now(dt.UTC).isoformat()
    body = {
        "items": {"stars": [{"value": star.arxiv_id, "updated_at": at}]},
        "digest": {"frequency": "daily", "email": "someone@example.org", "updated_at": at},
    }
    saved = client.put(f"/api/v1/profiles/{token}", json=body)
    assert saved.status_code == 200 and saved.json()["digest"]["email_confirmed"] is False
    [asked] = inbox[0].messages  # sent after the answer, by the web process
    assert asked["To"] == "someone@example.org" and "confirm" in asked["Subject"]
    link = next(line for line in asked.get_content().splitlines() if "/digest/confirm/" in line)
    assert link.startswith("https://papers.example/digest/confirm/")
    # Another profile naming the address: not asked again today; no digest goes to it either.
    _profile(world, None, "someone@example.org", confirmed=False, categories=["cs.CV"])
    report = send_digests(world)
    assert (report.sent, report.confirmations) == (0, 0) and len(inbox[0].messages) == 1
    # Opening the link changes nothing (a mail scanner may); its button confirms.
    path = link.removeprefix("https://papers.example")
    page = client.get(path)
    assert page.status_code == 200 and '<form method="post">' in page.text
    assert client.get(f"/api/v1/profiles/{token}").json()["digest"]["email_confirmed"] is False
    assert client.post(path.rsplit("/", 1)[0] + "/" + "0" * 32).status_code == 404  # a forged signature
    confirmed = client.post(path)
    assert confirmed.status_code == 200 and "is confirmed" in confirmed.text
    assert client.get(f"/api/v1/profiles/{token}").json()["digest"]["email_confirmed"] is True
    report = send_digests(world)
    assert report.sent == 1 and "papers for you" in inbox[0].messages[-1]["Subject"]
    # A new address is its owner's to confirm again: the old link confirms nothing.
    body["digest"] = {
        "frequency": "daily",
        "email": "other@example.org",
        "updated_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    assert client.put(f"/api/v1/profiles/{token}", json=body).json()["digest"]["email_confirmed"] is False
    assert client.post(path).status_code == 404
    assert (
        inbox[0].messages[-1]["To"] == "other@example.org" and "confirm" in inbox[0].messages[-1]["Subject"]
    )


def test_an_address_gets_one_confirmation_a_day_whatever_asks(
    world: Settings, inbox: tuple[Inbox, int]
) -> None:
    """One profile switching between two addresses, and profiles made and revoked in turn, sent the
    victim an e-mail each time (QA: six PUTs in 3 s, three e-mails)."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    client = TestClient(create_app())
    token = client.post("/api/v1/profiles").json()["token"]
    for address in ["victim@example.org", "other@example.org"] * 3:
        at = dt.datetime.now(dt.UTC).isoformat()
        digest = {"frequency": "daily", "email": address, "updated_at": at}
        assert client.put(f"/api/v1/profiles/{token}", json={"digest": digest}).status_code == 200
    for _ in range(3):
        revoked = client.post("/api/v1/profiles").json()["token"]
        digest = {
            "frequency": "daily",
            "email": "victim@example.org",
            "updated_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        client.put(f"/api/v1/profiles/{revoked}", json={"digest": digest})
        assert client.delete(f"/api/v1/profiles/{revoked}").status_code == 204
    send_digests(world)
    sent_to = [message["To"] for message in inbox[0].messages]
    assert sorted(sent_to) == ["other@example.org", "victim@example.org"]


def test_a_half_ingested_round_waits(world: Settings) -> None:
    # cs.CL was announced the day before and has not been fetched for DAY yet: no digest for now.
    with session_scope(world) as session:
        feed = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes())
        ingest_feed(session, feed=feed, categories=["cs.CL"], day=DAY - dt.timedelta(days=1))
    pid = _profile(world, None, categories=["cs.CV", "cs.CL"])
    with session_scope(world) as session:
        assert compose_digests(session, world, load_readers(session, world, profile_ids=[pid])) == []


def test_a_category_that_announced_nothing_does_not_hold_the_digest(world: Settings) -> None:
    """A followed category fetched after the day came, which announced nothing (small ones often do),
    held every digest that follows it back for a week (QA); one fetched before the day came, or that
    failed, still holds it (its listing may come yet)."""
    from app.store.fetch_log import add_fetch_log

    with session_scope(world) as session:
        feed = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes())
        ingest_feed(session, feed=feed, categories=["cs.CL"], day=DAY - dt.timedelta(days=1))
    pid = _profile(world, None, categories=["cs.CV", "cs.CL"])
    came = dt.datetime(2025, 12, 15, 1, 0, tzinfo=dt.UTC)

    def fetched(
        category: str, at: dt.datetime, *, listings: int, status: int = 200, error: str | None = None
    ) -> None:
        with session_scope(world) as session:
            add_fetch_log(session, url=f"https://rss.arxiv.org/rss/{category}", category=category, started_at=at,
                          http_status=status, listings_added=listings, error=error)  # fmt: skip

    def ready() -> bool:
        with session_scope(world) as session:
            return bool(compose_digests(session, world, load_readers(session, world, profile_ids=[pid])))

    fetched("cs.CL", came - dt.timedelta(hours=1), listings=0)  # before DAY came: it may come yet
    fetched("cs.CV", came, listings=100)
    assert not ready()
    fetched("cs.CL", came + dt.timedelta(minutes=2), listings=0, status=503, error="HTTP 503")
    assert not ready()
    fetched("cs.CL", came + dt.timedelta(minutes=5), listings=0)  # after DAY came, nothing: quiet
    assert ready()


def test_one_line_summary_is_the_summary_answers_first_sentence() -> None:
    answers = [
        {"question": "What problem does this paper try to solve?", "answer": "Long context."},
        {
            "question": "Summarise the paper's main content.",
            "answer": "**A** [method](http://x) for $x$. More.",
        },
    ]
    assert one_line_summary(answers) == "A method for $x$."
    assert one_line_summary([]) is None
