"""From whatever the caller has (a path, bytes, a stream; gzip or not) to numbered, split rows.

Tolerates what real downloads carry: gzip, a UTF-8 BOM, Windows-1252 without a charset, CRLF, blank
lines and trailing tabs. Streams one line at a time. A last line cut short (no newline and fewer
cells than the header) is a truncated file, and so is a gzip stream that ends early.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from ml_connector.settlement.errors import NotASettlementReport, TruncatedReport

Source = str | Path | bytes | bytearray | BinaryIO
Opener = Callable[[], BinaryIO]

_GZIP_MAGIC = b"\x1f\x8b"


def opener_for(source: Source) -> tuple[BinaryIO, Opener | None]:
    """The binary stream to read now, and a way to open it again (None for a one-shot stream)."""
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise NotASettlementReport(f"{path}: no such file")

        def reopen() -> BinaryIO:
            return path.open("rb")

        return reopen(), reopen
    if isinstance(source, bytes | bytearray):
        data = bytes(source)

        def from_bytes() -> BinaryIO:
            return io.BytesIO(data)

        return from_bytes(), from_bytes
    if hasattr(source, "read"):
        return source, None
    raise TypeError(f"a settlement report is a path, bytes or a binary stream, not {type(source).__name__}")


def decompressed(stream: BinaryIO) -> BinaryIO:
    """The stream itself, or its gunzipped content when it starts with the gzip magic number."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(_Raw(stream))
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        return io.BufferedReader(gzip.GzipFile(fileobj=buffered, mode="rb"), buffer_size=1 << 16)
    return buffered


class _Raw(io.RawIOBase):
    """Lets BufferedReader (and its peek) sit on any object with read()."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        if isinstance(data, str):
            raise NotASettlementReport("the report must be opened in binary mode, not as text")
        buffer[: len(data)] = data
        return len(data)


def numbered_rows(stream: BinaryIO, width: list[int]) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows as (line number, cells), padded to ``width[0]`` cells (the header's width).

    ``width`` is a one-item list the caller fills once it has read the header (the first row).
    """
    line_no = 0
    try:
        for raw in stream:
            line_no += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("cp1252", errors="replace")  # Windows downloads carry no charset
            if line_no == 1 and text.startswith("\ufeff"):
                text = text[1:]
            text = text.rstrip("\r\n")
            if not text or text.isspace():
                continue
            cells = text.split("\t")
            missing = width[0] - len(cells)
            if missing > 0:
                if not raw.endswith(b"\n"):
                    raise TruncatedReport(
                        f"line {line_no} is cut short: it has {len(cells)} of the header's {width[0]} "
                        f"columns and the file ends without a line break; download the report again"
                    )
                cells.extend([""] * missing)  # an editor stripped trailing empty cells
            yield line_no, cells
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise TruncatedReport(
            f"the compressed report ends early after line {line_no} ({exc}); download the report again"
        ) from None
