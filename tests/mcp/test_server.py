"""The MCP server at /mcp: the SDK's own client over streamable HTTP against uvicorn on loopback."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from sqlalchemy import select

from app.arxiv.parse import parse_feed
from app.config import Settings
from app.profiles.store import ItemChange, create_profile, merge_profile
from app.search.embed import embed_missing
from app.store.db import session_scope
from app.store.ingest import ingest_feed
from app.store.models import Paper
from tests.conftest import DATA
from tests.fakes import FakeEmbedder

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2025, 12, 15)
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def site(settings_env: Settings, tmp_path: Path) -> Iterator[tuple[str, str, list[str]]]:
    """uvicorn serving a committed day of cs.CV papers (with vectors) and one profile: (url, token, ids)."""
    with session_scope(settings_env) as session:
        feed = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes())
        ingest_feed(session, feed=feed, categories=["cs.CV"], day=DAY)
        embed_missing(session, FakeEmbedder(name=settings_env.embed_model))
        ids = list(session.scalars(select(Paper.arxiv_id).order_by(Paper.id)))
        profile, token = create_profile(session)
        at = dt.datetime.now(dt.UTC)
        changes = [ItemChange("stars", ids[0], at), ItemChange("categories", "cs.CV", at)]
        merge_profile(session, profile, changes=changes)
    port, log = _free_port(), tmp_path / "uvicorn.log"
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not start:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, token, ids
    finally:
        server.terminate()
        server.wait(timeout=10)


def _json(result: Any) -> Any:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


async def _session(url: str, token: str, ids: list[str]) -> None:
    async with Client(f"{url}/mcp") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert tools == {"search", "listing", "paper", "related", "for_you"}

        day = _json(await client.call_tool("listing", {"categories": "cs.CV", "limit": 5}))
        assert day["date"] == DAY.isoformat() and 5 < day["total"] <= len(ids) and len(day["items"]) == 5

        markdown = (await client.call_tool("paper", {"arxiv_id": ids[1]})).content[0].text
        assert markdown.startswith("# ") and "## Abstract" in markdown
        # Any spelling of the id, as the API and the page take it.
        spelt = await client.call_tool("paper", {"arxiv_id": f"arXiv:{ids[1]}v1"})
        assert spelt.content[0].text == markdown
        bad = await client.call_tool("paper", {"arxiv_id": "not-a-paper"})
        assert bad.is_error and "not an arXiv id" in bad.content[0].text

        words = day["items"][0]["title"].split()[:3]
        found = _json(await client.call_tool("search", {"query": " ".join(words), "limit": 3}))
        assert day["items"][0]["arxiv_id"] in [item["arxiv_id"] for item in found["items"]]

        near = _json(await client.call_tool("related", {"arxiv_id": ids[0], "limit": 4}))
        assert len(near["items"]) == 4 and ids[0] not in [item["arxiv_id"] for item in near["items"]]
        assert _json(await client.call_tool("related", {"arxiv_id": f"{ids[0]}v9", "limit": 4})) == near

        picks = _json(await client.call_tool("for_you", {"token": token, "limit": 3}))
        assert len(picks["items"]) == 3 and ids[0] not in [item["arxiv_id"] for item in picks["items"]]
        assert all(item["reason"].startswith("close to ") for item in picks["items"])

        refused = await client.call_tool("for_you", {"token": "x" * 43})
        assert refused.is_error and "no profile" in refused.content[0].text


def test_mcp_tools_over_streamable_http(site: tuple[str, str, list[str]]) -> None:
    anyio.run(_session, *site)


@pytest.fixture
def tight_search(settings_env: Settings, monkeypatch: pytest.MonkeyPatch) -> int:
    """Two searches a minute per client (the server started after this inherits the environment)."""
    monkeypatch.setenv("RATE_SEARCH_PER_MINUTE", "2")
    return 2


async def _search_until_refused(url: str, limit: int) -> None:
    async with Client(f"{url}/mcp") as client:
        for _ in range(limit):
            _json(await client.call_tool("search", {"query": "images", "limit": 1}))
        refused = await client.call_tool("search", {"query": "images", "limit": 1})
        assert refused.is_error and "too many search requests" in refused.content[0].text
        # Only search is limited: the other tools still answer.
        assert _json(await client.call_tool("listing", {"categories": "cs.CV", "limit": 1}))["items"]
    # The website's search shares the client's budget: it is spent there too.
    assert httpx.get(f"{url}/arxiv/search", params={"query": "images"}).status_code == 429


def test_mcp_search_is_rate_limited_per_client(tight_search: int, site: tuple[str, str, list[str]]) -> None:
    anyio.run(_search_until_refused, site[0], tight_search)


async def _guess_tokens_until_refused(url: str, limit: int) -> None:
    async with Client(f"{url}/mcp") as client:
        for _ in range(limit):
            missed = await client.call_tool("for_you", {"token": "x" * 43})
            assert missed.is_error and "no profile" in missed.content[0].text
        refused = await client.call_tool("for_you", {"token": "x" * 43})
        assert refused.is_error and "too many profile requests" in refused.content[0].text
    # The profile API shares the client's budget: it is spent there too.
    assert httpx.get(f"{url}/api/v1/profiles/{'x' * 43}").status_code == 429


@pytest.fixture
def tight_profiles(settings_env: Settings, monkeypatch: pytest.MonkeyPatch) -> int:
    """Three profile requests a minute per client."""
    monkeypatch.setenv("RATE_PROFILE_PER_MINUTE", "3")
    return 3


def test_mcp_for_you_tries_tokens_at_the_profile_apis_pace(
    tight_profiles: int, site: tuple[str, str, list[str]]
) -> None:
    anyio.run(_guess_tokens_until_refused, site[0], tight_profiles)


def test_brief_links_a_venue_paper_to_its_venue_page(settings_env: Settings) -> None:
    from app.mcp.server import _brief

    venue = Paper(
        arxiv_id="GMwRl2e9Y1@OpenReview",
        source="openreview",
        title="A venue paper",
        abstract="Text.",
        authors=["Ada"],
        categories=[],
    )
    assert _brief(venue)["url"] == f"{settings_env.public_url}/venue/GMwRl2e9Y1@OpenReview"
    arxiv = Paper(arxiv_id="2512.00001", source="arxiv", title="T", abstract="A", authors=[], categories=[])
    assert _brief(arxiv)["url"] == "https://arxiv.org/abs/2512.00001"


def test_tools_run_on_the_page_threads(settings_env: Settings) -> None:
    """A tool (a day's listing reads all of it) waits for a page thread as the pages do: with every one
    held, it does not run; it answers once they are free. Its errors still reach the agent as one line."""
    from mcp.server.mcpserver.exceptions import ToolError

    from app.mcp import server
    from app.renders import PAGE_THREADS, page_threads

    with session_scope(settings_env) as session:
        feed = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes())
        ingest_feed(session, feed=feed, categories=["cs.CV"], day=DAY)
    listing = server._telling(server.listing)

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(PAGE_THREADS):  # every page thread busy for half a second
                group.start_soon(page_threads.run, functools.partial(time.sleep, 0.5))
            await anyio.sleep(0.1)
            with anyio.move_on_after(0.2) as waited:
                await listing(categories="cs.CV", limit=5)
            assert waited.cancelled_caught  # still waiting for a page thread
        answer = await listing(categories="cs.CV", limit=5)
        assert answer["date"] == DAY.isoformat() and len(answer["items"]) == 5
        for odd in ("yesterday", "20251215", "2025-W51-1"):  # the API's form alone, as the error says
            with pytest.raises(ToolError, match="date: YYYY-MM-DD"):
                await listing(categories="cs.CV", date=odd)

    anyio.run(scenario)
