"""R7: decoding of the files departments aggregate — UTF-8, UTF-8 with BOM, GBK and GB18030; a file in
UTF-16 or UTF-32 is told by its byte order mark — with an incremental decoder that reports the byte offset
of invalid input and refuses a line that is too long (LF, CR LF or CR alone ends a line)."""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from gongshu.kernel.errors import ValidationFailed

BATCH_ROWS = 50_000
CSV_BLOCK = 4 << 20
LINE_CAP = 16 << 20
SAMPLE = 64 << 10
ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "gbk": "gbk",
    "gb2312": "gbk",
    "gb18030": "gb18030",
}
FORMATS = ("csv", "xlsx", "jsonl", "parquet")
_LINE_END = re.compile(r"\r\n?|\n")


def ingest_error(code: str, zh: str, en: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(code, zh, en, details=details)


RowNumbers = npt.NDArray[np.int64]


@dataclass
class Source:
    """Each chunk comes with the source row number of each of its rows (CSV and XLSX: the header is row 1;
    JSON Lines: the line; Parquet: the row from 1). Blank lines of a CSV are not counted.
    An opened file: its columns (as in the header), encoding, and a stream of (rows, first row number)."""

    columns: list[str]
    encoding: str
    format: str
    chunks: Iterator[tuple[pa.RecordBatch, RowNumbers]]


# Byte order marks of the encodings a department's tool may save in but the platform does not read: the
# UTF-32 marks first (UTF-32 LE's begins with UTF-16 LE's). No supported encoding starts with these bytes.
WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32", "ingest.utf32_unsupported"),
    (codecs.BOM_UTF32_BE, "UTF-32", "ingest.utf32_unsupported"),
    (codecs.BOM_UTF16_LE, "UTF-16", "ingest.utf16_unsupported"),
    (codecs.BOM_UTF16_BE, "UTF-16", "ingest.utf16_unsupported"),
)


def refuse_wide_unicode(sample: bytes) -> None:
    """R7: a file saved as UTF-16 or UTF-32 (Excel's "Unicode text", Windows Notepad's "Unicode") is told
    as such — not as undecodable bytes of the guessed encoding — with what to do."""
    for bom, name, code in WIDE_BOMS:
        if sample.startswith(bom):
            raise ingest_error(
                code,
                f"文件是 {name} 编码（以字节顺序标记开头），平台不支持：请另存为 UTF-8 编码后重新上传",
                f"The file is encoded in {name} (it starts with a byte order mark), which is not supported: "
                "save it as UTF-8 and upload it again",
                encoding=name.lower(),
            )


def detect_encoding(sample: bytes) -> str:
    """R7: BOM → utf-8-sig; a sample that decodes as strict UTF-8 → utf-8; otherwise GB18030 (a superset
    of GBK and GB2312)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


class Transcoder(io.RawIOBase):
    """Decodes the input incrementally (strict) and hands UTF-8 on; reports the byte offset of invalid
    input, and refuses a line longer than LINE_CAP."""

    def __init__(self, raw: BinaryIO, encoding: str, chunk: int = 1 << 20) -> None:
        self.raw, self.encoding, self.chunk = raw, encoding, chunk
        self.decoder = codecs.getincrementaldecoder(encoding)("strict")
        self.offset = 0
        self.line = 0
        self.pending = b""
        self.done = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        data = self.raw.read(self.chunk)
        held = len(self.decoder.getstate()[0])
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            at = self.offset - held + max(exc.start, 0)
            raise ingest_error(
                "ingest.invalid_encoding",
                f"文件不是有效的 {self.encoding} 编码：第 {at} 字节处无法解码",
                f"The file is not valid {self.encoding}: undecodable bytes at byte offset {at}",
                encoding=self.encoding,
                byte_offset=at,
            ) from exc
        self.offset += len(data)
        if self.line + len(text) > LINE_CAP:  # only then can a line be too long: look closer
            parts = _LINE_END.split(text)
            longest = max([self.line + len(parts[0]), *(len(p) for p in parts[1:])])  # one part: no newline
            if longest > LINE_CAP:
                raise ingest_error(
                    "ingest.line_too_long",
                    f"文件中有超过 {LINE_CAP} 个字符的行（约第 {self.offset} 字节处）",
                    f"A line is longer than {LINE_CAP} characters (near byte offset {self.offset})",
                    limit=LINE_CAP,
                    byte_offset=self.offset,
                )
            self.line = len(parts[-1])
        else:
            last = max(text.rfind("\n"), text.rfind("\r"))  # CR alone ends a line too (old Mac files)
            self.line = len(text) - last - 1 if last >= 0 else self.line + len(text)
        self.pending += text.encode("utf-8")
        self.done = not data

    def readinto(self, buf: Any) -> int:
        while not self.pending and not self.done:
            self._fill()
        n = min(len(buf), len(self.pending))
        buf[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def open_bytes(path: Path, encoding: str | None) -> tuple[BinaryIO, str]:
    fh = path.open("rb")
    sample = fh.read(SAMPLE)
    if not sample.strip():
        fh.close()
        raise ingest_error("ingest.empty_file", "文件为空", "The file is empty")
    try:
        refuse_wide_unicode(sample)
    except ValidationFailed:
        fh.close()
        raise
    fh.seek(0)
    if encoding:
        enc = ENCODINGS.get(encoding.lower())
        if enc is None:
            fh.close()
            raise ingest_error(
                "ingest.encoding_unknown", f"不支持的编码：{encoding}", f"Unsupported encoding: {encoding}"
            )
        return fh, enc
    return fh, detect_encoding(sample)
