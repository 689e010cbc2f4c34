import os
import sys
import warnings

import pytest

# Test helpers (bench_models) live beside the tests.
sys.path.insert(0, os.path.dirname(__file__))

# The node test-case generators warn about overflowing casts on import; that is expected.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"onnx\.backend\.test\.case")


@pytest.fixture(scope="session")
def node_cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return collect_testcases(None)
