"""/digest/confirm/{profile}/{signature}: the link of the e-mail that asks a digest address's owner to
confirm it (app/profiles/deliver.py); /digest/unsubscribe/{profile}/{signature}: where a digest
e-mail's unsubscribe link leads. A GET shows the button; only its POST, from this page, acts, so a
mail scanner opening the links confirms and stops nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse

from app.deps import SessionDep
from app.errors import NotFoundError
from app.profiles.deliver import INVALID_UNSUBSCRIBE, confirm_address, unsubscribe, unsubscribe_signed
from app.security import refuse_cross_site
from app.web.templating import templates

router = APIRouter(include_in_schema=False)
ProfileId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/digest/confirm/{profile_id}/{signature}", response_class=HTMLResponse)
def confirm_page(request: Request, profile_id: ProfileId, signature: str) -> HTMLResponse:
    return templates.TemplateResponse(request, "confirm_digest.html", {"confirmed": False})


@router.post(
    "/digest/confirm/{profile_id}/{signature}",
    response_class=HTMLResponse,
    dependencies=[Depends(refuse_cross_site)],
)
def confirm(request: Request, session: SessionDep, profile_id: ProfileId, signature: str) -> HTMLResponse:
    if not confirm_address(session, profile_id=profile_id, signature=signature[:64]):
        raise NotFoundError("this confirmation link is not valid (the address or the profile changed)")
    session.commit()
    return templates.TemplateResponse(request, "confirm_digest.html", {"confirmed": True})


@router.get("/digest/unsubscribe/{profile_id}/{signature}", response_class=HTMLResponse)
def unsubscribe_page(
    request: Request, session: SessionDep, profile_id: ProfileId, signature: str
) -> HTMLResponse:
    if not unsubscribe_signed(session, profile_id=profile_id, signature=signature[:64]):
        raise NotFoundError(INVALID_UNSUBSCRIBE)
    return templates.TemplateResponse(request, "unsubscribe_digest.html", {"stopped": False})


@router.post(
    "/digest/unsubscribe/{profile_id}/{signature}",
    response_class=HTMLResponse,
    dependencies=[Depends(refuse_cross_site)],
)
def stop(request: Request, session: SessionDep, profile_id: ProfileId, signature: str) -> HTMLResponse:
    if not unsubscribe(session, profile_id=profile_id, signature=signature[:64]):
        raise NotFoundError(INVALID_UNSUBSCRIBE)
    session.commit()
    return templates.TemplateResponse(request, "unsubscribe_digest.html", {"stopped": True})
