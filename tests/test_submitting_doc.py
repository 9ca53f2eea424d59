"""The worked example of docs/SUBMITTING.md passes check_estimator."""

import re
from pathlib import Path

from ogmbench.testing import check_estimator

DOC = Path(__file__).parent.parent / "docs" / "SUBMITTING.md"


def test_documented_example_conforms():
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    assert check_estimator(namespace["BoxFilter"])
