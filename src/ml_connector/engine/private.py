"""Every file ml-connector writes that holds data is the user's alone: files 0600, directories 0700.

The store holds credentials (encrypted), buyer data and the ledger's history; the config file can
hold a database password; the key file unlocks the vault. Files are created private from the start
(never world-readable, not even briefly); a file or directory that already exists with wider modes is
tightened when it is the user's own. A shared directory (sticky, like /tmp) or the user's home
directory is never changed. SQLite creates its -wal and -shm files with the database file's mode,
so a private database file keeps them private too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) 0700, or tighten it when it exists; returns it."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600, or tighten an existing one; its directory must exist."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, 0600 from the first byte."""
    if not path.parent.exists():
        private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        _tighten_fd(fd)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def private_sqlite(url: str) -> None:
    """Make the database file of a SQLite ``url`` (and any -wal/-shm/-journal beside it) 0600 before
    SQLite opens it; other databases and in-memory SQLite are left alone."""
    path = sqlite_path(url)
    if path is None or not path.parent.is_dir() or path.is_dir():
        return  # SQLite itself says what is wrong with the path
    private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            _tighten(side, FILE_MODE)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None (not SQLite, in memory, or a ``file:`` URI)."""
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def mode(path: Path) -> int:
    """The permission bits of ``path`` (what the tests compare with 0o600 / 0o700)."""
    return stat.S_IMODE(path.stat().st_mode)


def _ours_to_change(path: Path) -> os.stat_result | None:
    st = path.stat()
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return None  # not ours: never change another user's (or root's) modes
    if stat.S_ISDIR(st.st_mode) and (st.st_mode & stat.S_ISVTX or path.resolve() == Path.home().resolve()):
        return None  # a shared sticky directory, or the user's own home
    return st


def _tighten(path: Path, wanted: int) -> None:
    st = _ours_to_change(path)
    if st is not None and stat.S_IMODE(st.st_mode) & ~wanted:
        os.chmod(path, stat.S_IMODE(st.st_mode) & wanted)


def _tighten_fd(fd: int) -> None:
    st = os.fstat(fd)
    if (not hasattr(os, "getuid") or st.st_uid == os.getuid()) and stat.S_IMODE(st.st_mode) & ~FILE_MODE:
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & FILE_MODE)
