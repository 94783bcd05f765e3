"""`python -m drafty_bird COMMAND`: the server and the runbook's storage tools.

  python -m drafty_bird serve                         (the same as `python main.py`)
  python -m drafty_bird backup --to DIR [--keep N]
  python -m drafty_bird restore --from FILE [--force]
  python -m drafty_bird migrate-db --from sqlite:///data/db.sqlite --to postgresql://... [--resume]
backup and restore act on SCORE_DB_PATH (or --db); migrate-db is the PostgreSQL cut-over.
Without a command it prints usage and exits 64 (EX_USAGE): a bare `python -m drafty_bird`
typed to see the options must not bind 0.0.0.0:8080 and open /data/db.sqlite.
"""

import argparse
import sys
from pathlib import Path

from drafty_bird.usage import EX_USAGE, UsageParser


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Bar:
    """A progress bar on stderr: redrawn in place on a terminal, a line per 10% in a log."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        pct = 100 if total == 0 else done * 100 // total
        if not self.tty and pct // 10 == self.shown // 10 and done < total:
            return
        self.shown = pct
        bar = "#" * (pct // 4) + "." * (25 - pct // 4)
        end = "" if self.tty and done < total else "\n"
        print(f"\r[{bar}] {done:,}/{total:,} rows ({pct}%)", end=end, file=sys.stderr, flush=True)


def _migrate_db(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from drafty_bird.data.engine import PgOptions
    from drafty_bird.data.transfer import TransferError, transfer
    from drafty_bird.settings import SettingsError, load_settings

    # DATABASE_AUTH=entra: the PostgreSQL end authenticates as the managed identity, as the app does.
    pg_end = next((u for u in (args.target, args.source) if u.startswith("postgres")), None)
    try:
        entra = load_settings(database_url=pg_end, storage_fallback="memory").database_auth == "entra"
    except SettingsError as exc:
        _say(f"drafty-bird migrate-db: {exc}")
        return 2
    if entra:
        from drafty_bird.data.entra import process_password
    pg = PgOptions(statement_timeout_ms=600_000, password=process_password() if entra else None)
    try:
        report = transfer(args.source, args.target, resume=args.resume, batch_size=args.batch, progress=_Bar(), pg=pg)
    except TransferError as exc:
        _say(f"drafty-bird migrate-db: {exc}")
        return 1
    except SQLAlchemyError as exc:  # unreachable server, bad credentials, not a database
        _say(f"drafty-bird migrate-db: {str(getattr(exc, 'orig', exc) or exc).splitlines()[0]}")
        return 1
    _say(f"copied {report.copied:,} new rows; {report.target_rows:,} rows verified (sha256 {report.checksum[:16]}…)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = UsageParser(prog="python -m drafty_bird", description="Drafty Bird server and storage tools")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="serve the game on HOST:PORT with SCORE_DB_PATH (as `python main.py`)")
    b = sub.add_parser("backup", help="online, verified snapshot of the leaderboard file")
    b.add_argument("--to", required=True, type=Path, metavar="DIR")
    b.add_argument("--keep", type=int, default=None, help="backups to keep (default BACKUP_KEEP, 7)")
    b.add_argument("--db", type=Path, default=None, help="database file (default SCORE_DB_PATH)")
    r = sub.add_parser("restore", help="replace the leaderboard file with a backup")
    r.add_argument("--from", dest="source", required=True, type=Path, metavar="FILE")
    r.add_argument(
        "--force",
        action="store_true",
        help="restore even while another process holds the writer lease; a running server then goes"
        " not ready until restarted",
    )
    r.add_argument("--db", type=Path, default=None, help="database file (default SCORE_DB_PATH)")
    m = sub.add_parser("migrate-db", help="copy the leaderboard to another database (SQLite to PostgreSQL)")
    m.add_argument("--from", dest="source", required=True, metavar="URL", help="e.g. sqlite:////data/db.sqlite")
    m.add_argument("--to", dest="target", required=True, metavar="URL", help="e.g. postgresql://user@host/db")
    m.add_argument("--resume", action="store_true", help="continue into a target that already holds rows")
    m.add_argument("--batch", type=int, default=1000, help="rows per transaction (default 1000)")
    args = parser.parse_args(argv)

    if args.command is None:
        parser.print_help(sys.stderr)
        return EX_USAGE
    if args.command == "migrate-db":
        return _migrate_db(args)
    if args.command == "serve":
        from drafty_bird.app import serve

        serve()
        return 0

    # Imported here so `serve` does not pay for them, nor the tools for NiceGUI.
    from drafty_bird.data.backup import BackupError, backup, restore
    from drafty_bird.settings import Settings

    settings = Settings()
    db = args.db or settings.score_db_path
    try:
        if args.command == "backup":
            path = backup(db, args.to, args.keep or settings.backup_keep, progress=_say)
            print(path)
        else:
            kept = restore(args.source, db, force=args.force, ttl_s=settings.writer_lease_ttl_s, progress=_say)
            print(kept or "")
    except (BackupError, OSError) as exc:
        _say(f"drafty-bird {args.command}: {exc}")
        return 1
    return 0


if __name__ in {"__main__", "__mp_main__"}:
    raise SystemExit(main())
