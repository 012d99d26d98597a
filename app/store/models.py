"""ORM models. The database is the source of truth; every derived file is rebuilt from it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Paper(Base):
    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arxiv_id: Mapped[str] = mapped_column(String(40), unique=True)
    version: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSON)
    primary_category: Mapped[str | None] = mapped_column(String(40))
    categories: Mapped[list[str]] = mapped_column(JSON)
    comments: Mapped[str | None] = mapped_column(Text)
    journal_ref: Mapped[str | None] = mapped_column(Text)
    doi: Mapped[str | None] = mapped_column(Text)
    license: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ingested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Bumped by every update of a stored paper: pages cached from its text know they are stale.
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    listings: Mapped[list[Listing]] = relationship(back_populates="paper", passive_deletes=True)


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
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    requester: Mapped[str | None] = mapped_column(String(64))  # salted hash of the client, for limits
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Counter(Base):
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
