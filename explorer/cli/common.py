"""What the commands share: the command record, the parser, the molecule and method flags and the
values they resolve to, and the small printing helpers.

Heavy modules (PySCF, the engine) are imported inside the functions, so that building the parser and
``--help`` stay fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from explorer.errors import InputError
from explorer.functionals import HELP as FUNCTIONALS_HELP
from explorer.functionals import Functional, resolve

if TYPE_CHECKING:
    from explorer.engine.grids import GridSpec

CLUSTER_HELP = (
    "run on Dask workers (DM21_EXPLORER_SCHEDULER, else a local cluster) with the per-job time limit "
    "DM21_EXPLORER_JOB_SECONDS"
)
JSON_HELP = "print one JSON object"
KIND_HELP = "default: RKS if 2S=0, else UKS"


def _success(out: dict) -> int:
    return 0


@dataclass(frozen=True)
class Command:
    """One subcommand: ``add_arguments(parser)`` declares its flags, ``run(args)`` computes the output
    (a JSON-ready dict), ``print_human(out)`` prints it for a reader, and ``status(out)`` is the exit
    status of a run that produced ``out`` (saying on stderr why, when it is not 0). The parser adds
    ``--json`` (help ``json_help``) unless ``json_help`` is None (the command adds it itself)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], dict]
    print_human: Callable[[dict], None]
    status: Callable[[dict], int] = _success
    json_help: str | None = JSON_HELP


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit status 2 (an InputError)."""

    def error(self, message):
        raise InputError(message)


def add_json_flag(p: argparse.ArgumentParser, help: str = JSON_HELP) -> None:
    p.add_argument("--json", action="store_true", help=help)


# --- the molecule --------------------------------------------------------------------------------


def add_size_flags(p: argparse.ArgumentParser, defaults_from: str) -> None:
    """--basis, --charge, --spin and --allow-large; ``defaults_from`` names what else sets the charge
    and spin (the molecule's source is added by the caller)."""
    p.add_argument("--basis", default="cc-pvdz", help="basis set (default cc-pvdz)")
    p.add_argument("--charge", type=int, default=None, help=f"total charge (default: 0, or {defaults_from})")
    p.add_argument(
        "--spin",
        type=int,
        default=None,
        help=f"2S, the number of unpaired electrons (default: lowest, or {defaults_from})",
    )
    p.add_argument(
        "--allow-large",
        action="store_true",
        help="run beyond the interactive size limits (DM21_EXPLORER_MAX_ATOMS, DM21_EXPLORER_MAX_BASIS)",
    )


def add_molecule_flags(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--atoms", help='atoms in Angstrom, e.g. "O 0 0 0; H 0 0.76 0.59"')
    source.add_argument("--xyz", help="XYZ file (Angstrom)")
    source.add_argument("--smiles", help="SMILES string (3D structure by RDKit)")
    source.add_argument("--name", help="a molecule of the built-in library, e.g. water, O2, H2+")
    add_size_flags(p, "the library molecule's, or from SMILES")


def check_size(molecule, args) -> None:
    """InputError if ``molecule`` is beyond the interactive size limits (explorer.settings) and the
    command was not given --allow-large."""
    if not args.allow_large:
        from explorer import settings

        settings.check_size(molecule)


def molecule(args):
    """The molecule the molecule flags describe; InputError if it is invalid or, without
    --allow-large, beyond the interactive size limits."""
    built = _parsed_molecule(args)
    check_size(built, args)
    return built


def _parsed_molecule(args):
    from explorer.chem import molecules

    if args.name:
        mol = molecules.from_library(args.name, basis=args.basis)
        if args.charge is not None or args.spin is not None:
            charge = mol.charge if args.charge is None else args.charge
            mol = molecules.parse_atoms(mol.atom_string(), charge, args.spin, args.basis, mol.name)
        return mol
    if args.smiles:
        return molecules.from_smiles(args.smiles, args.charge, args.spin, basis=args.basis)
    charge = args.charge or 0
    if args.xyz:
        try:
            with open(args.xyz, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as err:
            raise InputError(f"cannot read XYZ file {args.xyz!r}: {err.strerror}") from None
        return molecules.parse_xyz(text, charge, args.spin, args.basis, os.path.basename(args.xyz))
    return molecules.parse_atoms(args.atoms, charge, args.spin, args.basis)


def molecule_label(molecule) -> str:
    return molecule.name or molecule.formula()


def molecule_header(molecule, functional: Functional) -> dict:
    """The fields that name a calculation in the commands' output."""
    return {
        "molecule": molecule_label(molecule),
        "functional": functional.name,
        "basis": molecule.basis,
        "charge": molecule.charge,
        "spin": molecule.spin,
    }


# --- the method: functional, SCF kind, warm start, grid ------------------------------------------


def add_functional_flag(p: argparse.ArgumentParser, help: str = FUNCTIONALS_HELP) -> None:
    p.add_argument("--functional", default="DM21", help=help)


def add_grid_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grid-level", type=int, default=3, help="PySCF grid level 0-9 (default 3)")
    p.add_argument(
        "--grid-spec",
        default="dm21",
        choices=("dm21", "pyscf"),
        help="dm21: the grid DM21's published numbers use (default); pyscf: PySCF 2.14's default",
    )


def add_method_flags(p: argparse.ArgumentParser, kind_help: str | None = KIND_HELP) -> None:
    """--functional, --kind (not with ``kind_help`` None: the command chooses), --warm-start and the
    grid flags; ``method(args)`` reads them."""
    add_functional_flag(p)
    if kind_help is not None:
        p.add_argument("--kind", choices=("RKS", "UKS", "ROKS"), help=kind_help)
    p.add_argument("--warm-start", default="B3LYP", help="functional that starts DM21 runs ('none': minao)")
    add_grid_flags(p)


@dataclass(frozen=True)
class Method:
    """The method flags, resolved: ``kind`` None lets the engine choose; ``warm_start`` None starts
    DM21 from PySCF's minao guess."""

    functional: Functional
    kind: str | None
    warm_start: Functional | None
    grid: GridSpec

    def scf_options(self) -> dict:
        """The keywords of run_scf / run_scf_stored this method sets."""
        return {"kind": self.kind, "grid": self.grid, "warm_start": self.warm_start}


def grid_spec(args) -> GridSpec:
    from explorer.engine.grids import GridSpec

    return GridSpec(level=args.grid_level, spec=args.grid_spec)


def method(args) -> Method:
    """The Method of the flags of add_method_flags; InputError for an unknown functional."""
    warm = None if args.warm_start.strip().lower() == "none" else resolve(args.warm_start)
    return Method(resolve(args.functional), getattr(args, "kind", None), warm, grid_spec(args))


def stored_scf(molecule, method: Method):
    """(Result, cached) of ``method`` on ``molecule`` through the results store. Waiting for another
    process computing the same request is said on stderr; nothing else is (a failed run's stderr is
    its one error line)."""
    from explorer.runs.cached import WAITING, run_scf_reporting
    from explorer.runs.store import ResultsStore

    def waiting(event: dict) -> None:
        if event.get("stage") == WAITING:
            progress(event)

    functional, options = method.functional, method.scf_options()
    return run_scf_reporting(molecule, functional, ResultsStore(), functional.name, waiting, **options)


# --- printing ------------------------------------------------------------------------------------


def header_line(out: dict) -> str:
    """The line naming the calculation of an output with molecule_header's fields, e.g.
    "DM21/cc-pvdz water charge=0 2S=0"."""
    return f"{out['functional']}/{out['basis']} {out['molecule']} charge={out['charge']} 2S={out['spin']}"


def fmt(x, spec: str) -> str:
    """``x`` formatted by ``spec`` ("12.6f"), or a dash of the same width for None."""
    return "-".rjust(int(spec.split(".")[0] or 0)) if x is None else format(x, spec)


def yes_no(flag: bool) -> str:
    return "yes" if flag else "NO"


def print_notes(functionals: Iterable[str], indent: str = "") -> None:
    """The registry's note (explorer.functionals) on each of the named functionals that has one,
    once each: what a reader must know about its numbers (B3LYP: PySCF's VWN-RPA flavour)."""
    for name in dict.fromkeys(functionals):
        note = resolve(name).note
        if note:
            print(f"{indent}note: {note}")


def write_text(path: str, text: str) -> None:
    """Writes ``text`` to the file ``path``; InputError naming it if that fails."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as err:
        raise InputError(f"cannot write {path!r}: {err.strerror}") from None


def progress(event: dict) -> None:
    """Prints a calculation's stages (not its SCF iterations) on stderr."""
    if "cycle" not in event:
        print(f"  {event['task']}: {event['stage']}", file=sys.stderr, flush=True)


def progress_line(message: str) -> None:
    """Prints a progress message on stderr."""
    print(message, file=sys.stderr, flush=True)
