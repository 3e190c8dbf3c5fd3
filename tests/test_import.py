"""The backend stays importable without Streamlit (and without loading TensorFlow)."""

import subprocess
import sys


def test_import_explorer_loads_neither_streamlit_nor_tensorflow():
    code = (
        "import sys, explorer, explorer.scf, explorer.cli, explorer.molecules; "
        "print('streamlit' in sys.modules, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
