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
from typing import BinaryIO, Literal

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
            try:
                return path.open("rb")
            except OSError as exc:
                raise NotASettlementReport(f"{path}: cannot read it ({exc.strerror})") from None

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


class LineSource:
    """The report's text lines, numbered. ``rows()`` is the general path; the reader's hot loop
    reads ``text`` directly and hands any unusual line to ``cells()``, keeping ``line_no`` true."""

    def __init__(self, stream: BinaryIO) -> None:
        # surrogateescape keeps undecodable bytes so that cells() can re-read the line as cp1252.
        self.text = io.TextIOWrapper(
            decompressed(stream), encoding="utf-8", errors="surrogateescape", newline=""
        )
        self.line_no = 0
        self.width = 0  # the header's number of columns, set by the reader once it has read it
        self.ends_with_line_break = True  # False once the file is seen to end mid-line

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Non-blank rows as (line number, cells), padded to the header's width."""
        with truncation_errors(self):
            raw = None
            for raw in self.text:
                self.line_no += 1
                cells = self.cells(raw)
                if cells is not None:
                    yield self.line_no, cells
            if raw is not None:
                self.ends_with_line_break = raw.endswith(("\n", "\r"))

    def cells(self, raw: str) -> list[str] | None:
        """One line as cells; None for a blank line. Raises TruncatedReport for a cut last line."""
        text = raw if raw.isascii() else _redecode(raw)
        if self.line_no == 1 and text.startswith("\ufeff"):
            text = text[1:]
        text = text.rstrip("\r\n")
        if not text or text.isspace():
            return None
        cells = text.split("\t")
        missing = self.width - len(cells)
        if missing > 0:
            if not raw.endswith(("\n", "\r")):
                raise TruncatedReport(
                    f"line {self.line_no} is cut short: it has {len(cells)} of the header's {self.width} "
                    f"columns and the file ends without a line break; download the report again"
                )
            cells.extend([""] * missing)  # an editor stripped trailing empty cells
        return cells


class truncation_errors:  # noqa: N801 - used as a context manager, reads as a clause
    """A gzip stream that ends early (or is corrupt) is a truncated report."""

    def __init__(self, source: LineSource) -> None:
        self.source = source

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> Literal[False]:
        if kind is not None and issubclass(kind, EOFError | gzip.BadGzipFile | zlib.error):
            raise TruncatedReport(
                f"the compressed report ends early after line {self.source.line_no} ({exc}); "
                f"download the report again"
            ) from None
        return False


def _redecode(text: str) -> str:
    """A line that was not valid UTF-8: Windows downloads come as cp1252 with no charset."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text  # valid UTF-8 with non-ASCII characters
    return text.encode("utf-8", "surrogateescape").decode("cp1252", errors="replace")
