"""The settings documentation cannot drift from the Settings class."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings
from app.settings_doc import env_example, settings_table

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("| variable | default | meaning |")
    table = readme[start : readme.index("\n\n", start)]  # the whole table: no stale row after it
    assert table == settings_table()


def test_every_setting_says_what_it_is() -> None:
    unsaid = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert not unsaid, f"give {unsaid} a description (it is their line in .env.example and the README)"


def test_env_example_is_the_generated_one() -> None:
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == env_example()
