"""The backend stays importable without Streamlit (and without loading TensorFlow)."""

import subprocess
import sys


def test_import_explorer_loads_neither_streamlit_nor_tensorflow():
    code = (
        "import sys, explorer, explorer.engine.scf, explorer.cli, explorer.chem.molecules; "
        "print('streamlit' in sys.modules, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
