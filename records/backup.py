"""Consistent copies of the records database: SQLite's online backup, pg_dump/psql for PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from records.errors import RecordsError


class BackupError(RecordsError):
    code = "backup_failed"


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as pg_dump and psql take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def backup(url: str, target: Path) -> Path:
    """Write a consistent copy of the database at ``url`` to ``target`` (taken while the service runs)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    path = _sqlite_path(url)
    if path is not None:
        if not path.exists():
            raise BackupError(f"no database at {path}")
        with sqlite3.connect(path) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
        copy.close()
        source.close()
        return target
    command = [_tool("pg_dump"), "--no-owner", "--no-privileges", "--format=plain", "--file", str(target)]
    completed = subprocess.run([*command, libpq_url(url)], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BackupError(f"pg_dump failed: {completed.stderr.strip()[-500:]}")
    return target


def restore(url: str, source: Path) -> None:
    """Load a backup into the (fresh, empty) database at ``url``."""
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source) as copy, sqlite3.connect(path) as target:
            copy.backup(target)
        copy.close()
        target.close()
        return
    command = [_tool("psql"), "--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
    completed = subprocess.run(
        [*command, "--file", str(source), libpq_url(url)], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise BackupError(f"psql failed (restore into an empty database): {completed.stderr.strip()[-500:]}")
