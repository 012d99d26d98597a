"""ORM models. The database is the source of truth; every derived file is rebuilt from it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from app.arxiv.types import PAPER_FIELDS, SHOWN_FIELDS, PaperField, Shown, SqlType

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


_SQL_TYPES: dict[SqlType, Callable[[], TypeEngine[Any]]] = {
    "varchar(40)": lambda: String(40),
    "varchar(200)": lambda: String(200),
    "text": Text,
    "integer": Integer,
    "json": JSON,
    "timestamptz": lambda: DateTime(timezone=True),
}


def _record_column(spec: PaperField) -> Column[Any]:
    return Column(spec.name, _SQL_TYPES[spec.stored.sql](), nullable=spec.nullable, unique=spec.stored.unique)


class Tldr(Base):
    """A one-sentence TL;DR of a paper by one (model, prompt version): written once, shown on listings.

    A listing shows the newest ready one of the paper (`Paper.tldr`), so a new prompt version
    replaces the line once it is written, not before.
    """

    __tablename__ = "tldrs"
    __table_args__ = (
        UniqueConstraint("paper_id", "model", "prompt_version"),
        # Papers read their shown TL;DR through this index (`Paper.tldr`): no sort, no table row.
        Index("ix_tldrs_paper_status_updated", "paper_id", "status", "updated_at"),
        Index("ix_tldrs_updated_at", "updated_at"),  # today's generations, for the limits
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # pending | running | ready | failed
    text: Mapped[str | None] = mapped_column(Text)  # one sentence, plain text (escaped on render)
    error: Mapped[str | None] = mapped_column(Text)
    requester: Mapped[str | None] = mapped_column(String(64))  # salted hash of the client, for limits
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Paper(Base):
    """A paper: the columns `FeedEntry` declares (`PAPER_FIELDS`), and the store's own."""

    __table__ = Table(
        "papers",
        Base.metadata,
        Column("id", Integer, primary_key=True),
        *(_record_column(spec) for spec in PAPER_FIELDS),
        Column("ingested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # Bumped by every update of a stored paper: pages cached from its text know they are stale.
        Column("revision", Integer, nullable=False, default=0, server_default="0"),
        # "arxiv", or the venue source of a conference paper ("openreview", "acl" ...): then
        # `arxiv_id` holds papers.cool's venue id and `venue_entry` the rest (app/store/venues.py).
        Column("source", String(16), nullable=False, default="arxiv", server_default="arxiv"),
    )

    # Typed names for the columns that code reads by name; every column is mapped all the same
    # (the details, `getattr(paper, spec.name)`, are read through PAPER_FIELDS).
    id: Mapped[int]
    arxiv_id: Mapped[str]
    version: Mapped[int | None]
    title: Mapped[str]
    abstract: Mapped[str]
    authors: Mapped[list[str]]
    primary_category: Mapped[str | None]
    categories: Mapped[list[str]]
    comments: Mapped[str | None]
    published_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]
    ingested_at: Mapped[dt.datetime]
    revision: Mapped[int]
    source: Mapped[str]
    # The newest ready TL;DR's text, read in the paper's own SELECT (a correlated subquery on the
    # tldrs unique index): a page of 2,000 papers gets its lines without one more query, and no ORM
    # object per line. None when no model wrote one.
    tldr: Mapped[str | None] = column_property(
        select(Tldr.text)
        .where(Tldr.paper_id == __table__.c.id, Tldr.status == "ready")
        .order_by(Tldr.updated_at.desc(), Tldr.id.desc())
        .limit(1)
        .correlate_except(Tldr)
        .scalar_subquery()
    )

    listings: Mapped[list[Listing]] = relationship(back_populates="paper", passive_deletes=True)
    # Read only for venue papers (source != "arxiv"); listings of an edition load it eagerly.
    venue_entry: Mapped[VenueEntry | None] = relationship(
        foreign_keys="VenueEntry.paper_id", back_populates="paper", uselist=False, viewonly=True
    )

    @property
    def details(self) -> list[tuple[Shown, str]]:
        """The detail lines of its markup (`Shown` fields), in declaration order, those it has."""
        return [(shown, value) for name, shown in SHOWN_FIELDS if (value := getattr(self, name))]


class Listing(Base):
    """One appearance of a paper in a day's listing of a category."""

    __tablename__ = "listings"
    __table_args__ = (
        UniqueConstraint("category", "announced_on", "paper_id"),
        Index("ix_listings_category_day_position", "category", "announced_on", "position"),
        Index("ix_listings_paper_id", "paper_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(40))
    announced_on: Mapped[dt.date] = mapped_column(Date)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    announce_type: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)

    paper: Mapped[Paper] = relationship(back_populates="listings")


class VenueEntry(Base):
    """A conference paper's place in its edition: venue, year, group, position, source links.

    Its text (title, authors, abstract) is its `papers` row, so embeddings, search, FAQ and counters
    work unchanged; `arxiv_paper_id` is its arXiv version when one is known (search shows one of them).
    """

    __tablename__ = "venue_papers"
    __table_args__ = (
        UniqueConstraint("source", "source_id"),
        Index("ix_venue_papers_venue_year_position", "venue", "year", "position"),
        Index("ix_venue_papers_arxiv_paper_id", "arxiv_paper_id"),
    )

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # openreview | acl | pmlr | cvf | neurips
    source_id: Mapped[str] = mapped_column(String(200))  # "GMwRl2e9Y1", "2024.acl-long.1", "aamand23a@v202"
    venue: Mapped[str] = mapped_column(String(40))  # "ICLR"
    year: Mapped[int] = mapped_column(Integer)
    group: Mapped[str | None] = mapped_column(String(200))  # "Oral", "Long Papers" ...
    position: Mapped[int] = mapped_column(Integer)  # order in the edition, from 1
    url: Mapped[str] = mapped_column(Text)  # landing page at the source
    pdf_url: Mapped[str | None] = mapped_column(Text)
    arxiv_paper_id: Mapped[int | None] = mapped_column(ForeignKey("papers.id", ondelete="SET NULL"))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    paper: Mapped[Paper] = relationship(foreign_keys=[paper_id], back_populates="venue_entry", viewonly=True)
    # One query for a whole page of entries (the page links each paper's arXiv version).
    arxiv_paper: Mapped[Paper | None] = relationship(
        foreign_keys=[arxiv_paper_id], viewonly=True, lazy="selectin"
    )

    @property
    def edition(self) -> str:
        return f"{self.venue}.{self.year}"

    @property
    def subject(self) -> str:
        """`ICLR.2024 - Oral`: papers.cool's Subject line of a venue card."""
        return f"{self.edition} - {self.group}" if self.group else self.edition


class FetchLog(Base):
    """One fetch of an arXiv URL: drives conditional GETs and the status page."""

    __tablename__ = "fetch_log"
    __table_args__ = (Index("ix_fetch_log_url_started", "url", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    http_status: Mapped[int | None] = mapped_column(Integer)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    entries_seen: Mapped[int] = mapped_column(Integer, default=0)
    papers_new: Mapped[int] = mapped_column(Integer, default=0)
    papers_updated: Mapped[int] = mapped_column(Integer, default=0)
    listings_added: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class CategoryView(Base):
    """The last day a reader opened a category: the schedule also fetches those categories."""

    __tablename__ = "category_views"

    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_opened_on: Mapped[dt.date] = mapped_column(Date)


class Embedding(Base):
    """A paper's vector for one model: the source of truth the FAISS index is rebuilt from."""

    __tablename__ = "embeddings"
    __table_args__ = (Index("ix_embeddings_model_paper", "model", "paper_id"),)

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian, L2-normalised
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Summary(Base):
    """An LLM FAQ of a paper for one (model, prompt version, language): generated once, shared by all."""

    __tablename__ = "summaries"
    __table_args__ = (
        UniqueConstraint("paper_id", "model", "prompt_version", "lang"),
        Index("ix_summaries_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(80))
    lang: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))  # pending | running | ready | failed
    content: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)  # [{question, answer}]
    error: Mapped[str | None] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(String(16))  # "full text" | "abstract"
    # What the generation is doing now ("fetching the PDF (attempt 2 of 5)", "question 2 of 6"), and
    # why only the abstract was read: shown to the reader while and after it is written.
    phase: Mapped[str | None] = mapped_column(String(200))
    context_reason: Mapped[str | None] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    requester: Mapped[str | None] = mapped_column(String(64))  # salted hash of the client, for limits
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Refreshed every few seconds by the process generating it: older than SUMMARY_STALE_SECONDS,
    # that process is gone and the summary may be claimed again (app/summarize/heartbeat.py).
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Translation(Base):
    """A paper's title and abstract in one language, by one (model, prompt version)."""

    __tablename__ = "translations"
    __table_args__ = (
        UniqueConstraint("paper_id", "lang", "model", "prompt_version"),
        Index("ix_translations_updated_at", "updated_at"),  # today's generations, for the limits
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    lang: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # pending | running | ready | failed
    title: Mapped[str | None] = mapped_column(Text)
    abstract: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    requester: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class DailyCount(Base):
    """How often a paper's FAQ or PDF was opened on a day (papers.cool's stars)."""

    __tablename__ = "counters"

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # kimi | pdf
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class BackfillState(Base):
    """Where a bulk import (a snapshot file, an OAI-PMH harvest) stands: saved with every batch."""

    __tablename__ = "backfill_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the source and its filters
    kind: Mapped[str] = mapped_column(String(16))  # snapshot | oai
    source: Mapped[str] = mapped_column(Text)  # what the key was made of, for people
    position: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes of the (decompressed) file done
    line: Mapped[int] = mapped_column(BigInteger, default=0)  # lines of the file done
    token: Mapped[str | None] = mapped_column(Text)  # OAI-PMH: the next page's resumption token
    total: Mapped[int | None] = mapped_column(BigInteger)  # file size, or OAI completeListSize
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    skipped_lines: Mapped[list[int]] = mapped_column(JSON, default=list)  # malformed lines, first ones
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Profile(Base):
    """A reader's synced preferences under an unguessable token; only the token's SHA-256 is kept.

    Nothing here identifies a person unless they choose a digest e-mail address.
    """

    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    digest_frequency: Mapped[str] = mapped_column(String(8), default="off")  # off | daily | weekly
    digest_email: Mapped[str | None] = mapped_column(String(320))
    digest_webhook_url: Mapped[str | None] = mapped_column(Text)
    digest_webhook_secret: Mapped[str | None] = mapped_column(String(200))
    # When the digest settings last changed: devices merge them as one item, newest wins.
    digest_updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Signs the unsubscribe link of the e-mails: a leak of it can only turn a digest off.
    unsubscribe_key: Mapped[str] = mapped_column(String(64))
    # The address's owner confirms it before any digest goes there (a link in one e-mail, sent once
    # per address given); both are cleared when the address changes.
    digest_confirm_sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    digest_email_confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    items: Mapped[list[ProfileItem]] = relationship(
        back_populates="profile", cascade="all, delete-orphan", passive_deletes=True
    )


class ProfileItem(Base):
    """One star, dismissal, keyword, negative keyword, followed category or author of a profile.

    A removal is kept as a tombstone (`removed`) with its time, so that it beats an older add
    made on another device.
    """

    __tablename__ = "profile_items"

    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    profile: Mapped[Profile] = relationship(back_populates="items")


class DigestDelivery(Base):
    """One digest of a profile for one day (or week) on one channel: claimed before it is sent."""

    __tablename__ = "digest_deliveries"
    __table_args__ = (UniqueConstraint("profile_id", "day", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)  # the listing day; for weekly digests, the week's Monday
    channel: Mapped[str] = mapped_column(String(16))  # email | webhook
    # claimed (being sent, or its worker died: never sent again) | sent | refused (surely not
    # delivered: tried again, up to a few attempts) | uncertain (perhaps delivered: never again)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    papers: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class CompletenessCheck(Base):
    """How one category's announcement day compared with the arXiv API (app/store/completeness.py).

    `expected`: papers the API lists for the day's submission window; `stored`: the day's new and
    cross-listed rows after the check; `missing`: expected papers the feed did not list; `repaired`:
    those of them stored since. `alert`: some are still missing.
    """

    __tablename__ = "completeness"
    __table_args__ = (UniqueConstraint("category", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(40))
    day: Mapped[dt.date] = mapped_column(Date)
    expected: Mapped[int] = mapped_column(Integer, default=0)
    stored: Mapped[int] = mapped_column(Integer, default=0)
    missing: Mapped[int] = mapped_column(Integer, default=0)
    repaired: Mapped[int] = mapped_column(Integer, default=0)
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    alert: Mapped[bool] = mapped_column(Boolean, default=False)


class Answer(Base):
    """A reader's follow-up question on a paper and the model's answer (app/summarize/ask.py): one per
    (paper, model, prompt version, normalised question), shared by every reader who asks it."""

    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("paper_id", "model", "prompt_version", "question_key"),
        Index("ix_answers_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(80))
    question_key: Mapped[str] = mapped_column(String(64))  # sha256 of the normalised question
    question: Mapped[str] = mapped_column(Text)  # as first asked
    status: Mapped[str] = mapped_column(String(16))  # pending | running | ready | failed
    answer: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(String(16))  # "full text" | "abstract"
    requester: Mapped[str | None] = mapped_column(String(64))  # salted hash of the client, for limits
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Upload(Base):
    """A reader's own PDF (app/summarize/uploads.py): its text until the FAQ is written, then the FAQ,
    for at most UPLOAD_KEEP_HOURS. The id is the unguessable token of its page."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_created_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | running | ready | failed
    title: Mapped[str] = mapped_column(Text, default="")
    pages: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str | None] = mapped_column(Text)  # dropped once the FAQ is written
    content: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)  # [{question, answer}]
    model: Mapped[str] = mapped_column(String(200), default="")
    prompt_version: Mapped[str] = mapped_column(String(80), default="")
    error: Mapped[str | None] = mapped_column(Text)
    requester: Mapped[str | None] = mapped_column(String(64))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
