"""docs/notebook.ipynb runs top to bottom in a fresh kernel and shows what it promises.

A DataFrame in, the summary (untrained, then trained), History.to_frame() as a table,
and the plots inline as PNG images.  Needs nbclient and ipykernel (the [test] extra has
them); skipped, with the reason, where they are absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat (pip install nbclient)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (pip install nbclient)")
pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (pip install ipykernel)")
pytest.importorskip("pandas", reason="the notebook reads a pandas DataFrame")
pytest.importorskip("matplotlib", reason="the notebook draws plots (pip install 'bpnet_xp[plot]')")
pytest.importorskip("sklearn", reason="the notebook loads scikit-learn's bundled iris table")

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "notebook.ipynb"


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return output.get("data", {}).get("text/plain", "")


def test_notebook_executes_and_shows_its_pictures_inline(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        assert not cell.get("outputs"), "commit the notebook without outputs (they are made here)"
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = {cell.source.splitlines()[-1]: cell.outputs for cell in code}
    summaries = [_text(o) for cell in code if cell.source.strip().endswith("summary()") for o in cell.outputs]
    assert "untrained" in summaries[0] and "trained (lbfgs" in summaries[1]
    assert "hidden 1" in summaries[1] and "(4, 8)" in summaries[1]
    assert "[trained]" in _text(outputs["net"][0])
    frame = outputs["history.to_frame().tail()"][0]
    assert "text/html" in frame["data"] and "val_loss" in frame["data"]["text/plain"]
    for line in ("history.plot()", next(k for k in outputs if k.startswith("plotting.plot_confusion_matrix"))):
        images = [o for o in outputs[line] if "image/png" in o.get("data", {})]
        assert len(images) == 1, f"{line!r} shows no inline picture"
    accuracy = next(_text(o) for cell in code for o in cell.outputs if "test accuracy" in _text(o))
    assert float(accuracy.split(":")[1]) > 0.85
