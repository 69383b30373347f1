"""%deploy in a real ipykernel: errors are one line with no traceback; pushes draw a bar."""

import nbformat
import pytest

from .outputs import html_of, text_of

pytestmark = pytest.mark.slow  # a kernel

SETUP = """\
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
X, y = make_classification(n_samples=200, n_features=4, random_state=0)
model = LogisticRegression().fit(X, y)"""


def test_user_errors_and_progress_in_a_kernel(execute):
    cells = [
        nbformat.v4.new_code_cell("%load_ext deploykit"),
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell("%deploy push modle --name churn"),
        nbformat.v4.new_code_cell("%deploy deploy churn 9"),
        nbformat.v4.new_code_cell("%deploy push model --name churn --data X --deploy"),
        nbformat.v4.new_code_cell("%deploy versions churn"),
    ]
    for cell in cells[2:4]:
        cell.metadata["tags"] = ["raises-exception"]  # nbclient carries on past them
    nb = execute(nbformat.v4.new_notebook(cells=cells))

    typo, missing = nb.cells[2].outputs, nb.cells[3].outputs
    assert typo == [
        {
            "output_type": "stream",
            "name": "stderr",
            "text": "UsageError: No variable named 'modle' in this notebook "
            "(did you mean 'model'?)\n",
        }
    ]
    assert [o["output_type"] for o in missing] == ["stream"]
    assert (
        missing[0]["text"] == "UsageError: No model named 'churn'; the registry has no models yet\n"
    )

    push = nb.cells[4]
    kinds = [o["output_type"] for o in push.outputs]
    assert kinds == ["display_data", "execute_result"]
    bar = push.outputs[0]["data"]
    assert '<progress value="100" max="100"' in bar["text/html"]  # updated in place to the end
    assert bar["text/plain"].startswith("Pushed churn:1 (")
    assert "production → 1" in bar["text/plain"]
    assert "<b>churn</b> version <b>1</b>" in push.outputs[1]["data"]["text/html"]

    assert "churn: 1 version" in text_of(nb.cells[5])
    assert "<table" in html_of(nb.cells[5])
