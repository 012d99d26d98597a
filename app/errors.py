"""One base error per domain; the edges (api, web, cli) map them to responses."""

from __future__ import annotations


class CoolPapersError(Exception):
    """Base of every error this application raises on purpose."""


class ArxivError(CoolPapersError):
    """Something went wrong talking to arXiv or reading what it sent."""


class FeedParseError(ArxivError):
    """A document is not a well-formed feed of a supported kind.

    The message is one line that says why, so the CLI can print it as is.
    """


class FetchError(ArxivError):
    """arXiv could not be reached or kept failing after the retries."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class StaleFeedError(ArxivError):
    """The feed does not announce the day that was asked for (arXiv has not rebuilt it yet)."""


class NotFoundError(CoolPapersError):
    """A requested row does not exist."""


class InvalidQueryError(CoolPapersError):
    """A user-supplied parameter is well-typed but meaningless (bad category expression...)."""


class EmbedderError(CoolPapersError):
    """The embedding model cannot run as configured (a backend that does not fit the model)."""


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
