"""The command line: `python -m jaxlosses verify` and `list`."""

from __future__ import annotations

import json

import pytest

from jaxlosses.__main__ import main


def test_verify_prints_a_row_per_loss_and_writes_json(tmp_path, capsys):
    out = tmp_path / "report.json"
    assert main(["verify", "--loss", "l2_loss", "huber_loss", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "| l2_loss " in captured.out
    assert "| huber_loss " in captured.out
    assert "2/2 losses passed" in captured.out
    assert "[  1/2] l2_loss ... ok" in captured.err
    data = json.loads(out.read_text())
    assert data["passed"] is True
    assert [r["name"] for r in data["losses"]] == ["l2_loss", "huber_loss"]
    assert all(r["autodiff_error"] <= 1e-9 for r in data["losses"])


def test_unknown_loss_is_explained():
    with pytest.raises(SystemExit, match="unknown loss nope"):
        main(["verify", "--loss", "nope"])


def test_list_shows_the_catalogue(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "| softmax_cross_entropy " in out
    assert "crf_loss" in out
