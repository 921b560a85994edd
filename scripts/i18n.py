"""Message catalog checks for the platform's pages (zh-CN first, English second).

Extracts every msgid used in the templates (`_("...")` in any `templates/**.html`) and in Python code
(`_("...")`, and `gettext(lang, "...")` of gongshu.web.i18n), then reports the msgids missing from the
merged zh_CN or en catalogs (every *.po under gongshu/web/translations/<locale>/LC_MESSAGES/).

    .venv/bin/python scripts/i18n.py check           # exit 1 when a msgid lacks a translation
    .venv/bin/python scripts/i18n.py pot -o x.pot    # write every msgid to a POT file
    .venv/bin/python scripts/i18n.py unused          # catalog entries no template or code uses
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gongshu"
TRANSLATIONS = PACKAGE / "web" / "translations"
LOCALES = ("zh_CN", "en")
KEYWORDS: dict[str, tuple[int, ...] | None] = {"_": None, "gettext": (2,)}
METHOD_MAP = [
    ("**/templates/**.html", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
]
OPTIONS = {"**/templates/**.html": {"silent": "false"}}


class Usage:
    """Where each msgid is used: relative path and line."""

    def __init__(self) -> None:
        self.places: dict[str, list[str]] = {}

    def add(self, msgid: str, where: str) -> None:
        self.places.setdefault(msgid, []).append(where)


def _messages(root: Path) -> Iterator[tuple[str, str]]:
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(root), METHOD_MAP, OPTIONS, keywords=KEYWORDS, comment_tags=()
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if isinstance(msgid, str) and msgid:
            yield msgid, f"{root.name}/{filename}:{lineno}"


def extract(root: Path = PACKAGE, *, templates_only: bool = False) -> Usage:
    """Every msgid used under `root` (templates, and Python unless `templates_only`)."""
    usage = Usage()
    for msgid, where in _messages(root):
        if templates_only and not where.rsplit(":", 1)[0].endswith(".html"):
            continue
        usage.add(msgid, where)
    return usage


def catalog(locale: str) -> dict[str, str]:
    """One locale's catalogs merged (as gongshu.web.i18n merges them), fuzzy entries left out."""
    out: dict[str, str] = {}
    for path in sorted((TRANSLATIONS / locale / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            for message in read_po(fh, locale=locale):
                if message.id and isinstance(message.id, str) and not message.fuzzy:
                    out[message.id] = str(message.string or "")
    return out


def missing(usage: Usage) -> dict[str, list[str]]:
    """Per locale: the msgids used but without a non-empty translation."""
    result: dict[str, list[str]] = {}
    for locale in LOCALES:
        known = catalog(locale)
        result[locale] = sorted(m for m in usage.places if not known.get(m, "").strip())
    return result


def placeholder_mismatches() -> list[str]:
    """Entries whose translation names other `{placeholders}` than the msgid (would fail at run time)."""
    import string

    def names(text: str) -> set[str]:
        try:
            return {f for _, f, _, _ in string.Formatter().parse(text) if f}
        except ValueError:
            return {"<malformed>"}

    bad = []
    for locale in LOCALES:
        for msgid, text in catalog(locale).items():
            if text and names(msgid) != names(text):
                bad.append(f"{locale}: {msgid!r} → {text!r}")
    return bad


def _check(templates_only: bool) -> int:
    usage = extract(templates_only=templates_only)
    gaps = missing(usage)
    status = 0
    for locale, ids in gaps.items():
        if ids:
            status = 1
            print(f"{locale}: {len(ids)} msgid(s) without a translation")
            for msgid in ids:
                print(f"  {msgid!r}  ({', '.join(usage.places[msgid][:3])})")
    for line in placeholder_mismatches():
        status = 1
        print(f"placeholders differ: {line}")
    if status == 0:
        print(f"ok: {len(usage.places)} msgids, all translated in {', '.join(LOCALES)}")
    return status


def _pot(out: Path) -> int:
    usage = extract()
    cat = Catalog(project="gongshu", charset="utf-8")
    for msgid, places in sorted(usage.places.items()):
        locs = [(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in places]
        cat.add(msgid, locations=locs)
    with out.open("wb") as fh:
        write_po(fh, cat, width=110)
    print(f"wrote {len(usage.places)} msgids to {out}")
    return 0


def _unused() -> int:
    used = set(extract().places)
    for locale in LOCALES:
        extra = sorted(set(catalog(locale)) - used)
        print(f"{locale}: {len(extra)} catalog entries not used")
        for msgid in extra:
            print(f"  {msgid!r}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="report msgids without a zh_CN or en translation")
    check.add_argument("--templates-only", action="store_true", help="only msgids used in templates")
    pot = sub.add_parser("pot", help="write all msgids to a POT file")
    pot.add_argument("-o", "--output", type=Path, default=Path("messages.pot"))
    sub.add_parser("unused", help="catalog entries that nothing uses")
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(args.templates_only)
    if args.command == "pot":
        return _pot(args.output)
    return _unused()


if __name__ == "__main__":
    sys.exit(main())
