"""Hostile input at every door (issue 17): generated atom strings, XYZ files, SMILES, Ketcher molfiles,
names, charges and spins, basis and grid values and number lists, fed to the parsing functions the pages
use and to the command line. Every one is either accepted or refused with one line (an ExplorerError);
nothing raises anything else, prints a traceback, or takes longer than the stated bound.

The inputs are generated from a fixed seed, so a failure names an input that reproduces it.
"""

import contextlib
import io
import random
import time

import pytest

from explorer import ExplorerError, GridSpec, functionals
from explorer.analyses import maps, spin_states
from explorer.chem import molecules, numbers, units
from explorer.cli import main

#: Seconds any one parsing call may take (the atom ceiling's SMILES embeds in ~6 s, hence not 1 s).
BOUND_SECONDS = 10.0
SEED = 17

NASTY_TOKENS = [
    "", " ", "\t", "\x00", "\u200b", "²", "١", "½", "1e309", "-1e309", "nan", "NaN", "inf", "-inf",
    "0x10", "1_000", "9" * 400, "-0", "+-1", "1,5", "1;2", "'", '"', "\\", "\\N", "{r}", "{0}", "%s",
    "${HOME}", "$(id)", "`id`", "; rm -rf /", "<script>", "]]>", "🙂", "Å", "ℌ", "ＣＯ", "Xx", "Uuo", "Og",
    "H" * 300, "C" * 2000, "*", "[*]", "[Uuo]", "[H+]" * 50, "(((((", ")", "1" * 60, "c1ccccc1" * 30,
]  # fmt: skip
ELEMENTS = ["H", "C", "N", "O", "He", "Li", "Fe", "Kr", "U", "X", "Q", "Zz", "h", "CL", "1", "8", "0", "119"]


def _coordinate(rng: random.Random) -> str:
    return rng.choice(
        [f"{rng.uniform(-5, 5):.3f}", "0", "1e30", "nan", "inf", "-0.0", "²", "1.2.3", "", "0x1", "1e-400"]
    )


def _atom_line(rng: random.Random) -> str:
    n_coordinates = rng.choice((3, 3, 3, 2, 4))
    symbol = rng.choice(ELEMENTS + NASTY_TOKENS[:12])
    return " ".join([symbol] + [_coordinate(rng) for _ in range(n_coordinates)])


def atom_strings(rng, n):
    for _ in range(n):
        sep = rng.choice(["; ", "\n", ";", " ;; ", "\r\n"])
        yield sep.join(_atom_line(rng) for _ in range(rng.randint(0, 6)))


def xyz_files(rng, n):
    for _ in range(n):
        body = [_atom_line(rng) for _ in range(rng.randint(0, 5))]
        count = rng.choice([str(len(body)), str(len(body) + 1), "²", "-1", "999999999", "", "abc"])
        comment = rng.choice(NASTY_TOKENS)
        yield "\n".join([count, comment] + body)


def smiles_strings(rng, n):
    parts = ["C", "c1ccccc1", "O", "N", "[NH4+]", "[O-]", "Cl", "=", "#", "(", ")", "1", "[*]", "."]
    for _ in range(n):
        if rng.random() < 0.3:
            yield rng.choice(NASTY_TOKENS)
        else:
            yield "".join(rng.choices(parts + ["[Fe]", "%10"], k=rng.randint(0, 12)))


def molfiles(rng, n):
    """Ketcher-like molfiles (V2000), some truncated or with nonsense counts, as the editor could hand
    the app text it did not expect."""
    for _ in range(n):
        atoms = rng.randint(0, 4)
        lines = ["", "  Ketcher 12032612002D 1   1.00000     0.00000     0", ""]
        lines.append(f"{rng.choice([atoms, atoms + 3, 999]):3d}{0:3d}  0  0  0  0  0  0  0  0999 V2000")
        lines += [f"    0.0000    0.0000    0.0000 {rng.choice(ELEMENTS):<3} 0  0" for _ in range(atoms)]
        lines.append(rng.choice(["M  END", "", "M  CHG  1   1  99"]))
        yield "\n".join(lines)


def charges_and_spins(rng, n):
    values = [0, 1, -1, 2, -4, 99, -99, 10**6, -(10**6), 7, 3]
    for _ in range(n):
        yield rng.choice(values), rng.choice(values + [None])


def number_lists(rng, n):
    for _ in range(n):
        yield rng.choice([",", ";", " ", ", ,"]).join(
            rng.choice(NASTY_TOKENS[:20] + ["0.7", "1.0", "-2", "0", "3"]) for _ in range(rng.randint(0, 8))
        )


def _refuses_or_accepts(call, what):
    """Runs ``call``: accepted, or refused with a one-line ExplorerError; within BOUND_SECONDS."""
    start = time.perf_counter()
    try:
        call()
    except ExplorerError as err:
        message = str(err)
        assert message and "\n" not in message and "Traceback" not in message, (what, message)
    elapsed = time.perf_counter() - start
    assert elapsed < BOUND_SECONDS, (what, elapsed)


def _cases():
    rng = random.Random(SEED)
    water = molecules.from_library("water")
    h2 = "H 0 0 0; H 0 0 0.74"
    cases = []

    def add(what, call):
        cases.append((what, call))

    for text in atom_strings(rng, 50):
        add(f"parse_atoms {text!r}", lambda t=text: molecules.parse_atoms(t).to_pyscf())
    for text in xyz_files(rng, 40):
        add(f"parse_xyz {text!r}", lambda t=text: molecules.parse_xyz(t, name=t[:40]))
    for text in smiles_strings(rng, 40):
        add(f"from_smiles {text!r}", lambda t=text: molecules.from_smiles(t))
    for text in molfiles(rng, 15):
        add(f"from_smiles(molfile) {text!r}", lambda t=text: molecules.from_smiles(t))
    atoms = water.atom_string()
    for charge, spin in charges_and_spins(rng, 25):
        with_spin = lambda c=charge, s=spin: molecules.parse_atoms(atoms, c, s).to_pyscf()  # noqa: E731
        add(f"charge {charge} 2S {spin}", with_spin)
    for name in NASTY_TOKENS + ["water", "H2+", "b3lyp", "DM21", "pbe0", "lda,vwn", "B3LYP5"]:
        add(f"from_library {name!r}", lambda n=name: molecules.from_library(n))
        add(f"functional {name!r}", lambda n=name: functionals.resolve(n))
        add(f"basis {name!r}", lambda n=name: molecules.parse_atoms(h2, basis=n).to_pyscf())
        add(f"unit {name!r}", lambda n=name: units.from_hartree(1.0, n))
    grids = [(-1, "dm21"), (10, "dm21"), ("3", "dm21"), (3, "DM21"), (3, ""), (3.5, "pyscf"), (None, "x")]
    for level, spec in grids:
        add(f"GridSpec({level!r}, {spec!r})", lambda lv=level, sp=spec: GridSpec(level=lv, spec=sp))
    for text in number_lists(rng, 30):
        add(f"bond lengths {text!r}", lambda t=text: numbers.parse_numbers(t, "bond lengths", positive=True))
        add(f"spins {text!r}", lambda t=text: spin_states.parse_spins(t, water))
        add(f"plane {text!r}", lambda t=text: maps.parse_plane(t, 3))
    return cases


CASES = _cases()


def test_there_are_enough_hostile_inputs():
    assert len(CASES) >= 200


@pytest.mark.parametrize("what, call", CASES, ids=range(len(CASES)))
def test_parsing_accepts_or_refuses_in_one_line(what, call):
    _refuses_or_accepts(call, what)


def _cli_argvs():
    rng = random.Random(SEED + 1)
    sources = [["--atoms", t] for t in atom_strings(rng, 12)]
    sources += [["--smiles", t] for t in smiles_strings(rng, 10)]
    sources += [["--name", t] for t in rng.sample(NASTY_TOKENS, 8)]
    argvs = []
    for source in sources:
        charge, _ = next(charges_and_spins(rng, 1))
        basis = rng.choice(["sto-3g", "sto-3g", "nonsense", "²"])
        grid = rng.choice(["0", "0", "11", "x"])
        argvs.append(["scf", *source, "--basis", basis, "--functional", "B3LYP", "--grid-level", grid]
                     + ["--charge", str(charge), "--no-cache", "--json"])  # fmt: skip
    light = ["--basis", "sto-3g", "--grid-level", "0"]
    for text in number_lists(rng, 6):
        argvs.append(["scan", "--preset", "H2+", "--values", text, *light, "--json"])
        argvs.append(["spin-states", "--name", "O", "--spins", text, *light])
    argvs.append(["xc-map", "--name", "water", "--plane", "1,2,²", *light])
    argvs.append(["compare", "--name", "water", "--functionals", ",,,", *light])
    return argvs


@pytest.mark.parametrize("argv", _cli_argvs(), ids=lambda a: " ".join(a)[:60])
def test_command_line_answers_in_one_line_without_a_traceback(argv, capsys):
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)  # argparse's own exits are one-line InputErrors in this CLI
    err = capsys.readouterr().err
    assert status in (0, 1, 2), status
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    if status == 2:
        assert len(error_lines) == 1, err
    assert time.perf_counter() - start < 120
