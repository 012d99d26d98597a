"""Every error this application raises on purpose, in one tree; the edges map each kind once.

    class                            kind (blank: the parent's)
    CoolPapersError                  INTERNAL
    ├── ArxivError
    │   ├── FeedParseError
    │   ├── FetchError               UNAVAILABLE
    │   │   └── ArxivUnavailableError
    │   └── StaleFeedError
    ├── VenueError
    │   ├── VenueParseError
    │   ├── VenueFetchError          UNAVAILABLE
    │   └── UnknownVenueError        NOT_FOUND
    ├── NotFoundError                NOT_FOUND
    ├── InvalidQueryError            INVALID
    │   └── PdfRejectedError
    ├── LimitError                   LIMITED
    │   ├── RateLimitedError
    │   └── SummaryLimitError
    ├── BackfillConflictError        CONFLICT
    ├── QueueUnavailableError        UNAVAILABLE
    ├── StreamsBusyError             UNAVAILABLE
    ├── NoModelError                 UNAVAILABLE
    ├── EmbedderError
    ├── PromptError
    └── LLMError
        ├── LLMUnavailableError
        ├── LLMAuthError
        ├── LLMContentFilterError
        └── LLMResponseError

A class without a kind inherits its parent's; the root's is INTERNAL. The kind says what went wrong
in words any edge understands: app.main turns it into an HTTP status in one table, the CLI prints the
message. `retry_after` (seconds) is set where waiting helps.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    INTERNAL = "internal"  # a fault of this service or of something it depends on
    NOT_FOUND = "not found"  # the thing asked for does not exist
    INVALID = "invalid"  # the request is well-formed but meaningless
    LIMITED = "limited"  # a limit is reached: ask again after `retry_after`
    UNAVAILABLE = "unavailable"  # an upstream service could not be reached
    CONFLICT = "conflict"  # another run changed the same thing meanwhile


class CoolPapersError(Exception):
    """Base of every error this application raises on purpose."""

    kind = ErrorKind.INTERNAL
    retry_after: float | None = None


class ArxivError(CoolPapersError):
    """Something went wrong talking to arXiv or reading what it sent."""


class FeedParseError(ArxivError):
    """A document is not a well-formed feed of a supported kind.

    The message is one line that says why, so the CLI can print it as is. `status`: the HTTP status
    of the response it came in, when it was fetched (the fetch log keeps it).
    """

    status: int | None = None


class FetchError(ArxivError):
    """arXiv could not be reached or kept failing after the retries."""

    kind = ErrorKind.UNAVAILABLE

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ArxivUnavailableError(FetchError):
    """429 / 5xx / timeouts / broken connections after the client's own retries: worth a later try."""


class StaleFeedError(ArxivError):
    """The feed does not announce the day that was asked for (arXiv has not rebuilt it yet)."""


class NotFoundError(CoolPapersError):
    """A requested row does not exist."""

    kind = ErrorKind.NOT_FOUND


class InvalidQueryError(CoolPapersError):
    """A user-supplied parameter is well-typed but meaningless (bad category expression...)."""

    kind = ErrorKind.INVALID


class PdfRejectedError(InvalidQueryError):
    """An uploaded file is not a PDF this service will read (too big, not a PDF, malformed, hostile)."""


class LimitError(CoolPapersError):
    """A limit is reached; `retry_after` seconds until it is not."""

    kind = ErrorKind.LIMITED

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(LimitError):
    """Too many requests from one client in a window."""


class SummaryLimitError(LimitError):
    """The daily budget of new generations (overall or for this client) is spent."""


class BackfillConflictError(CoolPapersError):
    """Another process moved the same import on meanwhile: this batch is rolled back."""

    kind = ErrorKind.CONFLICT


class QueueUnavailableError(CoolPapersError):
    """The task queue (Redis) cannot take a task now; nothing was queued."""

    kind = ErrorKind.UNAVAILABLE
    retry_after = 5.0

    def __init__(self, message: str = "the task queue is not answering; try again in a moment"):
        super().__init__(message)


class StreamsBusyError(CoolPapersError):
    """This web process follows as many FAQ streams as it allows: ask again, or poll without streaming."""

    kind = ErrorKind.UNAVAILABLE
    retry_after = 5.0


class NoModelError(CoolPapersError):
    """No language model answers this request: none is configured, and the reader sent none of theirs."""

    kind = ErrorKind.UNAVAILABLE


class EmbedderError(CoolPapersError):
    """The embedding model cannot run as configured (a backend that does not fit the model)."""


class PromptError(CoolPapersError):
    """A prompt file is missing a section or a placeholder."""


class LLMError(CoolPapersError):
    """The language model could not produce an answer. `transient` errors are worth a retry."""

    transient = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class LLMUnavailableError(LLMError):
    """Timeouts, 429 and 5xx after the client's own retries."""

    transient = True


class LLMAuthError(LLMError):
    """401/403: the key is wrong or lacks access."""


class LLMContentFilterError(LLMError):
    """The provider refused the content (finish_reason content_filter or a moderation error)."""


class LLMResponseError(LLMError):
    """The server answered something that is not a chat completion."""


class VenueError(CoolPapersError):
    """Something went wrong talking to a conference source (OpenReview, ACL Anthology, PMLR, CVF, NeurIPS)."""


class VenueParseError(VenueError):
    """A venue document is ill-formed, truncated or not of the kind expected; nothing is taken from it.

    The message is one line that says which document and why, so the CLI can print it as is.
    """


class VenueFetchError(VenueError):
    """A venue source could not be reached, answered an error, or kept failing after the retries."""

    kind = ErrorKind.UNAVAILABLE

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class UnknownVenueError(VenueError):
    """A venue edition (`ICLR.2024`) that the catalog does not know."""

    kind = ErrorKind.NOT_FOUND


def first_line(exc: BaseException) -> str:
    """An error as a reader or a log line is told it: its first line, or its type when it says nothing."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
