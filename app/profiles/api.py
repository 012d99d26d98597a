"""/api/v1/profiles: sync without an account. The token in the URL is the only key to a profile."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.deps import SessionDep, SettingsDep
from app.errors import NotFoundError
from app.profiles.atom import digest_feed
from app.profiles.deliver import INVALID_UNSUBSCRIBE, send_confirmations, unsubscribe, unsubscribe_signed
from app.profiles.digest import profile_digest
from app.profiles.qr import link_qr_svg
from app.profiles.store import (
    KINDS,
    MAX_ITEMS,
    DigestChange,
    ItemChange,
    create_profile,
    find_profile,
    merge_profile,
    profile_items,
    revoke_profile,
)
from app.ratelimit import rate_limit
from app.store.models import Profile
from app.store.papers import as_utc

# A whole profile (2,000 items of ~75 bytes as JSON) fits in one PUT; nothing much bigger does.
MAX_BODY = 256 * 1024
ERRORS: dict[int | str, dict[str, object]] = {
    400: {"description": "A body that cannot be read as JSON"},
    404: {"description": "No profile has this token (never had, or revoked)"},
    413: {"description": f"A body over {MAX_BODY} bytes"},
    422: {"description": "Invalid input: one line saying which and why"},
    429: {"description": "Too many profile requests from this client"},
}
limited = Depends(rate_limit("profile", lambda s: s.rate_profile_per_minute))
router = APIRouter(prefix="/profiles", tags=["profiles"], responses=ERRORS, dependencies=[limited])


async def _capped_body(request: Request) -> None:
    """413 for a body over MAX_BODY (the app-wide limit, MAX_REQUEST_BYTES, is far larger)."""
    if len(await request.body()) > MAX_BODY:
        raise HTTPException(413, f"a profile update is at most {MAX_BODY} bytes: send the items in parts")


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=200)
    updated_at: AwareDatetime
    removed: bool = False


class ItemOut(BaseModel):
    value: str
    updated_at: dt.datetime
    removed: bool


class ItemsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stars: list[ItemIn] = Field(default_factory=list, max_length=MAX_ITEMS)
    dismissals: list[ItemIn] = Field(default_factory=list, max_length=MAX_ITEMS)
    keywords: list[ItemIn] = Field(default_factory=list, max_length=MAX_ITEMS)
    negative_keywords: list[ItemIn] = Field(default_factory=list, max_length=MAX_ITEMS)
    categories: list[ItemIn] = Field(default_factory=list, max_length=MAX_ITEMS)
    authors: list[ItemIn] = Field(default_factory=list, max_length=MAX_ITEMS)


class DigestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    frequency: Literal["off", "daily", "weekly"]
    email: str | None = Field(None, max_length=320)
    webhook_url: str | None = Field(None, max_length=2000)
    webhook_secret: str | None = Field(None, max_length=200, description="omit to keep, empty to clear")
    updated_at: AwareDatetime


class DigestOut(BaseModel):
    frequency: str
    email: str | None
    webhook_url: str | None
    webhook_secret_set: bool
    email_confirmed: bool = Field(
        description="the address's owner followed the link e-mailed to it: only then do digests go there"
    )
    updated_at: dt.datetime | None


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: ItemsIn = Field(default_factory=ItemsIn)
    digest: DigestIn | None = None


class ProfileOut(BaseModel):
    items: dict[str, list[ItemOut]]
    digest: DigestOut
    created_at: dt.datetime
    updated_at: dt.datetime


class TokenOut(BaseModel):
    token: str = Field(description="shown once: the server keeps only its hash")


def _profile(session: SessionDep, token: str) -> Profile:
    profile = find_profile(session, token)
    if profile is None:
        raise NotFoundError("no profile has this token (it may have been revoked)")
    return profile


ProfileDep = Annotated[Profile, Depends(_profile)]


def _no_store(response: Response) -> None:
    """A profile's answers hold its token or its e-mail and webhook: never kept by a cache."""
    response.headers["Cache-Control"] = "no-store"


@router.post("", status_code=201, response_model=TokenOut, dependencies=[Depends(_no_store)])
def create(session: SessionDep) -> TokenOut:
    """A new empty profile. Keep the token: it cannot be shown again, and it is the only key."""
    _, token = create_profile(session)
    session.commit()
    return TokenOut(token=token)


@router.get("/{token}", response_model=ProfileOut, dependencies=[Depends(_no_store)])
def read(session: SessionDep, profile: ProfileDep) -> ProfileOut:
    """The merged profile, removals included (as tombstones): the JSON export, and what devices merge."""
    return _out(session, profile)


@router.put("/{token}", response_model=ProfileOut, dependencies=[Depends(_capped_body), Depends(_no_store)])
def merge(
    session: SessionDep,
    settings: SettingsDep,
    profile: ProfileDep,
    body: ProfileIn,
    background: BackgroundTasks,
) -> ProfileOut:
    """Merge a device's copy: per item, the newest `updated_at` wins; a removal is `removed: true`.

    A new digest e-mail address is sent one link to confirm it; no digest goes there before."""
    changes = [
        ItemChange(kind, item.value, item.updated_at, item.removed)
        for kind in KINDS
        for item in getattr(body.items, kind)
    ]
    digest = None
    if body.digest is not None:
        d = body.digest
        digest = DigestChange(d.frequency, d.email, d.webhook_url, d.webhook_secret, d.updated_at)
    merge_profile(
        session,
        profile,
        changes=changes,
        digest=digest,
        allow_private_webhooks=settings.webhook_allow_private,
    )
    session.commit()
    if profile.digest_email and profile.digest_email_confirmed_at is None and settings.smtp_host:
        background.add_task(send_confirmations, settings, profile_ids=[profile.id])  # after the answer
    return _out(session, profile)


@router.delete("/{token}", status_code=204)
def revoke(session: SessionDep, profile: ProfileDep) -> Response:
    """Revoke the token and forget the profile (stars, follows, digest settings, deliveries)."""
    revoke_profile(session, profile)
    session.commit()
    return Response(status_code=204)


@router.get("/{token}/qr.svg", response_class=Response)
def sync_qr(request: Request, token: str, profile: ProfileDep) -> Response:
    """The sync link (this site's address, the token after `#sync=`) as a QR code in SVG.

    The token travels in the link's fragment: a browser opening it never sends it in a request line.
    """
    link = f"{request.base_url}#sync={token}"
    return Response(
        link_qr_svg(link), media_type="image/svg+xml", headers={"Cache-Control": "private, no-store"}
    )


@router.get("/{token}/feed", response_class=Response)
def feed(session: SessionDep, settings: SettingsDep, profile: ProfileDep) -> Response:
    """The profile's digest of the latest day (or week, for weekly digests) as an Atom feed."""
    site = settings.public_url.rstrip("/")
    digest = profile_digest(session, settings, profile.id)
    # A tag URI (RFC 4151) of the profile and its creation: row ids come back on SQLite once the
    # newest profile is revoked, and a reader's feed client merged a new profile's feed with the old.
    created = as_utc(profile.created_at) or dt.datetime.now(dt.UTC)
    host = urlsplit(site).hostname or "localhost"
    feed_id = f"tag:{host},{created:%Y-%m-%d}:profiles/{profile.id}/{created:%H%M%S%f}"
    body = digest_feed(digest, feed_id=feed_id, site=site)
    return Response(
        body, media_type="application/atom+xml", headers={"Cache-Control": "private, max-age=300"}
    )


# The link of the e-mails and of their List-Unsubscribe header. A GET (a reader's click, or a mail
# scanner opening every link) only leads to the page with the button (app/web/digest_confirm.py);
# a POST is RFC 8058's one-click unsubscribe, sent by mail clients from the header. Kept out of the
# OpenAPI document: it is for mail, not for API clients.
@router.get("/unsubscribe/{profile_id}/{signature}", response_class=Response, include_in_schema=False)
def unsubscribe_page(
    session: SessionDep, profile_id: Annotated[int, Path(ge=1, le=2**31 - 1)], signature: str
) -> Response:
    if not unsubscribe_signed(session, profile_id=profile_id, signature=signature[:64]):
        raise NotFoundError(INVALID_UNSUBSCRIBE)
    return RedirectResponse(f"/digest/unsubscribe/{profile_id}/{signature[:64]}", status_code=303)


@router.post("/unsubscribe/{profile_id}/{signature}", response_class=Response, include_in_schema=False)
def stop_digest(
    session: SessionDep, profile_id: Annotated[int, Path(ge=1, le=2**31 - 1)], signature: str
) -> Response:
    """RFC 8058 one-click unsubscribe: the profile's digest e-mails stop."""
    if not unsubscribe(session, profile_id=profile_id, signature=signature[:64]):
        raise NotFoundError(INVALID_UNSUBSCRIBE)
    session.commit()
    return Response("Digest e-mails are off for this profile.\n", media_type="text/plain; charset=utf-8")


def _out(session: SessionDep, profile: Profile) -> ProfileOut:
    items: dict[str, list[ItemOut]] = {kind: [] for kind in KINDS}
    for item in profile_items(session, profile.id):
        at = as_utc(item.updated_at)
        assert at is not None
        items.setdefault(item.kind, []).append(ItemOut(value=item.value, updated_at=at, removed=item.removed))
    digest = DigestOut(
        frequency=profile.digest_frequency,
        email=profile.digest_email,
        webhook_url=profile.digest_webhook_url,
        webhook_secret_set=bool(profile.digest_webhook_secret),
        email_confirmed=profile.digest_email_confirmed_at is not None,
        updated_at=as_utc(profile.digest_updated_at),
    )
    created, updated = as_utc(profile.created_at), as_utc(profile.updated_at)
    assert created is not None and updated is not None
    return ProfileOut(items=items, digest=digest, created_at=created, updated_at=updated)
