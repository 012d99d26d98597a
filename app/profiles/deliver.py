"""Sending digests by e-mail (SMTP) and webhook (a JSON POST signed with HMAC-SHA256), once per day.

Once means at most once: before a digest goes out, its `digest_deliveries` row (unique per profile,
day and channel) is inserted and committed; it is marked sent afterwards. A retried task, a second
worker or a rerun finds the row and skips it. A worker killed between the claim and the mark leaves
the row `claimed`, and that digest is not sent again: a reader may miss one digest, never get two.
Failures that surely delivered nothing (connection refused, the server rejecting the message or
answering an error status) are `refused` and tried again by later runs, up to MAX_ATTEMPTS; a
timeout after the message was handed over is `uncertain` and never retried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from html import escape

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import __version__
from app.config import Settings
from app.errors import InvalidQueryError
from app.profiles.digest import Digest, Reader, compose_digests, load_readers
from app.profiles.webhook_target import parse_target, pinned_url, resolve_public
from app.ratelimit import counter_for
from app.store.db import session_scope
from app.store.models import DigestDelivery, Profile
from app.store.upsert import dialect_insert

MAX_ATTEMPTS = 3
WEBHOOK_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
SMTP_TIMEOUT = 30.0
SIGNATURE_HEADER = "X-CoolPapers-Signature"
INVALID_UNSUBSCRIBE = "this unsubscribe link is not valid (the profile may have been revoked)"  # a wrong signature, or a revoked profile
CONFIRM_EVERY = 86_400  # seconds: an address gets at most one confirmation e-mail a window


class NotDelivered(Exception):
    """The far end surely did not take the digest (worth another attempt later)."""


class MaybeDelivered(Exception):
    """The digest may have reached the far end before the failure (never sent again)."""


@dataclass(frozen=True, slots=True)
class Recipient:
    profile_id: int
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None
    unsubscribe_key: str
    email_confirmed: bool = False  # its owner followed the confirmation link: digests may go there


@dataclass
class SendReport:
    readers: int = 0
    composed: int = 0
    empty: int = 0
    sent: int = 0
    skipped: int = 0  # already sent (or claimed) for that day
    failed: int = 0
    would_send: int = 0
    confirmations: int = 0  # confirmation e-mails sent to new addresses
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"{self.readers} profiles due",
            f"{self.composed} digests composed ({self.empty} empty)",
            f"{self.readers - self.composed} waiting for their day",
        ]
        if self.would_send:
            parts.append(f"{self.would_send} deliveries would be sent (dry run)")
        parts += [f"{self.sent} sent", f"{self.skipped} already sent", f"{self.failed} failed"]
        if self.confirmations:
            parts.append(f"{self.confirmations} addresses asked to confirm")
        return ", ".join(parts)


def send_digests(
    settings: Settings,
    *,
    dry_run: bool = False,
    profile_ids: Sequence[int] | None = None,
    on_total: Callable[[int], None] | None = None,
    on_done: Callable[[], None] | None = None,
) -> SendReport:
    """Compose every due digest and send each channel once; safe to run again at any time."""
    with session_scope(settings) as session:
        readers = load_readers(session, settings, profile_ids=profile_ids, due=True)
        digests = compose_digests(session, settings, readers)
        recipients = _recipients(session, [d.profile_id for d in digests])
    report = SendReport(readers=len(readers), composed=len(digests))
    if not dry_run:  # those whose confirmation could not be sent when the address was given
        report.confirmations, failures = send_confirmations(settings, profile_ids=profile_ids)
        report.errors += failures
    by_id = {r.profile_id: r for r in readers}
    if on_total is not None:
        on_total(len(digests))
    for digest in digests:
        recipient = recipients.get(digest.profile_id)
        if not digest.papers or recipient is None:
            report.empty += 1
        else:
            for channel in channels_of(settings, by_id[digest.profile_id]):
                if channel == "email" and not recipient.email_confirmed:
                    continue  # not until the address's owner confirms it
                if dry_run:
                    report.would_send += 1
                else:
                    _deliver(settings, digest, recipient, channel, report)
        if on_done is not None:
            on_done()
    return report


def channels_of(settings: Settings, reader: Reader) -> list[str]:
    return [
        name
        for name, on in (
            ("email", bool(reader.email and settings.smtp_host)),
            ("webhook", bool(reader.webhook_url)),
        )
        if on
    ]


def _recipients(session: Session, profile_ids: list[int]) -> dict[int, Recipient]:
    found: dict[int, Recipient] = {}
    for start in range(0, len(profile_ids), 500):
        rows = session.execute(
            select(
                Profile.id,
                Profile.digest_email,
                Profile.digest_webhook_url,
                Profile.digest_webhook_secret,
                Profile.unsubscribe_key,
                Profile.digest_email_confirmed_at.is_not(None),
            ).where(Profile.id.in_(profile_ids[start : start + 500]))
        )
        found.update({row[0]: Recipient(*row) for row in rows})
    return found


def _deliver(
    settings: Settings, digest: Digest, recipient: Recipient, channel: str, report: SendReport
) -> None:
    with session_scope(settings) as session:
        claimed = claim_delivery(
            session,
            profile_id=digest.profile_id,
            day=digest.key_day,
            channel=channel,
            papers=len(digest.papers),
        )
    if not claimed:
        report.skipped += 1
        return
    status, error = "sent", None
    try:
        if channel == "email":
            send_email(settings, digest_email(settings, digest, recipient))
        else:
            post_webhook(
                digest_payload(settings, digest), recipient, allow_private=settings.webhook_allow_private
            )
    except NotDelivered as exc:
        status, error = "refused", str(exc)
    except MaybeDelivered as exc:
        status, error = "uncertain", str(exc)
    if error:
        report.failed += 1
        report.errors.append(f"profile {digest.profile_id} {channel}: {error}")
    else:
        report.sent += 1
    with session_scope(settings) as session:
        mark_delivery(
            session,
            profile_id=digest.profile_id,
            day=digest.key_day,
            channel=channel,
            status=status,
            error=error,
        )


def claim_delivery(session: Session, *, profile_id: int, day: dt.date, channel: str, papers: int) -> bool:
    """Take the (profile, day, channel) delivery; False when it is sent, being sent, or given up."""
    now = dt.datetime.now(dt.UTC)
    values = {
        "profile_id": profile_id, "day": day, "channel": channel, "status": "claimed", "attempts": 1,
        "papers": papers, "claimed_at": now,
    }  # fmt: skip
    # RETURNING says whether a row was taken: psycopg reports no rowcount for INSERT ... ON CONFLICT.
    inserted = session.scalar(
        dialect_insert(session, DigestDelivery)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["profile_id", "day", "channel"])
        .returning(DigestDelivery.id)
    )
    if inserted is not None:
        return True
    retried = session.scalar(
        update(DigestDelivery)
        .where(
            DigestDelivery.profile_id == profile_id,
            DigestDelivery.day == day,
            DigestDelivery.channel == channel,
            DigestDelivery.status == "refused",
            DigestDelivery.attempts < MAX_ATTEMPTS,
        )
        .values(status="claimed", attempts=DigestDelivery.attempts + 1, claimed_at=now, papers=papers)
        .returning(DigestDelivery.id)
    )
    return retried is not None


def mark_delivery(
    session: Session, *, profile_id: int, day: dt.date, channel: str, status: str, error: str | None = None
) -> None:
    session.execute(
        update(DigestDelivery)
        .where(
            DigestDelivery.profile_id == profile_id,
            DigestDelivery.day == day,
            DigestDelivery.channel == channel,
        )
        .values(
            status=status,
            error=(error or "")[:2000] or None,
            sent_at=dt.datetime.now(dt.UTC) if status == "sent" else None,
        )
    )


def unsubscribe_signature(key: str, profile_id: int) -> str:
    return hmac.new(key.encode(), f"unsubscribe:{profile_id}".encode(), hashlib.sha256).hexdigest()[:32]


def unsubscribe_url(settings: Settings, recipient: Recipient) -> str:
    signature = unsubscribe_signature(recipient.unsubscribe_key, recipient.profile_id)
    return f"{settings.public_url.rstrip('/')}/api/v1/profiles/unsubscribe/{recipient.profile_id}/{signature}"


def unsubscribe_signed(session: Session, *, profile_id: int, signature: str) -> bool:
    """Whether the link's signature is this profile's (the page shows its button only then)."""
    profile = session.get(Profile, profile_id)
    return profile is not None and hmac.compare_digest(
        unsubscribe_signature(profile.unsubscribe_key, profile_id), signature
    )


def unsubscribe(session: Session, *, profile_id: int, signature: str) -> bool:
    """Stop a profile's digest e-mails when the link's signature is right; False otherwise. Its
    address goes (to receive them again, its owner gives it again, and confirms it): the webhook
    and the feed go on, they are not the mail's to stop (it turned the whole digest off)."""
    if not unsubscribe_signed(session, profile_id=profile_id, signature=signature):
        return False
    profile = session.get(Profile, profile_id)
    assert profile is not None
    profile.digest_email = profile.digest_confirm_sent_at = profile.digest_email_confirmed_at = None
    profile.digest_updated_at = dt.datetime.now(dt.UTC)
    session.flush()
    return True


def confirm_signature(key: str, profile_id: int, email: str) -> str:
    """Signs one (profile, address): a link sent to an old address confirms no new one."""
    message = f"confirm:{profile_id}:{email.casefold()}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:32]


def confirm_url(settings: Settings, recipient: Recipient) -> str:
    assert recipient.email is not None
    signature = confirm_signature(recipient.unsubscribe_key, recipient.profile_id, recipient.email)
    return f"{settings.public_url.rstrip('/')}/digest/confirm/{recipient.profile_id}/{signature}"


def confirm_address(session: Session, *, profile_id: int, signature: str) -> bool:
    """Mark the profile's digest address confirmed when the link's signature is right; False otherwise."""
    profile = session.get(Profile, profile_id)
    if profile is None or profile.digest_email is None:
        return False
    expected = confirm_signature(profile.unsubscribe_key, profile_id, profile.digest_email)
    if not hmac.compare_digest(expected, signature):
        return False
    profile.digest_email_confirmed_at = profile.digest_email_confirmed_at or dt.datetime.now(dt.UTC)
    session.flush()
    return True


def send_confirmations(
    settings: Settings, *, profile_ids: Sequence[int] | None = None
) -> tuple[int, list[str]]:
    """E-mail each new digest address (of `profile_ids`, or all) one link to confirm it; the number
    sent and the failures. Once per address given: a profile's is claimed before it is sent (a
    failure that surely sent nothing is tried again by the next round), and an address is asked at
    most once a day whatever number of profiles name it (a stranger's address, given by many)."""
    if not settings.smtp_host:
        return 0, []
    now = dt.datetime.now(dt.UTC)
    waiting = (
        select(Profile.id)
        .where(
            Profile.digest_email.is_not(None),
            Profile.digest_frequency != "off",
            Profile.digest_email_confirmed_at.is_(None),
            Profile.digest_confirm_sent_at.is_(None),
        )
        .order_by(Profile.id)
    )
    if profile_ids is not None:
        waiting = waiting.where(Profile.id.in_(list(profile_ids)))
    with session_scope(settings) as session:
        candidates = list(session.scalars(waiting))
    sent, failures = 0, []
    for profile_id in candidates:
        recipient = _claim_confirmation(settings, profile_id, now)
        if recipient is None:
            continue
        try:
            send_email(settings, confirmation_email(settings, recipient))
        except NotDelivered as exc:  # nothing went out: the next round asks again
            with session_scope(settings) as session:
                session.execute(
                    update(Profile).where(Profile.id == profile_id).values(digest_confirm_sent_at=None)
                )
            failures.append(f"profile {profile_id} confirmation: {exc}")
        except MaybeDelivered as exc:
            failures.append(f"profile {profile_id} confirmation: {exc}")
        else:
            sent += 1
    return sent, failures


def _claim_confirmation(settings: Settings, profile_id: int, now: dt.datetime) -> Recipient | None:
    """Take the profile's confirmation to send (one UPDATE: of two senders, one wins), unless its
    address was asked in the last day for another profile."""
    with session_scope(settings) as session:
        email = session.scalar(select(Profile.digest_email).where(Profile.id == profile_id))
        if email is None:
            return None
        asked_lately = session.scalar(
            select(Profile.id)
            .where(
                func.lower(Profile.digest_email) == email.casefold(),
                Profile.id != profile_id,
                Profile.digest_confirm_sent_at >= now - dt.timedelta(days=1),
            )
            .limit(1)
        )
        if asked_lately is not None:
            return None
        claimed = session.scalar(
            update(Profile)
            .where(
                Profile.id == profile_id,
                Profile.digest_confirm_sent_at.is_(None),
                Profile.digest_email == email,
            )
            .values(digest_confirm_sent_at=now)
            .returning(Profile.id)
        )
        if claimed is None:
            return None
        recipient = _recipients(session, [profile_id]).get(profile_id)
    # Whatever asks, at most once a day per address: one profile switching addresses back and forth
    # (each change clears its "asked"), profiles created and revoked (their rows and times go) sent
    # an e-mail each. Counted where the rate limits are (Redis, or this host).
    address = hashlib.sha256(email.casefold().encode()).hexdigest()
    if counter_for(settings).hit(f"digest-confirm:{address}", CONFIRM_EVERY) > 1:
        return None
    return recipient


def confirmation_email(settings: Settings, recipient: Recipient) -> EmailMessage:
    """The one e-mail an address gets before it is confirmed: the link, and what ignoring it means."""
    assert recipient.email is not None
    link = confirm_url(settings, recipient)
    message = _message()
    message["Subject"] = "Cool Papers: confirm your digest e-mails"
    message["From"] = settings.smtp_from
    message["To"] = recipient.email
    message.set_content(
        "Someone asked Cool Papers to send its paper digests to this address.\n\n"
        f"To receive them, open this link and confirm:\n{link}\n\n"
        "If it was not you, ignore this e-mail: nothing more will be sent to you.\n"
    )
    return message


def _message() -> EmailMessage:
    # Lines up to RFC 5322's 998 characters: at the default 78, a long List-Unsubscribe URL was
    # RFC 2047-encoded, which breaks one-click unsubscribe (RFC 2369 and 8058 want it plain).
    return EmailMessage(policy=SMTP_POLICY.clone(max_line_length=998))


def digest_payload(settings: Settings, digest: Digest) -> dict[str, object]:
    """The digest as JSON (the webhook's body)."""
    return {
        "type": "coolpapers.digest",
        "frequency": digest.frequency,
        "day": digest.listing_day.isoformat(),
        "site": settings.public_url.rstrip("/"),
        "papers": [
            {
                "arxiv_id": p.arxiv_id,
                "title": p.title,
                "authors": p.authors,
                "url": p.url,
                "abs_url": p.abs_url,
                "summary": p.summary,
                "reason": p.reason,
                "score": p.score,
            }
            for p in digest.papers
        ],
    }


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(payload: dict[str, object], recipient: Recipient, *, allow_private: bool = False) -> None:
    """POST the digest; the body's HMAC-SHA256 under the profile's secret goes in SIGNATURE_HEADER.

    The host is resolved first and the POST goes to the address checked (webhook_target.py): a
    webhook never reaches a loopback, private or link-local address unless `allow_private`.
    """
    assert recipient.webhook_url is not None
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": f"coolpapers-selfhosted/{__version__}"}
    if recipient.webhook_secret:
        headers[SIGNATURE_HEADER] = webhook_signature(recipient.webhook_secret, body)
    try:
        target = parse_target(recipient.webhook_url)
        address = resolve_public(target, allow_private=allow_private)
    except InvalidQueryError as exc:  # a private address (or a URL saved before the checks existed)
        raise NotDelivered(f"webhook refused: {exc}") from exc
    except OSError as exc:
        raise NotDelivered(f"webhook unreachable: {target.host} does not resolve ({exc})") from exc
    default_port = 443 if target.scheme == "https" else 80
    headers["Host"] = target.host if target.port == default_port else f"{target.host}:{target.port}"
    # Streamed, and the answer's body never read: only its status counts, and a reader's URL may
    # answer with anything, of any size. TLS still checks the certificate against the name.
    try:
        with httpx.Client(timeout=WEBHOOK_TIMEOUT) as client:
            request = client.build_request(
                "POST",
                pinned_url(recipient.webhook_url, address),
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.host},
            )
            response = client.send(request, stream=True)
            status = response.status_code
            response.close()
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise NotDelivered(f"webhook unreachable: {exc}") from exc
    except httpx.HTTPError as exc:
        raise MaybeDelivered(f"webhook failed after sending: {type(exc).__name__}: {exc}") from exc
    if not 200 <= status < 300:
        raise NotDelivered(f"webhook answered {status}")


def digest_email(settings: Settings, digest: Digest, recipient: Recipient) -> EmailMessage:
    """A plain-text and HTML e-mail with one-click unsubscribe headers (RFC 8058)."""
    assert recipient.email is not None
    leave = unsubscribe_url(settings, recipient)
    when = "week" if digest.frequency == "weekly" else "day"
    message = _message()
    message["Subject"] = f"Cool Papers: {len(digest.papers)} papers for you, {when} of {digest.listing_day}"
    message["From"] = settings.smtp_from
    message["To"] = recipient.email
    message["List-Unsubscribe"] = f"<{leave}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    text = [f"Your papers of the {when} of {digest.listing_day}:", ""]
    html = [f"<p>Your papers of the {when} of {digest.listing_day}:</p><ol>"]
    for paper in digest.papers:
        text += [f"* {paper.title}", f"  {paper.url}"]
        text += [f"  {line}" for line in (paper.summary, paper.reason) if line]
        text.append("")
        html.append(f'<li><a href="{escape(paper.url)}">{escape(paper.title)}</a>')
        html += [f"<br>{escape(line)}" for line in (paper.summary, paper.reason) if line]
        html.append("</li>")
    text += ["--", f"Stop these e-mails: {leave}"]
    html.append(f'</ol><p><a href="{escape(leave)}">Stop these e-mails</a></p>')
    message.set_content("\n".join(text))
    message.add_alternative("\n".join(html), subtype="html")
    return message


def send_email(settings: Settings, message: EmailMessage) -> None:
    """Hand the message to the SMTP server (STARTTLS, implicit TLS or plain, as SMTP_TLS says)."""
    if not settings.smtp_host:
        raise NotDelivered("SMTP_HOST is not set")
    context = ssl.create_default_context()
    try:
        if settings.smtp_tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT, context=context
            )
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT)
    except (OSError, smtplib.SMTPException) as exc:
        raise NotDelivered(f"SMTP server unreachable: {exc}") from exc
    with client:
        try:
            if settings.smtp_tls == "starttls":
                client.starttls(context=context)
            if settings.smtp_user:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                client.login(settings.smtp_user, password)
            client.send_message(message)
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as exc:
            raise NotDelivered(f"SMTP server refused the message: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MaybeDelivered(f"SMTP failed: {exc}") from exc
