"""Page languages: zh-CN first, English second. Messages are Babel catalogs (msgid in English)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = {"zh": "zh_CN", "en": "en"}
DEFAULT_LANGUAGE = "zh"


@lru_cache(maxsize=4)
def catalog(lang: str) -> dict[str, str]:
    """All catalogs of a language merged: one .po file per area of the platform (shell, auth, workflow…)."""
    locale = LANGUAGES.get(lang, LANGUAGES[DEFAULT_LANGUAGE])
    out: dict[str, str] = {}
    for path in sorted((TRANSLATIONS / locale / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            cat = read_po(fh, locale=locale)
        for message in cat:
            if message.id and isinstance(message.id, str) and message.string and not message.fuzzy:
                out[message.id] = str(message.string)
    return out


def gettext(lang: str, msgid: str, **params: object) -> str:
    text = catalog(lang).get(msgid, msgid)
    return text.format(**params) if params else text


def normalise(lang: str | None) -> str:
    if not lang:
        return DEFAULT_LANGUAGE
    lang = lang.lower()
    return "en" if lang.startswith("en") else "zh"
