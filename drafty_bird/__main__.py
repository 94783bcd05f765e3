"""`python -m drafty_bird` serves the game (the same as `python main.py`).

Subcommands for the runbook's backup and restore drill:
  python -m drafty_bird backup --to DIR [--keep N]
  python -m drafty_bird restore --from FILE [--force]
Both act on SCORE_DB_PATH (or --db).
"""

import argparse
import sys
from pathlib import Path


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drafty_bird", description="Drafty Bird server and storage tools")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the game (the default)")
    b = sub.add_parser("backup", help="online, verified snapshot of the leaderboard file")
    b.add_argument("--to", required=True, type=Path, metavar="DIR")
    b.add_argument("--keep", type=int, default=None, help="backups to keep (default BACKUP_KEEP, 7)")
    b.add_argument("--db", type=Path, default=None, help="database file (default SCORE_DB_PATH)")
    r = sub.add_parser("restore", help="replace the leaderboard file with a backup")
    r.add_argument("--from", dest="source", required=True, type=Path, metavar="FILE")
    r.add_argument("--force", action="store_true", help="restore even while another process holds the writer lease")
    r.add_argument("--db", type=Path, default=None, help="database file (default SCORE_DB_PATH)")
    args = parser.parse_args(argv)

    if args.command in (None, "serve"):
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
