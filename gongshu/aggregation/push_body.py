"""R7: a pushed body as received — its media type (JSON or NDJSON, UTF-8), read within the byte limit,
parsed strictly into a `PushBatch` (mode, records with their line or position, keys to delete). Malformed
input is a 4xx with its own code, before anything is stored: another media type 415
`push.unsupported_media_type`; not UTF-8, not JSON, NaN or Infinity `push.json_malformed`; nesting deeper
than `MAX_DEPTH` `push.json_too_deep`; a lone surrogate (`\\ud800`, which JSON allows and no database
stores) `push.invalid_character`, found when the batch's digest is taken."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from gongshu.aggregation.readers import JSON_MAX_DEPTH
from gongshu.kernel.config import get_settings
from gongshu.kernel.errors import GongshuError, ValidationFailed

JSON = "application/json"
NDJSON = "application/x-ndjson"
NDJSON_TYPES = (NDJSON, "application/jsonl")
"""R7: the media types of an NDJSON push (one JSON object a line)."""
MAX_DEPTH = JSON_MAX_DEPTH
"""R7: how deeply a pushed JSON text (a JSON body, an NDJSON line) may nest objects and lists — the same
limit as a JSON Lines file's record (`readers.JSON_MAX_DEPTH`): records are flat, and a value that is an
object or list is kept as its JSON text."""


def body_format(content_type: str | None) -> str:
    """R7: "json" for `application/json`, "ndjson" for `application/x-ndjson` or `application/jsonl`
    (UTF-8, the charset parameter if any saying so); anything else — text/plain, text/csv, a form, none —
    is a 415 `push.unsupported_media_type` naming the accepted types, before the body is read."""
    media, _, params = (content_type or "").partition(";")
    media = media.strip().lower()
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    kind = "json" if media == JSON else "ndjson" if media in NDJSON_TYPES else None
    if kind is None or charset not in ("", "utf-8", "utf8"):
        accepted = ", ".join((JSON, *NDJSON_TYPES))
        got = (content_type or "").strip()[:100]
        raise GongshuError(
            "push.unsupported_media_type",
            f"推送的请求体类型应为 {accepted}（UTF-8 编码），收到的是“{got or '未注明'}”",
            f"A push is sent as {accepted} (UTF-8); the request's Content-Type is {got or 'missing'}",
            status_code=415,
            details={"accepted": [JSON, *NDJSON_TYPES], "content_type": got or None},
        )
    return kind


async def read_body(request: Request) -> bytes:
    """R7: the request body, refused past the platform's byte limit (read in pieces, never whole first)."""
    limit = get_settings().push_max_bytes
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise GongshuError(
                "push.body_too_large",
                f"推送的请求体超过 {limit} 字节的上限",
                f"The pushed body exceeds the limit of {limit} bytes",
                status_code=413,
                details={"limit": limit},
            )
    return bytes(body)


@dataclass
class PushBatch:
    """R7: a pushed batch as received: its mode, records (with their line or position) and keys to
    delete."""

    mode: str
    records: list[tuple[int, dict[str, Any]]]
    delete: list[str] = field(default_factory=list)

    def digest(self) -> str:
        """The canonical digest of the batch (same content → same digest, whatever the format). Text that
        is not Unicode (a lone surrogate, `\\ud800`) is refused here, naming the record and field."""
        body = {"mode": self.mode, "records": [r for _, r in self.records], "delete": self.delete}
        text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        try:
            data = text.encode()
        except UnicodeEncodeError:
            raise self._not_unicode() from None
        return hashlib.sha256(data).hexdigest()

    def _not_unicode(self) -> ValidationFailed:
        """R7: where the batch holds a lone surrogate (JSON allows the escape; no database stores it)."""
        for n, rec in self.records:
            for name, value in rec.items():
                if not _unicode(name):
                    return _surrogate(f"第 {n} 条记录的字段名", f"a field name of record {n}", n, name)
                if not _unicode(json.dumps(value, ensure_ascii=False)):
                    return _surrogate(
                        f"第 {n} 条记录的字段 {_shown(name)} ", f"field {_shown(name)} of record {n}", n, name
                    )
        return _surrogate("delete 列表", "the `delete` list", None, None)


def _unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _shown(text: str) -> str:
    """A name as a message may quote it (a lone surrogate as its escape, at most 60 characters)."""
    return text.encode("utf-8", "backslashreplace").decode()[:60]


def _surrogate(where_zh: str, where_en: str, record: int | None, name: str | None) -> ValidationFailed:
    return ValidationFailed(
        "push.invalid_character",
        f"{where_zh}含有不成对的代理字符（如 \\ud800），不是有效的 Unicode 文本",
        f"{where_en} holds a lone surrogate (such as \\ud800), which is not valid Unicode text",
        details={"record": record, "field": _shown(name) if name is not None else None},
    )


def _malformed(zh: str, en: str, **details: Any) -> ValidationFailed:
    return ValidationFailed("push.json_malformed", zh, en, details=details)


def _check_mode(mode: Any) -> str:
    if mode not in ("full", "incremental"):
        raise ValidationFailed(
            "push.mode_invalid",
            "更新方式应为 full（全量）或 incremental（增量）",
            "Mode is full or incremental",
        )
    return str(mode)


def _check_delete(delete: Any) -> list[str]:
    if not isinstance(delete, list) or not all(isinstance(k, str | int) for k in delete):
        raise ValidationFailed(
            "push.delete_invalid", "delete 应为主键值的列表", "`delete` must be a list of key values"
        )
    return [str(k) for k in delete]


def _utf8(body: bytes) -> str:
    """R7: the body as text: UTF-8 (a leading BOM dropped), else a 422 naming the first bad byte."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _malformed(
            f"请求体不是 UTF-8 编码（第 {exc.start} 个字节处）",
            f"The body is not UTF-8 (at byte {exc.start})",
            byte=exc.start,
        ) from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _loads(text: str, *, line: int | None = None) -> Any:
    """R7: one JSON text, strictly (no NaN or Infinity), nesting at most `MAX_DEPTH` deep; a 422 naming
    the line (and column) of what is wrong."""
    where_zh = f"第 {line} 行" if line is not None else "请求体"
    where_en = f"Line {line}" if line is not None else "The body"
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        at_line = line if line is not None else exc.lineno
        raise _malformed(
            f"第 {at_line} 行第 {exc.colno} 列不是有效的 JSON：{exc.msg}",
            f"Line {at_line}, column {exc.colno} is not valid JSON: {exc.msg}",
            line=at_line,
            column=exc.colno,
        ) from exc
    except RecursionError:
        raise _too_deep(where_zh, where_en, line) from None
    except ValueError as exc:  # NaN, Infinity; an integer of more than 4300 digits
        raise _malformed(
            f"{where_zh}不是有效的 JSON：{exc}", f"{where_en} is not valid JSON: {exc}", line=line
        ) from exc
    if _depth(obj) > MAX_DEPTH:
        raise _too_deep(where_zh, where_en, line)
    return obj


def _depth(value: Any) -> int:
    """How deeply objects and lists nest in a parsed JSON value, measured iteratively (no recursion to
    exhaust) and only up to one level past `MAX_DEPTH`."""
    if not isinstance(value, dict | list):
        return 0
    deepest = 1
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, level + 1))
    return deepest


def _too_deep(where_zh: str, where_en: str, line: int | None) -> ValidationFailed:
    return ValidationFailed(
        "push.json_too_deep",
        f"{where_zh}中的对象或列表嵌套超过 {MAX_DEPTH} 层",
        f"{where_en} nests objects or lists more than {MAX_DEPTH} levels deep",
        details={"line": line, "max_depth": MAX_DEPTH},
    )


def parse_json(body: bytes) -> PushBatch:
    """R7: `{"mode": ..., "records": [...], "delete": [...]}`, UTF-8."""
    obj = _loads(_utf8(body))
    if not isinstance(obj, dict) or not isinstance(obj.get("records", []), list):
        raise ValidationFailed(
            "push.body_invalid",
            "请求体应为含 records 列表的 JSON 对象",
            "The body must be a JSON object with a `records` list",
        )
    records = obj.get("records", [])
    for n, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            raise _malformed(f"第 {n} 条记录不是 JSON 对象", f"Record {n} is not a JSON object", record=n)
    batch = PushBatch(
        _check_mode(obj.get("mode", "incremental")),
        list(enumerate(records, start=1)),
        _check_delete(obj.get("delete", [])),
    )
    return batch


def parse_ndjson(body: bytes, mode: str, delete: list[str]) -> PushBatch:
    """R7: one JSON object a line, lines ended by LF (a CR before it dropped) — only: U+2028, U+0085 and
    other characters `str.splitlines` would break at belong to the line's strings. The line number of a
    bad line is reported."""
    records: list[tuple[int, dict[str, Any]]] = []
    text = _utf8(body)
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        obj = _loads(line, line=n)
        if not isinstance(obj, dict):
            raise _malformed(f"第 {n} 行不是 JSON 对象", f"Line {n} is not a JSON object", line=n)
        records.append((n, obj))
    return PushBatch(_check_mode(mode), records, delete)
