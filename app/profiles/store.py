"""Profiles: a reader's stars, dismissals, keywords and follows under a secret token, merged per item.

The token is shown once, at creation; only its SHA-256 is stored, so a copy of the database does
not reveal it. Every item carries the time it last changed, and a removal is kept as a tombstone:
merging two devices' copies keeps, per item, the newest change (a removal made later beats an add
made earlier elsewhere; at equal times the removal wins, the cautious choice).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.arxiv.ids import split_arxiv_id
from app.arxiv.taxonomy import taxonomy
from app.errors import FeedParseError, InvalidQueryError, NotFoundError
from app.profiles.webhook_target import check_saved_url
from app.store.models import Profile, ProfileItem
from app.store.papers import as_utc
from app.venues.types import is_venue_id

KINDS = ("stars", "dismissals", "keywords", "negative_keywords", "categories", "authors")
FREQUENCIES = ("off", "daily", "weekly")
MAX_ITEMS = 2000  # live items and tombstones of one profile together
MAX_VALUE = 200
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_UNSEEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})  # control, format (zero-width), surrogates ...
_EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


class ProfileTooLargeError(InvalidQueryError):
    """A merge would leave a profile with more live items than MAX_ITEMS."""


@dataclass(frozen=True, slots=True)
class ItemChange:
    kind: str
    value: str
    updated_at: dt.datetime
    removed: bool = False


@dataclass(frozen=True, slots=True)
class DigestChange:
    """New digest settings; `webhook_secret` None keeps the stored one, "" clears it."""

    frequency: str
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None
    updated_at: dt.datetime


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_profile(session: Session, *, now: dt.datetime | None = None) -> tuple[Profile, str]:
    """A new, empty profile and its token (the only time the token exists outside the reader)."""
    now = now or dt.datetime.now(dt.UTC)
    token = new_token()
    profile = Profile(
        token_hash=hash_token(token),
        created_at=now,
        updated_at=now,
        digest_frequency="off",
        unsubscribe_key=secrets.token_hex(32),
    )
    session.add(profile)
    session.flush()
    return profile, token


def find_profile(session: Session, token: str) -> Profile | None:
    """The profile of a token; None for an unknown, revoked or malformed one."""
    if not _TOKEN_RE.match(token):
        return None
    return session.scalar(select(Profile).where(Profile.token_hash == hash_token(token)))


def revoke_profile(session: Session, profile: Profile) -> None:
    """Forget the profile and everything under it: the token stops working at once."""
    session.delete(profile)
    session.flush()


def profile_items(session: Session, profile_id: int) -> list[ProfileItem]:
    return list(
        session.scalars(
            select(ProfileItem)
            .where(ProfileItem.profile_id == profile_id)
            .order_by(ProfileItem.kind, ProfileItem.updated_at, ProfileItem.value)
        )
    )


def live_values(items: Iterable[ProfileItem], kind: str) -> list[str]:
    return [item.value for item in items if item.kind == kind and not item.removed]


def normalise_value(kind: str, raw: str) -> str:
    """The one spelling of an item, so that two devices' copies of it merge; InvalidQueryError if bad."""
    if kind not in KINDS:
        raise InvalidQueryError(f"unknown item kind {kind[:40]!r}: one of {', '.join(KINDS)}")
    value = " ".join(raw.split())
    if not value or len(value) > MAX_VALUE:
        raise InvalidQueryError(f"{kind}: an item is 1 to {MAX_VALUE} characters")
    if any(unicodedata.category(char) in _UNSEEN for char in value):
        # A NUL failed PostgreSQL's insert (a 500); a zero-width keyword matched nothing, unseen.
        raise InvalidQueryError(f"{kind}: an item has no control or invisible characters")
    if kind in ("stars", "dismissals"):
        if is_venue_id(value):  # a venue paper, starred on a /venue page: its id as papers.cool writes it
            return value
        try:
            return split_arxiv_id(value)[0]
        except FeedParseError as exc:
            raise InvalidQueryError(f"{kind}: {exc}") from exc
    if kind == "categories":
        if not taxonomy().is_known(value):
            raise InvalidQueryError(f"categories: arXiv has no category {value[:40]!r}")
        return value
    if kind in ("keywords", "negative_keywords"):
        return value.lower()
    return value  # authors: as written, whitespace collapsed


def merge_profile(
    session: Session,
    profile: Profile,
    *,
    changes: Sequence[ItemChange],
    digest: DigestChange | None = None,
    now: dt.datetime | None = None,
    allow_private_webhooks: bool = False,
) -> int:
    """Apply another device's copy: per item, the newest change wins. Returns how many items changed.

    A time ahead of the server's clock is taken as now: one device with a wrong clock cannot
    make its items win every later merge. A webhook URL must point at a public address unless
    `allow_private_webhooks` (the WEBHOOK_ALLOW_PRIVATE setting).
    """
    now = now or dt.datetime.now(dt.UTC)
    _lock(session, profile)
    stored = {(item.kind, item.value): item for item in profile_items(session, profile.id)}
    live_before = sum(1 for item in stored.values() if not item.removed)
    incoming: dict[tuple[str, str], ItemChange] = {}
    for change in changes:
        key = (change.kind, normalise_value(change.kind, change.value))
        at = min(as_utc(change.updated_at) or now, now)
        candidate = ItemChange(key[0], key[1], at, change.removed)
        held = incoming.get(key)
        if held is None or _newer(candidate, held.updated_at, held.removed):
            incoming[key] = candidate
    changed = 0
    for key, change in incoming.items():
        item = stored.get(key)
        if item is None:
            item = ProfileItem(profile_id=profile.id, kind=key[0], value=key[1])
            stored[key] = item
            session.add(item)
        elif not _newer(change, as_utc(item.updated_at) or now, item.removed):
            continue
        item.removed, item.updated_at = change.removed, change.updated_at
        changed += 1
    _enforce_cap(session, list(stored.values()), live_before=live_before)
    if digest is not None and _apply_digest(profile, digest, now, allow_private=allow_private_webhooks):
        changed += 1
    if changed:
        profile.updated_at = now
    session.flush()
    return changed


def _lock(session: Session, profile: Profile) -> None:
    """Take the profile's row for this transaction, then read it afresh: two merges of one profile
    run one after the other. Merged at once, both read the same items and both inserted a new one
    (a unique violation: a 500), or each stayed under the cap while together they passed it.

    An UPDATE locks portably: PostgreSQL's row lock, SQLite's write lock (pysqlite begins the
    transaction at the first write, so no earlier read pins an older snapshot). The other merge
    waits for this one's commit, then reads what it wrote.
    """
    touched = session.execute(
        update(Profile).where(Profile.id == profile.id).values(updated_at=Profile.updated_at)
    )
    if not getattr(touched, "rowcount", 1):
        raise NotFoundError("no profile has this token (it may have been revoked)")
    session.refresh(profile)


def _newer(change: ItemChange, held_at: dt.datetime, held_removed: bool) -> bool:
    if change.updated_at != held_at:
        return change.updated_at > held_at
    return change.removed and not held_removed


def _enforce_cap(session: Session, items: list[ProfileItem], *, live_before: int) -> None:
    live = sum(1 for item in items if not item.removed)
    if live > MAX_ITEMS and live > live_before:  # a merge that adds nothing is always let through
        raise ProfileTooLargeError(
            f"a profile holds at most {MAX_ITEMS} items (stars, keywords, follows ...); this one would hold "
            f"{live}: remove some first"
        )
    tombstones = sorted(
        (i for i in items if i.removed), key=lambda i: as_utc(i.updated_at) or dt.datetime.min
    )
    # Past the cap, the oldest removals are forgotten: an add that old is unlikely to come back.
    for item in tombstones[: max(len(items) - MAX_ITEMS, 0)]:
        session.execute(
            delete(ProfileItem).where(
                ProfileItem.profile_id == item.profile_id,
                ProfileItem.kind == item.kind,
                ProfileItem.value == item.value,
            )
        )
        if item in session:
            session.expunge(item)


def _apply_digest(profile: Profile, digest: DigestChange, now: dt.datetime, *, allow_private: bool) -> bool:
    at = min(as_utc(digest.updated_at) or now, now)
    held = as_utc(profile.digest_updated_at)
    if held is not None and at <= held:
        return False
    if digest.frequency not in FREQUENCIES:
        raise InvalidQueryError(f"digest.frequency: one of {', '.join(FREQUENCIES)}")
    email = (digest.email or "").strip() or None
    if email is not None and (len(email) > 320 or not _EMAIL_RE.match(email)):
        raise InvalidQueryError("digest.email: not an e-mail address")
    if email is not None and not email.isascii():  # its confirmation then failed unseen, for good
        raise InvalidQueryError("digest.email: an ASCII address (internationalised ones cannot be sent)")
    url = (digest.webhook_url or "").strip() or None
    if url is not None and (len(url) > 2000 or not re.fullmatch(r"https?://[^\s/?#]+\S*", url)):
        raise InvalidQueryError("digest.webhook_url: an http(s) URL of at most 2000 characters")
    if url is not None:
        check_saved_url(url, allow_private=allow_private)  # first: it says what is wrong with a bad URL
        if urlsplit(url).username is not None:  # stored, then never sent (pinned_url drops it)
            raise InvalidQueryError(
                "digest.webhook_url: no user or password in the URL (sign with the secret)"
            )
    if email is None or email.casefold() != (profile.digest_email or "").casefold():
        # A new address is its owner's to confirm (deliver.py sends the link), whoever set it.
        profile.digest_confirm_sent_at = profile.digest_email_confirmed_at = None
    profile.digest_frequency, profile.digest_email, profile.digest_webhook_url = digest.frequency, email, url
    if digest.webhook_secret is not None:
        profile.digest_webhook_secret = digest.webhook_secret or None
    profile.digest_updated_at = at
    return True
