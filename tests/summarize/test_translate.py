"""Translations and the FAQ in the reader's language, end to end: a real loopback OpenAI-compatible
server, a committed database, the in-process generator, the HTTP routes; and the FAQ prompt's
version bump (a code question) leaving the old answers behind."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings, get_settings
from app.store.db import session_scope
from app.store.models import Paper, Summary, Translation
from app.summarize.extractive import extractive_faq
from app.summarize.prompts import VERSION, languages, load_prompt
from app.summarize.translate import MAX_ABSTRACT_CHARS, MAX_TITLE_CHARS, split_translation
from tests.llm_server import FakeLLMServer, Fault

PAPER = "2609.26811"
SITE = {"Sec-Fetch-Site": "same-origin"}
TITLE_ZH = "漂移契约：深度网络的谱更新"
ABSTRACT_ZH = "我们研究 $W_t$ 的谱更新。\n结果见 https://github.com/example/drift 。"


@pytest.fixture
def client(configured: Settings) -> Iterator[TestClient]:
    from app.main import create_app

    with TestClient(create_app(), raise_server_exceptions=False, headers=SITE) as test_client:
        yield test_client


def poll(client: TestClient, url: str, *, params: dict[str, str], timeout: float = 10.0) -> tuple[int, dict]:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(url, params=params)
        if response.status_code != 202:
            return response.status_code, response.json()
        time.sleep(0.05)
    raise AssertionError(f"{url} stayed 202")


def test_translation_202_while_written_then_200(client: TestClient, llm: FakeLLMServer) -> None:
    llm.first_token_delay = 0.3  # the first answer is surely given while the model still writes
    llm.enqueue(f"{TITLE_ZH}\n\n{ABSTRACT_ZH}")
    url = f"/api/v1/papers/{PAPER}/translation"
    first = client.get(url, params={"lang": "zh"})
    assert first.status_code == 202 and first.headers["Retry-After"] == "1"
    assert first.json()["status"] in ("pending", "running") and first.json()["retry_after"] == 1
    assert first.json()["title"] is None
    status, body = poll(client, url, params={"lang": "zh"})
    assert status == 200 and body["status"] == "ready" and body["lang"] == "zh"
    assert (body["title"], body["abstract"]) == (TITLE_ZH, ABSTRACT_ZH)
    [chat] = llm.chat_requests
    assert "Simplified Chinese" in chat.messages[0]["content"] and "untrusted" in chat.messages[0]["content"]
    assert "<paper>" in chat.messages[1]["content"]
    # Stored per paper and language: asked again, read; another site's GET reads it as well.
    assert client.get(url, params={"lang": "zh"}, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200
    assert len(llm.chat_requests) == 1
    with session_scope(get_settings()) as session:
        assert session.scalars(select(Translation.lang)).all() == ["zh"]


def test_each_language_is_stored_apart(client: TestClient, llm: FakeLLMServer) -> None:
    llm.enqueue("Title in Japanese\n\nAbstract in Japanese", "English title\n\nEnglish abstract")
    url = f"/api/v1/papers/{PAPER}/translation"
    assert poll(client, url, params={"lang": "ja"})[1]["title"] == "Title in Japanese"
    assert poll(client, url, params={"lang": "en"})[1]["title"] == "English title"
    assert "Japanese" in llm.chat_requests[0].messages[0]["content"]
    assert len(llm.chat_requests) == 2


@pytest.mark.parametrize("lang", ["xx", "klingon", "zh-CN; drop table", "ZH", "", "<script>"])
def test_unknown_language_is_422(client: TestClient, llm: FakeLLMServer, lang: str) -> None:
    response = client.get(f"/api/v1/papers/{PAPER}/translation", params={"lang": lang})
    assert response.status_code == 422 and "lang" in response.json()["detail"]
    assert client.post(f"/api/v1/papers/{PAPER}/translation", params={"lang": lang}).status_code == 422
    assert llm.chat_requests == []


def test_cross_site_get_starts_nothing_and_cross_site_post_is_refused(
    client: TestClient, llm: FakeLLMServer
) -> None:
    url = f"/api/v1/papers/{PAPER}/translation"
    other = {"Sec-Fetch-Site": "cross-site"}
    assert client.get(url, params={"lang": "zh"}, headers=other).status_code == 404
    assert client.post(url, params={"lang": "zh"}, headers=other).status_code == 403
    assert llm.chat_requests == []


def test_without_a_model_no_translation_is_invented(
    client: TestClient, llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLM_BASE_URL")
    get_settings.cache_clear()
    response = client.get(f"/api/v1/papers/{PAPER}/translation", params={"lang": "zh"})
    assert response.status_code == 404 and "no language model" in response.json()["detail"]
    assert llm.chat_requests == []


@pytest.mark.parametrize(
    "answer",
    [
        '<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">',
        "标题" * 2000 + "\n\n" + "摘要" * 20000,
        "\u202eTitle\x00\n\nAbs\x1btract",
    ],
)
def test_hostile_translations_are_bounded_plain_text(
    client: TestClient, llm: FakeLLMServer, answer: str
) -> None:
    llm.enqueue(answer)
    status, body = poll(client, f"/api/v1/papers/{PAPER}/translation", params={"lang": "zh"})
    assert status == 200
    title, abstract = str(body["title"]), str(body["abstract"])
    assert len(title) <= MAX_TITLE_CHARS and len(abstract) <= MAX_ABSTRACT_CHARS
    assert not any(c in title + abstract for c in "\x00\x1b\u202e")


def test_a_failed_translation_is_a_503_with_its_cool_down(client: TestClient, llm: FakeLLMServer) -> None:
    llm.enqueue(Fault.status(400, message="secret upstream detail at 10.0.0.7"))
    status, body = poll(client, f"/api/v1/papers/{PAPER}/translation", params={"lang": "zh"})
    assert status == 503 and body["status"] == "failed" and body["retry_after"] > 60
    assert "10.0.0.7" not in str(body["error"]) and "secret" not in str(body["error"])


@pytest.mark.parametrize(
    "answer",
    [
        "I cannot translate this.",  # a one-line refusal: stored as ready with an empty abstract before
        "<think>\nThe user wants Chinese.\nTitle first.\n</think>",  # thinking, then nothing
    ],
)
def test_an_answer_without_an_abstract_fails_and_is_not_kept(
    client: TestClient, llm: FakeLLMServer, answer: str
) -> None:
    llm.enqueue(answer)
    status, body = poll(client, f"/api/v1/papers/{PAPER}/translation", params={"lang": "zh"})
    assert status == 503 and body["status"] == "failed"


def test_a_reasoning_models_thinking_is_not_part_of_the_translation(
    client: TestClient, llm: FakeLLMServer
) -> None:
    llm.enqueue("<think>\nOkay, Chinese.\nThe title is...\n</think>\n标题\n\n摘要")
    status, body = poll(client, f"/api/v1/papers/{PAPER}/translation", params={"lang": "zh"})
    assert status == 200 and (body["title"], body["abstract"]) == ("标题", "摘要")


def test_split_translation() -> None:
    assert split_translation("Title: T\n\nA\n\nB") == ("T", "A\nB")
    assert split_translation("\n\n") is None
    assert split_translation("only a title") == ("only a title", "")


def wait_faq(client: TestClient, lang: str) -> dict:  # type: ignore[type-arg]
    status, body = poll(client, f"/api/v1/papers/{PAPER}/summary", params={"lang": lang})
    assert status == 200
    return body


def test_faq_in_each_language_is_cached_apart(client: TestClient, llm: FakeLLMServer) -> None:
    questions = len(load_prompt("en").questions)
    english = wait_faq(client, "en")
    chinese = wait_faq(client, "zh")
    japanese = wait_faq(client, "ja")
    assert (english["lang"], chinese["lang"], japanese["lang"]) == ("en", "zh", "ja")
    assert chinese["questions"][0] == "这篇论文试图解决什么问题？"
    assert japanese["questions"] == english["questions"]  # asked in English, answered in Japanese
    assert len(llm.chat_requests) == 3 * questions
    ja_system = llm.chat_requests[-1].messages[0]["content"]
    assert ja_system.endswith("Write every answer in Japanese (日本語).")
    assert wait_faq(client, "zh")["answers"] == chinese["answers"]  # read from its own cache
    assert len(llm.chat_requests) == 3 * questions
    with session_scope(get_settings()) as session:
        assert sorted(session.scalars(select(Summary.lang))) == ["en", "ja", "zh"]


def test_a_custom_prompt_file_answers_in_the_language_asked(tmp_path: Path) -> None:
    """LLM_PROMPT_FILE was used as written whatever `lang` was: `?lang=zh` stored English FAQs."""
    from app.errors import PromptError
    from app.summarize.prompts import PROMPTS

    custom = tmp_path / "mine.txt"
    custom.write_text((PROMPTS / f"{VERSION}.en.txt").read_text(encoding="utf-8").replace("FAQ", "Q&A"))
    english, chinese, japanese = (load_prompt(lang, custom) for lang in ("en", "zh", "ja"))
    assert english.version.startswith("custom-") and "Write every answer in" not in english.system
    assert chinese.system == f"{english.system}\nWrite every answer in {languages()['zh']}."
    assert japanese.system.endswith(f"Write every answer in {languages()['ja']}.")
    assert chinese.questions == english.questions and chinese.version == english.version
    with pytest.raises(PromptError, match="no prompt for language 'xx'"):
        load_prompt("xx", custom)


def test_faq_asks_whether_code_is_released_in_every_language() -> None:
    assert "Is the code released, and where?" in load_prompt("en").questions
    assert "论文的代码是否已公开，在哪里？" in load_prompt("zh").questions
    assert "Never guess a URL" in load_prompt("en").system
    assert "绝不要猜测网址" in load_prompt("zh").system
    assert {"en", "zh"} <= set(languages())


def test_extractive_code_answer_comes_from_the_abstracts_links() -> None:
    prompt = load_prompt("en")
    index = prompt.questions.index("Is the code released, and where?")
    abstract = "We propose a method. Code is available at https://github.com/example/repo. It works well."
    answers = extractive_faq(prompt, abstract=abstract)
    assert "https://github.com/example/repo" in answers[index]["answer"]
    none = extractive_faq(prompt, abstract="We propose a method. It works well.")
    assert none[index]["answer"] == "_The abstract does not say._"


def test_prompt_version_bump_leaves_old_answers_behind(client: TestClient, llm: FakeLLMServer) -> None:
    now = dt.datetime.now(dt.UTC)
    old_answers = [{"question": "What problem does this paper try to solve?", "answer": "OLD v1 answer"}]
    with session_scope(get_settings()) as session:
        paper_id = session.scalar(select(Paper.id).where(Paper.arxiv_id == PAPER))
        session.add(
            Summary(
                paper_id=paper_id,
                model="fake-llm",
                prompt_version="faq-v1",
                lang="en",
                status="ready",
                content=old_answers,
                requester="x",
                attempts=1,
                prompt_tokens=0,
                completion_tokens=0,
                created_at=now,
                updated_at=now,
            )
        )
    assert VERSION == "faq-v2"
    first = client.get(f"/api/v1/papers/{PAPER}/summary")
    assert first.status_code == 202  # the v1 answers are not served as the v2 FAQ
    body = wait_faq(client, "en")
    assert body["prompt_version"] == "faq-v2" and "OLD v1 answer" not in str(body["answers"])
    assert body["questions"][-2] == "Is the code released, and where?"
    assert [a["question"] for a in body["answers"]] == body["questions"]
    with session_scope(get_settings()) as session:
        versions = sorted(session.scalars(select(Summary.prompt_version)))
    assert versions == ["faq-v1", "faq-v2"]  # the old row is kept apart, never mixed in
