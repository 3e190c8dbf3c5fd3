"""Command line: ``python -m explorer`` (or ``dm21-explorer``) with one of the COMMANDS.

Each command group is a module here holding its arguments, its run and its human-readable printing
(explorer.cli.common.Command); COMMANDS is the one table the parser and ``main`` are built from.
Every problem with the input ends the program with status 2 and one line on stderr naming it.
"""

from __future__ import annotations

import json
import sys

from explorer.cli import bench, compare, fractional, geometry, lessons, maps, scf, spin_states, weights
from explorer.cli.common import Command, Parser, add_json_flag
from explorer.errors import ExplorerError

#: The subcommands, in the order ``--help`` lists them.
COMMANDS: tuple[Command, ...] = (
    scf.SCF,
    compare.COMPARE,
    scf.EVALUATE,
    fractional.FRACTIONAL_CHARGE,
    fractional.FRACTIONAL_SPIN,
    fractional.SCAN,
    spin_states.SPIN_STATES,
    geometry.OPTIMIZE,
    geometry.FREQUENCIES,
    maps.DENSITY,
    maps.XC_MAP,
    bench.BENCH,
    geometry.BENCH_GEOMETRY,
    geometry.BENCH_GRADIENTS,
    lessons.CLASS,
    weights.WEIGHTS,
)


def build_parser() -> Parser:
    parser = Parser(prog="python -m explorer", description="DM21 Explorer command line")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help)
        command.add_arguments(p)
        if command.json_help is not None:
            add_json_flag(p, command.json_help)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status (0 ok, 2 bad input, 1 a failed calculation or
    check, 130 interrupted)."""
    try:
        args = build_parser().parse_args(argv)
        command = next(c for c in COMMANDS if c.name == args.command)
        out = command.run(args)
    except ExplorerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(out))
    else:
        command.print_human(out)
    return command.status(out)
