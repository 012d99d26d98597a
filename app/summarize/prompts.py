"""FAQ prompts: versioned text files with [system], [context] and [questions] sections."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from app.errors import PromptError

PROMPTS = Path(__file__).resolve().parent / "prompts"
# faq-v2 added the code question: summaries are stored per version, so v1 answers are never shown
# beside v2 questions (service.find_summary matches the version exactly) and are written anew.
VERSION = "faq-v2"
LANGS = ("en", "zh")
_SECTION_RE = re.compile(r"^\[(system|context|questions)\]\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class FaqPrompt:
    version: str  # stored beside each summary: a new version means new summaries
    system: str
    context: str  # with {title} {authors} {context_kind} {text}
    questions: tuple[str, ...]

    def context_message(self, *, title: str, authors: str, context_kind: str, text: str) -> str:
        return self.context.format(title=title, authors=authors, context_kind=context_kind, text=text)


def parse_prompt(text: str, *, version: str) -> FaqPrompt:
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    parts = _SECTION_RE.split(body)
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    missing = {"system", "context", "questions"} - set(sections)
    if missing:
        raise PromptError(f"prompt {version}: missing section(s) {', '.join(sorted(missing))}")
    if "{text}" not in sections["context"]:
        raise PromptError(f"prompt {version}: the [context] section must contain {{text}}")
    questions = tuple(q.strip() for q in sections["questions"].splitlines() if q.strip())
    if not questions:
        raise PromptError(f"prompt {version}: no questions")
    return FaqPrompt(version, sections["system"], sections["context"], questions)


@lru_cache
def load_prompt(lang: str, custom: Path | None = None) -> FaqPrompt:
    """The bundled prompt for `lang`, or a custom file (versioned by its content's hash) asked to
    answer in `lang` (it was used as written whatever the language: `?lang=zh` stored English)."""
    if custom is not None:
        text = custom.read_text(encoding="utf-8")
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        prompt = parse_prompt(text, version=f"custom-{digest}")
        return prompt if lang == "en" else _answered_in(prompt, lang)
    if lang in LANGS:
        return parse_prompt((PROMPTS / f"{VERSION}.{lang}.txt").read_text(encoding="utf-8"), version=VERSION)
    # Any other language the translation prompt names: the English questions, answered in it.
    return _answered_in(load_prompt("en"), lang)


def _answered_in(prompt: FaqPrompt, lang: str) -> FaqPrompt:
    name = languages().get(lang)
    if name is None:
        raise PromptError(
            f"no prompt for language {lang!r}; have {', '.join(sorted({*LANGS, *languages()}))}"
        )
    return FaqPrompt(
        prompt.version, f"{prompt.system}\nWrite every answer in {name}.", prompt.context, prompt.questions
    )


@dataclass(frozen=True, slots=True)
class TaskPrompt:
    """A one-message prompt (TL;DR, translation): [system] and [user] templates, and its version."""

    version: str  # the file's name: stored beside what it wrote
    system: str
    user: str
    languages: dict[str, str]  # code -> name, from an optional [languages] section

    def messages(self, **values: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system.format(**values)},
            {"role": "user", "content": self.user.format(**values)},
        ]


_TASK_SECTION_RE = re.compile(r"^\[(system|user|languages)\]\s*$", re.MULTILINE)


@lru_cache
def load_task_prompt(version: str) -> TaskPrompt:
    """The bundled prompt `prompts/{version}.txt` (`tldr-v1`, `translate-v1`)."""
    text = (PROMPTS / f"{version}.txt").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    parts = _TASK_SECTION_RE.split(body)
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    missing = {"system", "user"} - set(sections)
    if missing:
        raise PromptError(f"prompt {version}: missing section(s) {', '.join(sorted(missing))}")
    names = {}
    for line in sections.get("languages", "").splitlines():
        code, _, name = line.partition("=")
        if code.strip() and name.strip():
            names[code.strip()] = name.strip()
    return TaskPrompt(version, sections["system"], sections["user"], names)


TLDR_VERSION = "tldr-v1"
TRANSLATE_VERSION = "translate-v1"


def languages() -> dict[str, str]:
    """The languages readers may ask for (code -> name): those the translation prompt names."""
    return load_task_prompt(TRANSLATE_VERSION).languages
