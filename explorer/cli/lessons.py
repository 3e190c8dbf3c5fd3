"""``class``: commands for a teacher. ``class prepare [--lessons ID ...] [--json]`` computes every
calculation the chosen lessons need (explorer.analyses.lessons) on the Dask cluster
(explorer.runs.tasks, one task per lesson and functional) through the results store, so that the
class's sessions are served from the store; a second run computes nothing."""

from __future__ import annotations

import argparse
import time

from explorer.cli import common
from explorer.cli.common import Command


def _add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True)
    prepare = actions.add_parser(
        "prepare", help="compute every calculation of the chosen lessons (the store keeps them)"
    )
    prepare.add_argument("--lessons", nargs="+", metavar="ID", help="lesson ids (default: all lessons)")
    common.add_json_flag(
        prepare,
        'print one JSON object: {"lessons": [ids], "calculations": SCFs, "computed": n, "cached": m}',
    )


def run_prepare(args) -> dict:
    """Runs the chosen lessons' calculations as tasks, printing each SCF's outcome on stderr; returns
    {"lessons": [ids], "calculations", "computed", "cached" (SCF counts), "not_converged": [task
    labels of SCFs that did not converge: not stored, they would be computed again]}."""
    from explorer.analyses import lessons
    from explorer.runs import tasks
    from explorer.runs.store import ResultsStore

    chosen = lessons.chosen(lessons.load_lessons(), args.lessons)
    ResultsStore()  # a broken or locked database is reported before anything runs
    jobs, labels = [], []
    for lesson in chosen:
        batch = lessons.calls(lesson)
        names = [f"{lesson.id} / {call['functional']}" for call in batch]
        jobs += tasks.fan_out(lessons.run_calculation, batch, labels=names)
        labels += names
    common.progress_line(f"class prepare: {len(chosen)} lessons, {len(jobs)} tasks on the cluster")
    failed = []
    while True:
        for job in jobs:
            for event in tasks.drain(job):
                common.progress(event)
                if event.get("stage") == "NOT converged":
                    failed.append(event["task"])
        if all(job.done() for job in jobs):
            break
        time.sleep(0.2)
    try:
        results = [tasks.result(job) for job in jobs]
    finally:
        tasks.forget(jobs)
    return {"lessons": [lesson.id for lesson in chosen], **lessons.tally(results), "not_converged": failed}


def _print(out: dict) -> None:
    print(f"lessons: {', '.join(out['lessons'])}")
    counts = f"{out['computed']} computed now, {out['cached']} from the store"
    print(f"SCF calculations: {out['calculations']} ({counts})")
    for label in out["not_converged"]:
        print(f"NOT converged (not stored): {label}")


def _status(out: dict) -> int:
    """1 when an SCF did not converge (its lesson would compute it again), said on stderr."""
    if out["not_converged"]:
        common.progress_line(f"error: {len(out['not_converged'])} SCF calculations did not converge")
        return 1
    return 0


CLASS = Command(
    name="class",
    help="teacher tools: 'class prepare' computes the lessons' calculations ahead of a class",
    add_arguments=_add_arguments,
    run=run_prepare,
    print_human=_print,
    status=_status,
    json_help=None,
)
