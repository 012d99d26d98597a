"""Settings: the one home of configuration. Nothing else reads the environment."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# What cron's day-of-week field takes: names or numbers, lists and ranges (`mon-fri`, `1,3,5`, `*`).
_CRON_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun|[0-6])"  # Celery's crontab: 0 (Sunday) to 6, not 7
_CRON_DAYS = re.compile(rf"\*|{_CRON_DAY}(?:-{_CRON_DAY})?(?:,{_CRON_DAY}(?:-{_CRON_DAY})?)*")

DEFAULT_CATEGORIES = ("cs.AI", "cs.CL", "cs.CV", "cs.LG", "stat.ML")


class Settings(BaseSettings):
    """Every setting of the service, read from the environment (and an optional `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="SQLite file, FAISS index, caches")
    database_url: str | None = Field(None, description="SQLAlchemy URL; unset means SQLite in DATA_DIR")
    redis_url: str | None = Field(
        None, description="Celery broker and shared limiter; unset means in-process"
    )

    arxiv_rss_url: str = Field("https://rss.arxiv.org/rss", description="base of the daily feeds")
    arxiv_api_url: str = Field("https://export.arxiv.org/api/query", description="the Atom API")
    arxiv_oai_url: str = Field("https://export.arxiv.org/oai2", description="OAI-PMH endpoint")
    completeness_oai: bool = Field(
        False, description="also check each stored day against its OAI-PMH set at ARXIV_OAI_URL"
    )
    arxiv_contact: str = Field("", description="e-mail or URL put in the User-Agent, as arXiv asks")
    arxiv_categories: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_CATEGORIES, description="categories fetched on schedule, comma-separated"
    )
    arxiv_min_interval: float = Field(3.0, ge=0, description="seconds between two arXiv requests")
    arxiv_timeout: float = Field(30.0, gt=0, description="read timeout of one arXiv request, seconds")
    arxiv_max_bytes: int = Field(50_000_000, gt=0, description="largest arXiv response accepted")
    arxiv_retries: int = Field(4, ge=0, description="retries on 429/5xx/timeouts before giving up")

    venues: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="venue editions refreshed on schedule, comma-separated (ICLR.2025,ACL.2024); empty: none",
    )
    openreview_api_url: str = Field("https://api2.openreview.net", description="OpenReview API v2")
    openreview_api_v1_url: str = Field(
        "https://api.openreview.net", description="OpenReview API v1 (venues before 2024)"
    )
    acl_anthology_xml_url: str = Field(
        "https://raw.githubusercontent.com/acl-org/acl-anthology/master/data/xml",
        description="where the ACL Anthology's collection XML files are read",
    )
    pmlr_url: str = Field("https://proceedings.mlr.press", description="PMLR proceedings site")
    cvf_url: str = Field("https://openaccess.thecvf.com", description="CVF open access site")
    neurips_url: str = Field("https://papers.nips.cc", description="NeurIPS proceedings site")
    venue_min_interval: float = Field(2.0, ge=0, description="seconds between two requests to one venue host")
    venue_timeout: float = Field(60.0, gt=0, description="read timeout of one venue request, seconds")
    venue_max_bytes: int = Field(100_000_000, gt=0, description="largest venue response accepted")
    venue_retries: int = Field(4, ge=0, description="venue retries on 429/5xx/timeouts before giving up")

    schedule_times: Annotated[tuple[str, ...], NoDecode] = Field(
        ("05:30", "07:30"), description="UTC times (HH:MM, comma-separated) of the scheduled fetches"
    )
    schedule_days: str = Field("mon-fri", description="cron day-of-week of the scheduled fetches")
    follow_opened_days: int = Field(7, ge=0, description="also fetch categories opened in the last N days")
    task_soft_time_limit: int = Field(900, gt=0, description="seconds before a task is asked to stop")
    task_time_limit: int = Field(1200, gt=0, description="seconds before a task is killed")
    task_retry_backoff: float = Field(60.0, ge=0, description="first retry delay of a failed task, seconds")
    catchup_seconds: int = Field(
        300,
        ge=0,
        description="seconds between two catch-up rounds (work a killed worker left: vectors, missed "
        "fetch rounds, lost summaries), also run when a worker starts; 0: off",
    )
    backlog_alert_seconds: int = Field(
        900, ge=1, description="a paper waiting this long for its vector turns /status and /metrics to alert"
    )

    embed_model: str = Field(
        "all-MiniLM-L6-v2", description="sentence-transformers name or path (bundled default)"
    )
    embed_backend: Literal["auto", "torch", "onnx"] = Field(
        "auto",
        description="torch, or onnx (int8 graph on CPU, built once into DATA_DIR/models); "
        "auto: onnx on CPU when onnxruntime is installed and EMBED_DTYPE is auto, else torch",
    )
    embed_device: str = Field("auto", description="cpu, cuda, cuda:1 ...; auto picks CUDA when present")
    embed_dtype: str = Field(
        "auto", description="float32, bfloat16, float16; auto: fp16 on CUDA, bf16 where fast"
    )
    embed_batch_size: int = Field(64, ge=1, le=4096, description="texts per forward pass")
    embed_preload: bool = Field(
        True, description="web processes load the model at start, in the background (/readyz waits for it)"
    )
    index_kind: Literal["auto", "flat", "hnsw", "ivfpq"] = Field(
        "auto", description="FAISS index kind; auto: flat, then HNSW, then IVF-PQ as the corpus grows"
    )
    index_exact_max: int = Field(
        50_000, ge=0, description="up to this many vectors, an exact (flat) index; above, HNSW (auto kind)"
    )
    index_pq_min: int = Field(
        2_000_000, ge=1, description="from this many vectors, an IVF-PQ index re-ranked exactly (auto kind)"
    )
    index_hnsw_m: int = Field(32, ge=4, le=128, description="HNSW graph degree")
    index_hnsw_ef_construction: int = Field(80, ge=8, description="HNSW build beam width")
    index_hnsw_ef_search: int = Field(96, ge=8, description="HNSW search beam width (recall vs speed)")
    index_ivf_nlist: int = Field(
        0, ge=0, description="IVF-PQ inverted lists; 0: 4 x sqrt(vectors), at most vectors / 39"
    )
    index_ivf_nprobe: int = Field(64, ge=1, description="IVF-PQ lists searched per query (recall vs speed)")
    index_pq_m: int = Field(
        48,
        ge=1,
        description="IVF-PQ bytes per vector (8-bit sub-quantizers; lowered to a divisor of the dim)",
    )
    index_pq_train_size: int = Field(
        0, ge=0, description="IVF-PQ training sample, vectors; 0: 50 per list, at least 10,000"
    )
    index_pq_rerank: int = Field(
        10, ge=1, description="IVF-PQ candidates per wanted result, re-scored exactly from the database"
    )
    index_pq_rerank_max: int = Field(
        1000, ge=1, description="most IVF-PQ candidates re-scored per query (never fewer than asked for)"
    )
    index_gpu: Literal["auto", "off"] = Field(
        "auto", description="auto: build IVF-PQ on the GPU when faiss-gpu sees one; off: CPU only"
    )
    index_reload_seconds: float = Field(2.0, ge=0, description="how often web processes look for a new index")

    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint (…/v1); unset: extractive digest"
    )
    llm_api_key: SecretStr | None = Field(None, description="API key of the LLM endpoint")
    llm_model: str | None = Field(None, description="model name sent to the LLM endpoint")
    llm_timeout: float = Field(120.0, gt=0, description="read timeout of one LLM call, seconds")
    llm_max_tokens: int = Field(1024, ge=16, description="most tokens of one answer")
    llm_retries: int = Field(3, ge=0, description="retries on 429/5xx/timeouts")
    llm_prompt_file: Path | None = Field(
        None, description="a custom FAQ prompt file (see app/summarize/prompts)"
    )
    llm_price_prompt_per_mtok: float = Field(
        0.0, ge=0, description="price of a million prompt tokens, for /metrics"
    )
    llm_price_completion_per_mtok: float = Field(
        0.0, ge=0, description="price of a million completion tokens"
    )
    summary_daily_limit: int = Field(500, ge=0, description="new summary generations per day, all clients")
    summary_per_ip_limit: int = Field(20, ge=0, description="new summary generations per day per client")
    summary_full_text: bool = Field(True, description="give the model the PDF's text when it can be fetched")
    summary_context_tokens: int = Field(12_000, ge=500, description="token budget of the paper text")
    summary_pregenerate_top: int = Field(0, ge=0, description="summarise the top N papers of each day ahead")
    tldr_top: int = Field(
        0, ge=0, description="write one-sentence TL;DRs of the first N new papers of each day after ingest"
    )
    summary_deadline: float = Field(
        600.0, gt=0, description="seconds one generation (every question) may take before it is failed"
    )
    summary_stale_seconds: int = Field(
        30,
        ge=3,
        description="seconds without a heartbeat from the process generating a summary (it writes one "
        "every few seconds) before the summary counts as abandoned and is generated again",
    )
    summary_streams_per_client: int = Field(
        4, ge=1, description="FAQ streams one client may hold open at once, per web process (then 429)"
    )
    summary_streams_total: int = Field(
        100, ge=1, description="FAQ streams open at once per web process (then 503)"
    )
    arxiv_pdf_url: str = Field("https://arxiv.org/pdf", description="where PDFs are fetched for full text")
    rate_ask_per_minute: int = Field(10, ge=1, description="follow-up questions per client per minute")
    ask_daily_limit: int = Field(300, ge=0, description="new follow-up answers per day, all clients")
    ask_per_ip_limit: int = Field(30, ge=0, description="new follow-up answers per day per client")
    own_key: bool = Field(
        True, description="readers may send their own OpenAI-compatible URL and key (kept in their browser)"
    )
    own_key_allow_loopback: bool = Field(
        False, description="a reader's own LLM URL may be http on a loopback address (tests, a local model)"
    )
    uploads: bool = Field(False, description="on: readers may upload a PDF of their own for its FAQ")
    upload_max_bytes: int = Field(20_000_000, ge=1024, description="largest PDF accepted")
    upload_timeout: float = Field(30.0, gt=0, description="seconds the text extraction of a PDF may take")
    upload_memory_mb: int = Field(512, ge=64, description="address space of the extracting process, MB")
    upload_max_pages: int = Field(500, ge=1, description="most pages of an uploaded PDF")
    upload_keep_hours: int = Field(24, ge=1, le=24, description="hours an upload and its FAQ are kept")
    rate_upload_per_minute: int = Field(3, ge=1, description="PDF uploads per client per minute")

    rate_search_per_minute: int = Field(60, ge=1, description="searches per client per minute")
    rate_lookup_per_minute: int = Field(
        10, ge=1, description="papers not stored yet one client may have fetched from arXiv per minute"
    )
    rate_summary_per_minute: int = Field(30, ge=1, description="FAQ requests per client per minute")
    rate_star_per_minute: int = Field(60, ge=1, description="PDF/FAQ open counts per client per minute")
    max_request_bytes: int = Field(1_000_000, ge=1024, description="largest request body accepted")
    request_head_timeout: float = Field(
        20.0,
        gt=0,
        le=300,
        description="seconds a connection may take to send a request's headers (`coolpapers serve`)",
    )
    trusted_proxies: str = Field(
        "127.0.0.1",
        description="addresses of reverse proxies whose X-Forwarded-For is believed (comma-separated, "
        "* for any): uvicorn's --forwarded-allow-ips; per-client limits count the address it yields",
    )
    page_cache_mb: int = Field(
        64, ge=0, description="rendered listing pages kept per web process, MB; 0: off"
    )
    page_fresh_seconds: int = Field(
        60,
        ge=0,
        description="seconds browsers and proxies reuse a page (Cache-Control max-age); 0: ask each time",
    )
    listing_eager_abstracts: int = Field(
        100,
        ge=1,
        description="papers of a listing whose abstracts a browser gets in the page itself; a bigger "
        "day's other abstracts follow in a second request (other clients, and ?abstracts=all, get all)",
    )
    admin_token: SecretStr | None = Field(None, description="bearer token of /api/v1/admin; unset: off")
    rate_profile_per_minute: int = Field(
        30, ge=1, description="profile reads and writes (sync) per client per minute"
    )
    webhook_allow_private: bool = Field(
        False,
        description="let digest webhooks reach loopback, private and link-local addresses (tests, a "
        "self-hoster's own network); off: only public addresses",
    )
    public_url: str = Field(
        "http://localhost:8000", description="the site's address as readers reach it, for links in digests"
    )
    digest_papers: int = Field(10, ge=1, le=100, description="papers in one digest")
    smtp_host: str | None = Field(None, description="SMTP server of digest e-mails; unset: no e-mail")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port (587 STARTTLS, 465 TLS, 25 plain)")
    smtp_user: str | None = Field(None, description="SMTP login; unset: no authentication")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    smtp_from: str = Field("coolpapers@localhost", description="From address of digest e-mails")
    smtp_tls: Literal["starttls", "ssl", "off"] = Field(
        "starttls", description="starttls, ssl (implicit TLS) or off (a local relay or mail catcher)"
    )
    log_level: str = Field("WARNING", description="root log level (logs are JSON lines on stderr)")
    prometheus_multiproc_dir: Path | None = Field(
        None,
        description="a folder for the metrics of several web processes (uvicorn --workers N); read by "
        "prometheus-client at import: from .env only through `coolpapers serve` (which passes it on and "
        "empties it at start), else in the process environment; unset: one process",
    )

    @field_validator("arxiv_categories", "schedule_times", "venues", mode="before")
    @classmethod
    def _split_categories(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("schedule_times")
    @classmethod
    def _check_times(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for time in value:
            hours, _, minutes = time.partition(":")
            if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
                raise ValueError(f"{time!r} is not a UTC time HH:MM")
        return value

    @field_validator("schedule_days")
    @classmethod
    def _check_days(cls, value: str) -> str:
        if not _CRON_DAYS.fullmatch(value.strip().lower()):
            raise ValueError(f"{value!r} is not a cron day of week (mon-fri, sat,sun, 1-5, *)")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"{value!r}: one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("embed_device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(?::\d+)?|mps", value.strip().lower()):
            raise ValueError(f"{value!r}: auto, cpu, cuda, cuda:N or mps")
        return value

    @field_validator("embed_dtype")
    @classmethod
    def _check_dtype(cls, value: str) -> str:
        if value.strip().lower() not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"{value!r}: auto, float32, bfloat16 or float16")
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to SQLite under DATA_DIR (the embedded default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'coolpapers.db'}"

    @property
    def user_agent(self) -> str:
        from app import __version__

        contact = f"; {self.arxiv_contact}" if self.arxiv_contact else ""
        return f"coolpapers-selfhosted/{__version__} (+https://github.com/coolpapers/selfhosted{contact})"


@lru_cache
def get_settings() -> Settings:
    return Settings()
