"""Single point: one molecule, one functional, the energy and its parts."""

import streamlit as st

from explorer import ExplorerError, GridSpec, from_library, parse_atoms, run_scf
from explorer.molecules import LIBRARY

st.title("Single point")
st.markdown(
    "Pick a molecule and a functional and compute its self-consistent energy. Compare DM21 with "
    "B3LYP on the same molecule: total energies differ by tens of millihartree, and the split "
    "between kinetic, Coulomb and exchange-correlation parts shows where."
)

with st.form("single_point"):
    choice = st.selectbox("Molecule", list(LIBRARY), index=list(LIBRARY).index("water"))
    custom = st.text_input("…or atoms in Angstrom", placeholder="O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587")
    basis = st.selectbox("Basis", ["sto-3g", "6-31g", "cc-pvdz", "aug-cc-pvdz"], index=0)
    functional = st.selectbox(
        "Functional", ["DM21", "DM21m", "DM21mc", "DM21mu", "B3LYP", "PBE", "PBE0", "SCAN", "HF"]
    )
    submitted = st.form_submit_button("Run")

if submitted:
    try:
        molecule = parse_atoms(custom, basis=basis) if custom.strip() else from_library(choice, basis=basis)
        with st.status(f"{functional}/{basis}: running SCF…", expanded=False) as status:
            result = run_scf(
                molecule,
                functional,
                grid=GridSpec(),
                callback=lambda h: status.update(
                    label=f"{h['stage']}: cycle {h['cycle']}, E = {h['energy']:.8f} Ha"
                ),
            )
            status.update(label="done", state="complete")
    except ExplorerError as err:
        st.error(str(err))
    else:
        st.dataframe(
            [
                {"quantity": "total energy", "Hartree": result.energy},
                {"quantity": "one-electron", "Hartree": result.e1},
                {"quantity": "Coulomb", "Hartree": result.coulomb},
                {"quantity": "exchange-correlation", "Hartree": result.e_xc},
                {"quantity": "nuclear repulsion", "Hartree": result.nuclear},
            ],
            hide_index=True,
        )
        st.write(
            f"{'Converged' if result.converged else '**Not converged**'} in {result.cycles} cycles, "
            f"{result.scf_seconds:.1f} s; {result.n_basis} basis functions, "
            f"{result.n_grid_points} grid points."
        )
        if functional == "B3LYP":
            st.caption("B3LYP is PySCF's VWN-RPA flavour (as in Gaussian).")
