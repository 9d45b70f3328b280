"""`python -m records migrate|backup FILE|restore FILE`: database chores that need no models (make migrate/backup).

The database is DATABASE_URL, else SQLite at instance/records.sqlite3.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from records.backup import backup, restore
from records.db import ROOT, default_url, migrate
from records.errors import RecordsError


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or default_url(ROOT / "instance")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m records", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="bring the database at DATABASE_URL up to date")
    commands.add_parser("backup", help="write a consistent copy to FILE").add_argument("file", type=Path)
    commands.add_parser("restore", help="load FILE into a fresh database").add_argument("file", type=Path)
    arguments = parser.parse_args(argv)
    url = database_url()
    try:
        if arguments.command == "migrate":
            print(f"records database at revision {migrate(url)}")
        elif arguments.command == "backup":
            print(f"backup written to {backup(url, arguments.file)}")
        else:
            restore(url, arguments.file)
            print(f"restored {arguments.file}")
    except RecordsError as error:
        print(f"{arguments.command} failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
