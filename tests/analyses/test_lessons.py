"""The lesson files: every one parses and checks (schema, answer among the choices, a calculation
that can run within the limits), bad files are refused with a message naming the problem, and each
lesson's answer is what its calculation shows (real PySCF, real DM21 weights, a real SQLite store)."""

import dataclasses
import tomllib

import pytest

from explorer import ResultsStore
from explorer.analyses import lessons
from explorer.analyses.fractional import DISSOCIATION_PRESETS
from explorer.analyses.spin_states import PRESETS
from explorer.chem import units
from explorer.chem.molecules import library_names
from explorer.errors import InputError
from explorer.functionals import resolve

LESSONS = lessons.load_lessons()


def test_at_least_five_lessons_in_order_each_file_checked():
    files = sorted(lessons.FOLDER.glob("*.toml"))
    assert len(files) >= 5 and len(LESSONS) == len(files)
    assert [x.order for x in LESSONS.values()] == sorted(x.order for x in LESSONS.values())
    analyses = {x.calculation["analysis"] for x in LESSONS.values()}
    assert analyses == set(lessons.ANALYSES)  # every kind of calculation is used by some lesson


@pytest.mark.parametrize("lesson_id", list(LESSONS))
def test_lesson_file_is_complete_and_its_request_valid(lesson_id):
    raw = tomllib.loads((lessons.FOLDER / f"{lesson_id}.toml").read_text(encoding="utf-8"))
    lesson = LESSONS[lesson_id]
    assert raw["answer"] in raw["choices"] and lesson.is_right(raw["answer"])
    assert sum(lesson.is_right(c) for c in lesson.choices) == 1
    assert 1 <= len(lesson.follow_ups) <= 2 and all(f["answer"] for f in lesson.follow_ups)
    for text in (lesson.goal, lesson.background, lesson.question, lesson.explanation, lesson.look_at):
        assert len(text) > 40
    c = lesson.calculation
    assert all(resolve(name).name == name for name in c["functionals"])
    if "molecule" in c:
        assert c["molecule"] in library_names()
    if c["analysis"] == "scan":
        assert c["preset"] in DISSOCIATION_PRESETS and 2 <= len(c["values"]) <= lessons.MAX_POINTS
    if c["analysis"] == "spin-states":
        assert c["preset"] in PRESETS
    assert c.get("points", 3) <= lessons.MAX_POINTS
    assert lessons.molecule_of(c).to_pyscf().nao_nr() <= lessons.MAX_BASIS
    # One task per functional, the functional not repeated inside the request.
    assert [call["functional"] for call in lessons.calls(lesson)] == c["functionals"]


GOOD = (lessons.FOLDER / "h_atom_fractional_spin.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "old, new, problem",
    [
        ('answer = "Clearly higher"', 'answer = "Much higher"', "is not one of the choices"),
        ('molecule = "H"', 'molecule = "unobtainium"', "unobtainium"),
        ('functionals = ["DM21", "B3LYP"]', 'functionals = ["DM22", "B3LYP"]', "DM22"),
        ('basis = "aug-cc-pvdz"', 'basis = "aug-cc-pv5z"', "a lesson allows at most 40"),
        ("points = 3", "points = 40", "points must be an integer from 3 to 9"),
        ('analysis = "fractional-spin"', 'analysis = "geometry"', "calculation.analysis must be one of"),
        ('title = "', 'subtitle = "x"\ntitle = "', "unknown keys ['subtitle']"),
        ("[[follow_ups]]", "[[follow_ups]]\nhint = 'x'", "exactly a question and an answer"),
    ],
)
def test_bad_lesson_files_are_refused_naming_the_problem(tmp_path, old, new, problem):
    assert old in GOOD
    (tmp_path / "broken.toml").write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InputError, match="lesson 'broken'") as err:
        lessons.load_lessons(tmp_path)
    assert problem in str(err.value)


def test_a_file_that_is_not_toml_is_refused(tmp_path):
    (tmp_path / "x.toml").write_text('title = "unclosed', encoding="utf-8")
    with pytest.raises(InputError, match="lesson file x.toml"):
        lessons.load_lessons(tmp_path)


def test_chosen_keeps_order_and_refuses_unknown_ids():
    ids = list(LESSONS)
    assert [x.id for x in lessons.chosen(LESSONS, [ids[2], ids[0]])] == [ids[2], ids[0]]
    assert [x.id for x in lessons.chosen(LESSONS, None)] == ids
    with pytest.raises(InputError, match="unknown lesson 'nope'"):
        lessons.chosen(LESSONS, ["nope"])


# --- the answers are what the calculations show -------------------------------------------------


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """Every lesson's results, {lesson id: {functional: run_calculation result}}, in a fresh store."""
    store = ResultsStore(tmp_path_factory.mktemp("lessons") / "results.sqlite3")
    return {
        x.id: {call["functional"]: lessons.run_calculation(**call, store=store) for call in lessons.calls(x)}
        for x in LESSONS.values()
    }


def _energies(result):
    assert all(p["converged"] for p in result["points"])  # a lesson never rests on an unconverged point
    return [p["energy"] for p in result["points"]]


def test_h_atom_e_of_n_b3lyp_bows_below_dm21_stays_on_the_lines(computed):
    lesson = LESSONS["h_atom_fractional_charge"]
    for functional, result in computed[lesson.id].items():
        e0, e_half, e1, _, _ = _energies(result)  # N = 0, 0.5, 1, 1.5, 2
        below = units.from_hartree(e_half - (e0 + e1) / 2, "kcal/mol")
        if functional == "B3LYP":
            assert below == pytest.approx(-27, abs=3)  # the explanation's "roughly 27 kcal/mol"
        else:
            assert abs(below) < 1.0  # "within about a milli-Hartree" (0.63 kcal/mol)
    assert lesson.answer.startswith("Bowed below")


def test_stretched_h2_plus_b3lyp_far_below_the_limit_dm21_on_it(computed):
    lesson = LESSONS["h2plus_delocalization"]
    limit = DISSOCIATION_PRESETS["H2+"]["exact_limit"]
    b3lyp = _energies(computed[lesson.id]["B3LYP"])[-1] - limit  # r = 5 Angstrom
    dm21 = _energies(computed[lesson.id]["DM21"])[-1] - limit
    assert units.from_hartree(b3lyp, "kcal/mol") < -40 and abs(dm21) < 2e-3
    assert lesson.answer == "Far below -0.5 Ha (too low)"


def test_fractional_spin_b3lyp_rises_dm21_flat(computed):
    lesson = LESSONS["h_atom_fractional_spin"]
    rise = {
        f: units.from_hartree(_energies(r)[1] - _energies(r)[0], "kcal/mol")
        for f, r in computed[lesson.id].items()
    }
    assert rise["B3LYP"] == pytest.approx(34, abs=3) and abs(rise["DM21"]) < 0.5
    assert lesson.answer == "Clearly higher"


def test_ch2_triplet_lower_by_far_more_than_experiment(computed):
    lesson = LESSONS["ch2_singlet_triplet"]
    for result in computed[lesson.id].values():
        singlet, triplet = result["states"]
        assert singlet["converged"] and triplet["converged"] and abs(triplet["s2"] - 2.0) < 0.05
        gap = units.from_hartree(triplet["energy"] - singlet["energy"], "kcal/mol")
        assert -35 < gap < -25  # "roughly 30 kcal/mol", against experiment's -9.0 (adiabatic)
    assert lesson.answer == "Triplet lower by clearly more than 9 kcal/mol"


def test_water_density_difference_largest_at_the_oxygen_nucleus(computed):
    import numpy as np

    lesson = LESSONS["water_density_difference"]
    dm21, b3lyp = computed[lesson.id]["DM21"], computed[lesson.id]["B3LYP"]
    x, difference = np.array(dm21["x"]), np.array(dm21["rho"]) - np.array(b3lyp["rho"])
    peak = int(np.argmax(np.abs(difference)))
    assert abs(x[peak]) < 0.05 and dm21["atoms"][0]["symbol"] == "O"  # at the O nucleus (x = 0)
    assert abs(difference[peak]) / b3lyp["rho"][peak] < 1e-3  # "only about 0.02%" relative
    near_h = int(np.argmin(np.abs(x - dm21["atoms"][1]["x"])))
    assert -0.01 < difference[near_h] / b3lyp["rho"][near_h] < -0.002  # "about 0.4% lower" near H
    assert lesson.answer == "At the oxygen nucleus"


def test_a_second_run_is_served_from_the_store_and_counted(tmp_path):
    lesson = dataclasses.replace(
        LESSONS["h_atom_fractional_spin"],
        calculation={**LESSONS["h_atom_fractional_spin"].calculation, "functionals": ["B3LYP"]},
    )
    store = ResultsStore(tmp_path / "results.sqlite3")
    (call,) = lessons.calls(lesson)
    first = lessons.run_calculation(**call, store=store)
    second = lessons.run_calculation(**call, store=store)
    # f = 0, 0.5 and 1, the whole f = 1 from its neighbour's density and independently: 4 SCFs.
    assert (first["scf_computed"], first["scf_cached"]) == (4, 0)
    assert (second["scf_computed"], second["scf_cached"]) == (0, 4)
    assert lessons.tally([first, second]) == {"calculations": 8, "computed": 4, "cached": 4}
    assert _energies(second) == _energies(first)
