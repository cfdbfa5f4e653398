"""approx.run.gallery: OUT/README.md has a heading, figure, paragraph and command per result in the
experiments' fixed order, is rebuilt the same by `approx gallery`, and reports a result it cannot
describe while keeping the others."""
from __future__ import annotations

import pytest

from approx.run.cli import main


pytestmark = pytest.mark.usefixtures("fixture_experiments")


def test_gallery_has_heading_figure_paragraph_and_command_in_fixed_order(tmp_path):
    assert main(["run", "single", "--quiet", "--out", str(tmp_path)]) == 0
    assert main(["run", "counting", "--preset", "smoke", "--quiet", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    assert text.index("## counting") < text.index("## single-a")
    for piece in ("![counting](counting.png)", "3 sizes, 24 rows, mean y =",
                  "```bash\napprox run counting --preset smoke\n```", "2 widths; the largest value is 16."):
        assert piece in text
    (tmp_path / "README.md").unlink()
    assert main(["gallery", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "README.md").read_text() == text


def test_gallery_reports_a_result_it_cannot_describe_and_keeps_the_others(tmp_path):
    assert main(["run", "single", "--quiet", "--out", str(tmp_path)]) == 0
    assert main(["run", "counting", "--preset", "smoke", "--quiet", "--out", str(tmp_path)]) == 0
    (tmp_path / "counting.csv").write_text("size\n1\n")
    assert main(["gallery", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "Could not describe this result" in text.split("## single-a")[0]
    assert "2 widths; the largest value is 16." in text
