"""Guided lessons: one TOML file per lesson in this folder, read and checked here, and the one
calculation function every lesson runs through (on a Dask worker, in the CLI or in a test).

A lesson file (``<id>.toml``; a teacher writes one without Python) holds:

* ``title``, ``order`` (its place in the list), ``goal``, ``background``;
* the prediction: ``question``, ``choices`` (two to six strings) and ``answer`` (one of them);
* the reveal: ``explanation`` and ``look_at`` (what to look at in the plot);
* ``[[follow_ups]]``: one or two tables with ``question`` and ``answer`` (the answer goes to the key);
* ``[calculation]``: ``analysis`` (one of ANALYSES), ``basis``, ``functionals`` (one to
  MAX_FUNCTIONALS names of explorer.functionals) and what the analysis needs:
  ``molecule`` (a library name) and ``points`` for "fractional-charge" and "fractional-spin";
  ``preset`` (explorer.analyses.fractional.DISSOCIATION_PRESETS) and ``values`` (bond lengths,
  Angstrom) for "scan"; ``preset`` (explorer.analyses.spin_states.PRESETS) for "spin-states";
  ``molecule`` and ``atoms`` (two atom numbers, from 1, of the line) for "density-profile".

Every calculation is small (basis functions at most MAX_BASIS, points at most MAX_POINTS), goes
through the results store, and is split into one task per functional (``calls``), so a class that
ran ``python -m explorer class prepare`` first is served from the store.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Callable
from pathlib import Path

from explorer.analyses import fractional, maps, spin_states
from explorer.chem.molecules import from_library
from explorer.errors import ExplorerError, InputError
from explorer.functionals import resolve
from explorer.runs.cached import OUTCOMES, run_scf_reporting

#: The folder of the lesson files shipped with the package.
FOLDER = Path(__file__).resolve().parent

ANALYSES = ("fractional-charge", "fractional-spin", "scan", "spin-states", "density-profile")
#: Limits that keep every lesson's calculation to seconds per SCF on a 2-core machine.
MAX_BASIS = 40
MAX_POINTS = 9
MAX_FUNCTIONALS = 3

_TEXT = ("title", "goal", "background", "question", "answer", "explanation", "look_at")
_KEYS = {*_TEXT, "order", "choices", "follow_ups", "calculation"}
#: Keys each analysis needs beside "analysis", "basis" and "functionals".
_NEEDS = {
    "fractional-charge": {"molecule", "points"},
    "fractional-spin": {"molecule", "points"},
    "scan": {"preset", "values"},
    "spin-states": {"preset"},
    "density-profile": {"molecule", "atoms"},
}


@dataclasses.dataclass(frozen=True)
class Lesson:
    """One lesson, as its file gives it (see the module docstring); ``id`` is the file's stem."""

    id: str
    title: str
    order: int
    goal: str
    background: str
    question: str
    choices: tuple[str, ...]
    answer: str
    explanation: str
    look_at: str
    follow_ups: tuple[dict, ...]
    calculation: dict

    def is_right(self, choice: str | None) -> bool:
        """True when ``choice`` is the lesson's answer."""
        return choice == self.answer

    @property
    def functionals(self) -> list[str]:
        return list(self.calculation["functionals"])


def _problem(lesson_id: str, text: str) -> InputError:
    return InputError(f"lesson {lesson_id!r}: {text}")


def parse_lesson(lesson_id: str, data: dict) -> Lesson:
    """A Lesson from the parsed TOML ``data``; InputError naming the lesson and the first problem:
    a missing or unknown key, an empty text, an answer that is not one of the choices, or a
    calculation that cannot run (``check_calculation``)."""
    unknown = set(data) - _KEYS
    if unknown:
        raise _problem(lesson_id, f"unknown keys {sorted(unknown)}")
    missing = _KEYS - set(data)
    if missing:
        raise _problem(lesson_id, f"missing keys {sorted(missing)}")
    for key in _TEXT:
        if not isinstance(data[key], str) or not data[key].strip():
            raise _problem(lesson_id, f"{key} must be a non-empty string")
    if not isinstance(data["order"], int):
        raise _problem(lesson_id, "order must be an integer")
    choices = data["choices"]
    if not (isinstance(choices, list) and 2 <= len(choices) <= 6):
        raise _problem(lesson_id, "choices must be a list of 2 to 6 strings")
    if not all(isinstance(c, str) and c.strip() for c in choices) or len(set(choices)) != len(choices):
        raise _problem(lesson_id, "choices must be different non-empty strings")
    if data["answer"] not in choices:
        raise _problem(lesson_id, f"the answer {data['answer']!r} is not one of the choices")
    follow_ups = data["follow_ups"]
    if not (isinstance(follow_ups, list) and 1 <= len(follow_ups) <= 2):
        raise _problem(lesson_id, "follow_ups must be one or two [[follow_ups]] tables")
    for item in follow_ups:
        if not isinstance(item, dict) or set(item) != {"question", "answer"}:
            raise _problem(lesson_id, "each follow-up needs exactly a question and an answer")
        if not all(isinstance(v, str) and v.strip() for v in item.values()):
            raise _problem(lesson_id, "a follow-up's question and answer must be non-empty strings")
    calculation = check_calculation(lesson_id, data["calculation"])
    texts = {key: data[key].strip() for key in _TEXT}
    return Lesson(
        id=lesson_id,
        order=data["order"],
        choices=tuple(c.strip() for c in choices),
        follow_ups=tuple({k: v.strip() for k, v in item.items()} for item in follow_ups),
        calculation=calculation,
        **{**texts, "answer": data["answer"].strip()},
    )


def molecule_of(calculation: dict):
    """The molecule of a "fractional-*", "density-profile" or "spin-states" calculation, in its basis
    (for a scan, its first geometry)."""
    analysis, basis = calculation["analysis"], calculation["basis"]
    if analysis == "spin-states":
        return spin_states.PRESETS[calculation["preset"]].molecule(basis)
    if analysis == "scan":
        preset = fractional.DISSOCIATION_PRESETS[calculation["preset"]]
        first = calculation["values"][:1]
        charge, spin = preset["charge"], preset["spin"]
        return fractional.scan_geometries(preset["template"], first, charge=charge, spin=spin, basis=basis)[0]
    return from_library(calculation["molecule"], basis)


def check_calculation(lesson_id: str, calculation) -> dict:
    """The ``[calculation]`` table checked (InputError naming the problem): a known analysis with
    exactly the keys it needs, functional names that resolve (returned as the registry spells them),
    a library molecule or preset that exists, at most MAX_BASIS basis functions and MAX_POINTS
    points or bond lengths."""
    if not isinstance(calculation, dict) or calculation.get("analysis") not in ANALYSES:
        raise _problem(lesson_id, f"calculation.analysis must be one of {', '.join(ANALYSES)}")
    analysis = calculation["analysis"]
    expected = {"analysis", "basis", "functionals"} | _NEEDS[analysis]
    if set(calculation) != expected:
        raise _problem(lesson_id, f"a {analysis} calculation needs exactly the keys {sorted(expected)}")
    names = calculation["functionals"]
    if not (isinstance(names, list) and 1 <= len(names) <= MAX_FUNCTIONALS):
        raise _problem(lesson_id, f"calculation.functionals must list 1 to {MAX_FUNCTIONALS} functionals")
    try:
        checked = {**calculation, "functionals": [resolve(n).name for n in names]}
        if "points" in checked and not (
            type(checked["points"]) is int and 3 <= checked["points"] <= MAX_POINTS
        ):
            raise InputError(f"calculation.points must be an integer from 3 to {MAX_POINTS}")
        if analysis == "scan":
            if checked["preset"] not in fractional.DISSOCIATION_PRESETS:
                raise InputError(f"unknown dissociation preset {checked['preset']!r}")
            values = checked["values"]
            if not (isinstance(values, list) and 2 <= len(values) <= MAX_POINTS):
                raise InputError(f"calculation.values must list 2 to {MAX_POINTS} bond lengths")
            checked["values"] = [float(v) for v in values]
        if analysis == "spin-states" and checked["preset"] not in spin_states.PRESETS:
            raise InputError(f"unknown spin-state preset {checked['preset']!r}")
        molecule = molecule_of(checked)
        if analysis == "density-profile":
            atoms = checked["atoms"]
            n = len(molecule.atoms)
            numbers = isinstance(atoms, list) and all(isinstance(a, int) and 1 <= a <= n for a in atoms)
            if not (numbers and len(atoms) == 2 and atoms[0] != atoms[1]):
                raise InputError(f"calculation.atoms must be two different atom numbers from 1 to {n}")
        n_basis = molecule.to_pyscf().nao_nr()
    except (ExplorerError, KeyError, TypeError, ValueError) as err:
        raise _problem(lesson_id, str(err).strip("'\"")) from None
    if n_basis > MAX_BASIS:
        raise _problem(lesson_id, f"{n_basis} basis functions: a lesson allows at most {MAX_BASIS}")
    return checked


def load_lessons(folder: Path | str | None = None) -> dict[str, Lesson]:
    """Every lesson of ``folder`` (default: the package's own), by id, in their ``order``;
    InputError for a file that does not parse or check."""
    lessons = []
    for path in sorted(Path(folder or FOLDER).glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"lesson file {path.name}: {err}") from None
        lessons.append(parse_lesson(path.stem, data))
    return {lesson.id: lesson for lesson in sorted(lessons, key=lambda x: (x.order, x.id))}


def chosen(lessons: dict[str, Lesson], ids: list[str] | None) -> list[Lesson]:
    """The lessons named by ``ids`` (all for None or empty), in the order given; InputError naming
    an unknown id."""
    if not ids:
        return list(lessons.values())
    unknown = [i for i in ids if i not in lessons]
    if unknown:
        raise InputError(f"unknown lesson {unknown[0]!r}; lessons: {', '.join(lessons)}")
    return [lessons[i] for i in dict.fromkeys(ids)]


# --- the calculation --------------------------------------------------------------------------


def calls(lesson: Lesson) -> list[dict]:
    """The keyword arguments of ``run_calculation`` for ``lesson``: one call per functional, to run
    as independent tasks (explorer.runs.tasks.fan_out), in the order of the lesson's functionals."""
    request = {k: v for k, v in lesson.calculation.items() if k != "functionals"}
    return [{"calculation": request, "functional": f} for f in lesson.functionals]


class _Counter:
    """A progress function that counts the SCF outcomes it hears ("from the store": cached; "done"
    or "NOT converged": computed) and passes every message on; it keeps the ``check`` of the
    progress function it wraps (a task's reporter), so that waiting stays cancellable."""

    def __init__(self, progress: Callable[[dict], None] | None):
        self.progress = progress
        self.cached = self.computed = 0
        if hasattr(progress, "check"):
            self.check = progress.check

    def __call__(self, message: dict) -> None:
        stage = message.get("stage")
        if stage in OUTCOMES:
            if stage == "from the store":
                self.cached += 1
            else:
                self.computed += 1
        if self.progress is not None:
            self.progress(message)


def run_calculation(calculation: dict, functional: str, *, store, progress=None) -> dict:
    """One functional's part of a lesson's calculation (``calls`` gives the arguments), every SCF
    through ``store``. Returns {"analysis", "functional", "scf_computed", "scf_cached" (counts of
    SCFs computed now and served from the store)} and the analysis's data: "points" (fractional
    curves, scans: the dicts of explorer.analyses.fractional, energies in Hartree), "states"
    (explorer.analyses.spin_states.spin_states), or for "density-profile" "x" (Angstrom along the
    line from its first atom), "rho" (total density, electrons/bohr^3; None unless the SCF
    converged), "converged", "energy" (Hartree) and "atoms" [{"symbol", "x"}] (the line's two nuclei)."""
    counter = _Counter(progress)
    analysis, basis = calculation["analysis"], calculation["basis"]
    out = {"analysis": analysis, "functional": resolve(functional).name}
    if analysis in ("fractional-charge", "fractional-spin"):
        curve = (
            fractional.fractional_charge if analysis == "fractional-charge" else fractional.fractional_spin
        )
        molecule = from_library(calculation["molecule"], basis)
        out["points"] = curve(molecule, functional, store, points=calculation["points"], progress=counter)
    elif analysis == "scan":
        preset = fractional.DISSOCIATION_PRESETS[calculation["preset"]]
        out["points"] = fractional.scan(
            preset["template"], calculation["values"], functional, store, charge=preset["charge"],
            spin=preset["spin"], basis=basis, kind=preset["kind"], name=calculation["preset"],
            progress=counter,
        )  # fmt: skip
    elif analysis == "spin-states":
        preset = spin_states.PRESETS[calculation["preset"]]
        out["states"] = spin_states.spin_states(
            preset.molecule(basis), functional, preset.spins, store, progress=counter
        )
    else:
        molecule = from_library(calculation["molecule"], basis)
        task = f"{out['functional']}: {molecule.name}"
        result, _ = run_scf_reporting(molecule, functional, store, task, counter)
        mol = molecule.to_pyscf()
        i, j = (a - 1 for a in calculation["atoms"])
        points, x = maps.bond_line(mol, i, j)
        rho = None
        if result.converged:
            rho_a, rho_b = maps.density_on_points(mol, result.dm, points)
            rho = (rho_a + rho_b).tolist()
        length = math.dist(molecule.atoms[i][1], molecule.atoms[j][1])
        ends = [{"symbol": molecule.atoms[i][0], "x": 0.0}, {"symbol": molecule.atoms[j][0], "x": length}]
        energy = result.energy if result.converged else None
        out |= {"x": x.tolist(), "rho": rho, "converged": result.converged, "energy": energy, "atoms": ends}
    return out | {"scf_computed": counter.computed, "scf_cached": counter.cached}


def tally(results: list[dict]) -> dict:
    """Counts over ``run_calculation`` results: {"calculations" (SCFs in all), "computed", "cached"}."""
    computed = sum(r["scf_computed"] for r in results)
    cached = sum(r["scf_cached"] for r in results)
    return {"calculations": computed + cached, "computed": computed, "cached": cached}
