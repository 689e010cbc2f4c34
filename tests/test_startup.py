"""`irforge --help` must start fast: it may not load the C++ core or any heavy dependency."""

import json
import subprocess
import sys

CHILD = r"""
import json, sys
from irforge.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
heavy = ("irforge._core", "numpy", "onnx", "onnxruntime", "openvino", "torch")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def test_help_imports_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    assert "usage: irforge" in out.stdout
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_public_names_still_resolve():
    import irforge

    assert callable(irforge.convert_model) and callable(irforge.save_model)
    assert issubclass(irforge.InvalidModelError, irforge.ConversionError)
    assert set(irforge.__all__) <= set(dir(irforge))
