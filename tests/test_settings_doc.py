"""The settings documentation cannot drift from the Settings class."""

from __future__ import annotations

from pathlib import Path

from app.settings_doc import env_example, settings_table

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_is_the_generated_one() -> None:
    assert settings_table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_env_example_is_the_generated_one() -> None:
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == env_example()
