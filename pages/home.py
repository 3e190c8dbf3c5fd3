"""Home: what DM21 is, links to the views, and whether the DM21 networks are found."""

import streamlit as st

from explorer.engine import weights
from explorer.functionals import B3LYP_NOTE, CLASSICAL_NAMES

CLASSICAL = ", ".join(CLASSICAL_NAMES[:-1]) + " and " + CLASSICAL_NAMES[-1]  # "B3LYP, PBE, ... and HF"

st.title("DM21 Explorer")
st.markdown(
    f"""
**DM21** is a family of exchange-correlation functionals learned by a neural network
(J. Kirkpatrick *et al.*, "Pushing the frontiers of density functionals by solving the
fractional electron problem", *Science* **374**, 1385 (2021),
[doi:10.1126/science.abj6511](https://doi.org/10.1126/science.abj6511)).

Exact density functional theory has two properties most approximations break:
- **fractional charge**: the energy of a system with a fractional number of electrons lies on
  straight lines between the integers. Functionals such as B3LYP bow below them
  (*delocalization error*): they over-spread electrons, e.g. in stretched H2+.
- **fractional spin**: a spin-symmetric hydrogen atom (half an alpha and half a beta electron) has
  the same energy as the normal one. B3LYP rises above it (*static-correlation error*), as in
  stretched H2.

DM21 was trained on molecules *and* on these constraints, and stays close to the exact lines.
This app shows DM21 beside classical functionals ({", ".join(CLASSICAL_NAMES)}) on molecules you
choose. {B3LYP_NOTE}
"""
)

st.subheader("Views")
st.page_link(
    "pages/1_Compare.py",
    label=f"Compare: DM21 beside {CLASSICAL} on a molecule you pick, type or draw",
    icon=":material/compare_arrows:",
)
st.page_link(
    "pages/2_Fractional_electrons.py",
    label="Fractional electrons: E(N) between integers, fractional spin, H2+ and H2 dissociation",
    icon=":material/show_chart:",
)
st.page_link(
    "pages/3_Spin_states.py",
    label="Spin states: singlet, triplet ... energies side by side, gaps against experiment (CH2, O2, ...)",
    icon=":material/stacked_line_chart:",
)
st.page_link(
    "pages/4_Densities.py",
    label="Densities and XC maps: isosurfaces, density differences, DM21's XC energy density on a plane",
    icon=":material/blur_on:",
)
st.page_link(
    "pages/9_History.py",
    label="History: every stored calculation, search, re-open, delete",
    icon=":material/history:",
)
st.caption(
    "Calculations are kept in a results database shared by all sessions and the command line "
    "(`python -m explorer ...`): asking twice for the same one answers at once."
)

with st.expander("DM21 parameters"):
    st.caption("The four DM21 networks are loaded at run time under CC BY 4.0 (credit: the paper above).")
    rows = weights.status()
    st.dataframe(
        [
            {
                "functional": r["name"],
                "found": r["ok"],
                "where": r["path"] or "",
                "problem": r["error"] or "",
            }
            for r in rows
        ],
        hide_index=True,
    )
    if not all(r["ok"] for r in rows):
        st.warning("Some checkpoints are missing: run `python -m explorer weights download`.")
