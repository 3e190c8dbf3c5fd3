"""``weights``: find, verify or download the DM21 checkpoints."""

from __future__ import annotations

from explorer.cli import common


def _arguments(p) -> None:
    actions = p.add_subparsers(dest="action", required=True, parser_class=common.Parser)
    d = actions.add_parser("download", help="fetch the checkpoints into the cache, verifying checksums")
    d.add_argument("--dest", help="target folder (default: the user cache)")
    d.add_argument("--url", help="base URL (default: the official repository at the pinned commit)")
    common.add_json_flag(d)
    st = actions.add_parser("status", help="where each checkpoint is and whether it verifies")
    common.add_json_flag(st)


def run(args) -> dict:
    from pathlib import Path

    from explorer.engine import weights

    if args.action == "download":
        dest = Path(args.dest) if args.dest else None
        root = weights.download(dest, args.url, progress=common.progress_line)
        return {"downloaded_to": str(root), "status": weights.status()}
    return {"status": weights.status()}


def print_human(out: dict) -> None:
    for row in out["status"]:
        state = "ok" if row["ok"] else f"PROBLEM: {row['error']}"
        print(f"{row['name']:<7} {row['path'] or '-'}  {state}")


def status(out: dict) -> int:
    """1 if any checkpoint is missing or does not verify."""
    return 0 if all(row["ok"] for row in out["status"]) else 1


WEIGHTS = common.Command(
    "weights",
    "find, verify or download the DM21 checkpoints",
    _arguments,
    run,
    print_human,
    status,
    json_help=None,  # each action has its own --json
)
