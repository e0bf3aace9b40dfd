"""The languages emails are written in (SPEC 15.3): which ship, where each one's template files
are, and which one a client's emails use."""

from __future__ import annotations

from pathlib import Path

# English is the language the templates are first written in: its files are at the top of a
# template folder, so a template added there is sent (in English) before it is translated.
# Every other shipped language has a complete set in the subfolder named by its code
# (tests/domain/test_email_languages.py fails while one misses a template).
BASE_LANGUAGE = "en"
LANGUAGES = ("en", "de")


def language_folder(base: Path, language: str) -> Path:
    """The folder of `language`'s templates under a template folder."""
    return base if language == BASE_LANGUAGE else base / language


def email_language(client_language: str | None, default_language: str) -> str:
    """The language of a client's emails: its own when shipped, else the installation's
    default (a client may choose a client-area language no email set is written in)."""
    return client_language if client_language in LANGUAGES else default_language
