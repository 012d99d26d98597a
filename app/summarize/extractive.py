"""Without an LLM: the abstract's own sentences under the questions they answer, labelled as such."""

from __future__ import annotations

import re

from app.summarize.prompts import FaqPrompt

LABEL = (
    "Extractive digest of the abstract: sentences chosen by keyword, not written by a language model. "
    "Set LLM_BASE_URL, LLM_API_KEY and LLM_MODEL to get real FAQ answers."
)
NOT_SAID = "_The abstract does not say._"
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[$])")
# Cue words per question, in the order of the FAQ; the last question takes the first sentences.
CUES: tuple[tuple[str, ...], ...] = (
    ("problem", "challenge", "however", "remain", "lack", "limited", "difficult", "issue", "gap", "fail"),
    (
        "prior",
        "existing",
        "previous",
        "recent",
        "state-of-the-art",
        "traditional",
        "conventional",
        "literature",
    ),
    (
        "we propose",
        "we introduce",
        "we present",
        "we develop",
        "our method",
        "our approach",
        "framework",
        "we design",
    ),
    (
        "experiment",
        "evaluat",
        "benchmark",
        "dataset",
        "outperform",
        "results",
        "accuracy",
        "empirical",
        "demonstrat",
    ),
    ("future", "limitation", "open question", "further", "extend", "could be"),
    # Is the code released, and where: the abstract's sentences that give a link or say so.
    (
        "github.com",
        "gitlab",
        "huggingface.co",
        "http://",
        "https://",
        "code is available",
        "code are available",
        "open-source",
        "open source",
        "publicly available",
        "released at",
    ),
)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_RE.split(text.strip()) if s.strip()]


def extractive_faq(prompt: FaqPrompt, *, abstract: str) -> list[dict[str, str]]:
    """One answer per question: the abstract's sentences that carry that question's cue words."""
    sentences = split_sentences(abstract)
    answers = []
    for index, question in enumerate(prompt.questions):
        if index < len(CUES):
            chosen = [s for s in sentences if any(cue in s.lower() for cue in CUES[index])][:3]
        else:
            chosen = sentences[:2]
        answers.append({"question": question, "answer": " ".join(chosen) if chosen else NOT_SAID})
    return answers
