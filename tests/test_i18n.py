"""Pages in two languages, zh-CN first and English second: every msgid used in a template or in page code
has a non-empty translation in both merged catalogs, and the Chinese and English pages differ."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from gongshu.web import i18n
from gongshu.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gongshu_i18n_tool", ROOT / "scripts" / "i18n.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return _tool()


def test_extraction_finds_template_and_code_msgids(tool: ModuleType) -> None:
    usage = tool.extract()
    assert any(p.endswith("base.html:6") for p in usage.places["Public Data Resource Platform"])
    assert "Figures as of {day}" in usage.places  # a call with a keyword argument
    assert any("pages/shell.py" in p for p in usage.places["Cases"])  # gettext(lang, "…") in page code
    templates_only = tool.extract(templates_only=True)
    assert "Cases" not in templates_only.places


def test_every_template_msgid_is_translated_in_zh_cn_and_en(tool: ModuleType) -> None:
    gaps = tool.missing(tool.extract(templates_only=True))
    assert gaps == {"zh_CN": [], "en": []}


def test_every_msgid_in_page_code_is_translated(tool: ModuleType) -> None:
    gaps = tool.missing(tool.extract())
    assert gaps == {"zh_CN": [], "en": []}


def test_translations_keep_their_placeholders(tool: ModuleType) -> None:
    assert tool.placeholder_mismatches() == []


def test_the_checker_reports_an_untranslated_msgid(tool: ModuleType, tmp_path: Path) -> None:
    pages = tmp_path / "area" / "templates"
    pages.mkdir(parents=True)
    (pages / "x.html").write_text(
        '<h1>{{ _("Home") }}</h1><p>{{ _("A sentence nobody translated", n=1) }}</p>'
    )
    usage = tool.extract(tmp_path)
    assert set(usage.places) == {"Home", "A sentence nobody translated"}
    assert tool.missing(usage) == {
        "zh_CN": ["A sentence nobody translated"],
        "en": ["A sentence nobody translated"],
    }


def test_shell_strings_in_both_languages() -> None:
    zh, en = i18n.catalog("zh"), i18n.catalog("en")
    expected = {
        "Public Data Resource Platform": "公共数据资源平台",
        "Home": "首页",
        "Inbox": "待办",
        "Notifications": "通知",
        "Log in": "登录",
        "Log out": "退出登录",
        "Register": "注册",
        "The request could not be completed": "请求未能完成",
    }
    for msgid, chinese in expected.items():
        assert zh[msgid] == chinese
        assert en[msgid] == msgid
    assert i18n.gettext("zh", "Figures as of {day}", day="2024-06-04") == "数据截至 2024-06-04"


def test_chinese_and_english_home_pages_differ(db_clean: str) -> None:
    client = TestClient(create_app())
    zh = client.get("/?lang=zh").text
    en = client.get("/?lang=en").text
    assert '<html lang="zh-CN">' in zh and '<html lang="en">' in en
    assert '<h1 data-testid="home-heading">公共数据资源平台</h1>' in zh
    assert '<h1 data-testid="home-heading">Public Data Resource Platform</h1>' in en
    assert "首页" in zh and ">Home<" in en and "首页" not in en
