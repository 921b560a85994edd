"""R30 R5: where a YAML or JSON file the operator uploads (a policy, a holiday notice) fails to parse,
told in Chinese — the parser's own English text goes only into the English message."""

from __future__ import annotations

import json

import yaml


def parse_error_zh(exc: Exception, text: str = "") -> str:
    """The place of a YAML or JSON syntax error in `text` as 第 L 行第 C 列 (1-based), or a general
    phrase when the parser does not tell it."""
    if isinstance(exc, json.JSONDecodeError):
        return f"第 {exc.lineno} 行第 {exc.colno} 列语法错误"
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow, by its offset
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"第 {line} 行第 {column} 列含有不允许的字符（U+{char:04X}）"
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if isinstance(exc, yaml.YAMLError) and mark is not None:
        return f"第 {mark.line + 1} 行第 {mark.column + 1} 列语法错误"
    return "语法错误"


def parse_error_en(exc: Exception) -> str:
    """The parser's own first line of text."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
