"""Figure 5 honestly: only GeNet #1 (paper-best, Table 1's generation-50 best) is named; show --help
and the docs say why GeNet #2 is not (its code is in the paper's figure, not its text)."""

from __future__ import annotations

from helpers import REPO, run_cli

from genet_lab.encoding.genome import NAMED, TABLE1_BEST, named


def test_show_help_says_only_genet_1_is_named():
    rc, out, _ = run_cli(["show", "--help"])
    text = " ".join(out.split())
    assert rc == 0
    assert "paper-best is GeNet #1" in text and "Table 1's generation-50 best" in text
    assert "GeNet #2 appears only as a drawing in Figure 5" in text


def test_one_paper_genome_and_the_docs_say_why():
    assert named("paper-best").notation() == TABLE1_BEST
    assert not [n for n in NAMED if "genet" in n or "2" in n]  # nothing stands for GeNet #2
    docs = " ".join((REPO / "docs" / "encoding.md").read_text().split())
    assert "GeNet #2 appears only as a drawing in Figure 5" in docs
