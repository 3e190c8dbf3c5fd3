"""Shareable links: a view's choices (the molecule, its basis, charge and spin, the page's options) live
in its address (st.query_params), so a copied link reopens the same view; once the view has shown a
result, the link says so ("show=1") and opening it shows that result at once (served from the results
store when it is there, computed otherwise, with the usual limits).

A page calls ``follow_link(keys)`` after its ``keep_choice`` and before drawing its widgets, and
``publish(keys, shown)`` once they are drawn. Values in an address are text: each is read back as the
type of the widget's current value (int, float, bool, str, or a list of str for a multiselect).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from pages.ui.molecule_input import STRUCTURE, set_choice, set_widget

#: The query parameter saying the view showed a result.
SHOW = "show"
# Every address this session put into the browser's address bar: a rerun may still carry an older
# one (the browser applies a new address after the rerun that a click started), and that is not a link.
_WRITTEN = "links:written"


def _fingerprint(params: dict[str, list[str]]) -> str:
    return urlencode(sorted(params.items()), doseq=True)


def _written() -> set[str]:
    return st.session_state.setdefault(_WRITTEN, set())


def _address_params() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params}


def _read(text: list[str], current):
    """``text`` (a query parameter's values) as the type of ``current``."""
    if isinstance(current, list | tuple):
        return list(text)
    value = text[-1]
    if isinstance(current, bool):
        return value == "1"
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    return value


def _write(value) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return ["1" if value else "0"]
    return [str(value)]


def follow_link(keys: tuple[str, ...]) -> bool:
    """Sets the molecule chooser and the widgets ``keys`` from an address that came from outside (a
    pasted link, a bookmark); True when it asks to show the result, i.e. the page should run at once.
    Addresses this session wrote itself (a rerun may carry an older one), and an address without
    parameters, change nothing."""
    params = _address_params()
    if not params or _fingerprint(params) in _written():
        return False
    try:
        source = params.get("mi_source", ["Library"])[-1]
        if source in STRUCTURE and STRUCTURE[source] in params:
            structure = STRUCTURE[source]
            set_choice(
                source,
                params.get("mi_basis", [st.session_state.get("mi_basis", "6-31g")])[-1],
                int(params.get("mi_charge", ["0"])[-1]),
                int(params.get("mi_spin", ["0"])[-1]),
                **{structure: params[structure][-1]},
            )
        for key in keys:
            if key in params:
                set_widget(key, _read(params[key], st.session_state.get(key, "")))
    except ValueError:
        st.error("This link is damaged (a number in it is not a number): the page opens with its defaults.")
        return False
    finally:
        _written().add(_fingerprint(params))  # applied once: later runs keep the user's changes
    return params.get(SHOW) == ["1"]


def publish(keys: tuple[str, ...], shown: bool) -> None:
    """Puts the chosen molecule and the widgets ``keys`` into the address, with show=1 when ``shown``
    (the page shows the result of exactly these choices), and draws the "Share" control that gives the
    link to copy."""
    source = st.session_state.get("mi_source") or "Library"
    names = ("mi_source", STRUCTURE.get(source, ""), "mi_basis", "mi_charge", "mi_spin", *keys)
    params = {k: _write(st.session_state[k]) for k in names if st.session_state.get(k) is not None}
    if shown:
        params[SHOW] = ["1"]
    _written().add(_fingerprint(params))
    if params != _address_params():
        st.query_params.from_dict(params)
    link = share_link(params)
    with st.popover("Share this view", icon=":material/link:"):
        st.caption(
            "Copy this link (the button at its right): it reopens this view with these choices"
            + (" and shows this result." if shown else ".")
        )
        st.code(link, language=None, wrap_lines=True)


def share_link(params: dict[str, list[str]], path: str | None = None) -> str:
    """The address of this app with ``params`` as its query, on the page at ``path`` (default: this one)."""
    parts = urlsplit(st.context.url or "")
    page = parts.path if path is None else "/" + path.lstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, page, urlencode(params, doseq=True), ""))
