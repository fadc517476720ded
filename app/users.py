"""Command line for users and API keys: ``python -m app.users COMMAND …`` (on the primary database).

Commands::

    add NAME [--admin]                 add a user (role viewer, or admin); asks for the password twice
                                       (or reads one line from standard input when it is not a terminal)
    password NAME                      set a new password (signs out the user's other sessions)
    remove NAME                        delete a user with their API keys and usage
    list                               users with role and last sign-in
    key-create OWNER LABEL [--tier pro] create an API key for user OWNER (tier free by default); prints it once
    key-revoke ID                      revoke an API key
    key-list                           keys with tier, owner, state and today's usage

Exit status 0 on success, 1 with a one-line message on stderr. Passwords are hashed with scrypt and keys stored
as SHA-256 (:mod:`app.auth.hashing`); neither is ever printed back.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy.exc import SQLAlchemyError

from app.auth.hashing import WeakPasswordError, hash_password
from app.auth.keys import issue_key, revoke
from db import accounts
from db.engine import get_engine
from settings import get_settings


def _password(prompt_twice: bool = True) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if prompt_twice and getpass.getpass("Password again: ") != first:
        raise ValueError("the passwords differ")
    return first


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.users", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="role admin (default: viewer)")
    sub.add_parser("password", help="set a user's password").add_argument("name")
    sub.add_parser("remove", help="delete a user, their keys and usage").add_argument("name")
    sub.add_parser("list", help="list users")
    create = sub.add_parser("key-create", help="create an API key")
    create.add_argument("owner")
    create.add_argument("label")
    create.add_argument("--tier", choices=accounts.TIERS, default="free")
    sub.add_parser("key-revoke", help="revoke an API key").add_argument("id", type=int)
    sub.add_parser("key-list", help="list API keys")
    return parser


def _run(args, conn) -> str:  # noqa: PLR0911 - one branch per command
    if args.command == "add":
        user = accounts.add_user(conn, args.name, hash_password(_password()), "admin" if args.admin else "viewer")
        return f"added {user.name} ({user.role})"
    if args.command == "password":
        if not accounts.set_password(conn, args.name, hash_password(_password())):
            raise ValueError(f"no user {args.name!r}")
        return f"password of {args.name.lower()} changed"
    if args.command == "remove":
        if not accounts.delete_user(conn, args.name):
            raise ValueError(f"no user {args.name!r}")
        return f"removed {args.name.lower()} with their keys"
    if args.command == "list":
        return "\n".join(f"{u.name}\t{u.role}\tlast sign-in {u.last_signin_at or 'never'}"
                         for u in accounts.list_users(conn)) or "no users"  # fmt: skip
    if args.command == "key-create":
        key, key_id = issue_key(conn, args.owner, args.label, args.tier)
        return f"key {key_id} ({args.tier}) for {args.owner.lower()}; shown once, store it now:\n{key}"
    if args.command == "key-revoke":
        if not revoke(conn, args.id):
            raise ValueError(f"no valid key {args.id}")
        return f"key {args.id} revoked"
    keys = accounts.list_keys(conn, datetime.now(UTC).date())
    return (
        "\n".join(
            f"{r.id}\t{r.prefix}…\t{r.tier}\t{r.user_name}\t{'revoked' if pd.notna(r.revoked_at) else 'valid'}"
            f"\t{r.today} today\t{r.label}"
            for r in keys.itertuples()
        )
        or "no keys"
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (module docstring)."""
    args = _parser().parse_args(argv)
    try:
        with get_engine(get_settings().database_url_for("app")).begin() as conn:
            print(_run(args, conn))
    except (ValueError, WeakPasswordError, accounts.UserExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"error: database: {str(exc).splitlines()[0]} (is it migrated? make run does it)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
