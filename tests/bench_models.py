"""Access to the benchmark model generators (bench/models.py) for tests: tiny variants only."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))

import models  # noqa: E402


def tiny(name: str, out_dir) -> str:
    """Generates the tiny variant of "llama", "bert", "gpt2" or "cnn" into out_dir; returns its path."""
    return models.generate(name, str(out_dir), small=True)
