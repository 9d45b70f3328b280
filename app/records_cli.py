"""`flask --app wsgi records ...`: users, migration, key rotation, backup and restore."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.records_extension import database_url
from records import accounts
from records.backup import backup, restore
from records.crypto import PhotoCipher
from records.db import make_engine, migrate, session_factory
from records.errors import RecordsError
from records.keys import rotate_key

records_cli = AppGroup("records", help="Patient records: users, database, keys.")


def init_app(app: Flask) -> None:
    app.cli.add_command(records_cli)


def _session():
    return session_factory(make_engine(database_url(current_app)))()


def _read_secret(prompt: str) -> str:
    """One line from standard input (a prompt without echo when it is a terminal)."""
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True)
    return sys.stdin.readline().rstrip("\r\n")


def _fail(error: RecordsError) -> None:
    raise click.ClickException(str(error))


@records_cli.command("create-user")
@click.argument("email")
@click.option("--clinic", required=True, help="The clinic (created the first time its name is used).")
@click.option("--admin", is_flag=True, help="A clinic admin (may read the clinic's audit trail).")
def create_user(email: str, clinic: str, admin: bool) -> None:
    """Create a user; the password is read from standard input."""
    password = _read_secret("Password")
    with _session() as session:
        try:
            user = accounts.create_user(session, email, password, clinic, admin)
        except RecordsError as error:
            _fail(error)
        session.commit()
        click.echo(f"created {'admin ' if admin else ''}user {user.email} of clinic {clinic!r}")


@records_cli.command("disable-user")
@click.argument("email")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
def disable_user(email: str, enable: bool) -> None:
    """Disable a user: their sessions and API tokens stop working at once."""
    with _session() as session:
        try:
            user = accounts.set_disabled(session, email, disabled=not enable)
        except RecordsError as error:
            _fail(error)
        session.commit()
        click.echo(f"{'enabled' if enable else 'disabled'} {user.email}")


@records_cli.command("migrate")
def migrate_command() -> None:
    """Bring the database at DATABASE_URL up to date."""
    click.echo(f"records database at revision {migrate(database_url(current_app))}")


@records_cli.command("rotate-key")
def rotate_key_command() -> None:
    """Re-encrypt every photo under a new key read from standard input; then set LESION_RECORDS_KEY to it."""
    try:
        old = PhotoCipher.from_setting(str(current_app.config.get("RECORDS_KEY") or ""))
        new = PhotoCipher.from_setting(_read_secret("New key"))
        with _session() as session:
            count = rotate_key(session, old, new)
    except RecordsError as error:
        _fail(error)
    click.echo(f"re-encrypted {count} photos; now set LESION_RECORDS_KEY to the new key and restart")


@records_cli.command("backup")
@click.argument("target", type=click.Path(path_type=Path))
def backup_command(target: Path) -> None:
    """Write a consistent copy of the database to TARGET."""
    try:
        click.echo(f"backup written to {backup(database_url(current_app), target)}")
    except RecordsError as error:
        _fail(error)


@records_cli.command("restore")
@click.argument("source", type=click.Path(path_type=Path))
def restore_command(source: Path) -> None:
    """Load a backup into the (fresh, empty) database at DATABASE_URL."""
    try:
        restore(database_url(current_app), source)
    except RecordsError as error:
        _fail(error)
    click.echo(f"restored {source}")
