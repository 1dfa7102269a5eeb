"""The command line: `python -m jaxlosses verify` and `list`."""

from __future__ import annotations

import json
import os
import re

import pytest

from jaxlosses.__main__ import main


def test_verify_prints_a_row_per_loss_and_writes_json(tmp_path, capsys):
    out = tmp_path / "report.json"
    assert (
        main(["verify", "--no-cache", "--loss", "l2_loss", "huber_loss", "--json", str(out)]) == 0
    )
    captured = capsys.readouterr()
    assert "| l2_loss " in captured.out
    assert "| huber_loss " in captured.out
    assert "2/2 losses passed" in captured.out
    # rows stream as losses finish, slowest first by the timings of earlier runs
    assert re.search(r"\[  [12]/2\] l2_loss \.\.\. ok", captured.err)
    data = json.loads(out.read_text())
    assert data["passed"] is True
    assert [r["name"] for r in data["losses"]] == ["l2_loss", "huber_loss"]  # catalogue order
    assert all(r["autodiff_error"] <= 1e-9 for r in data["losses"])


def test_unknown_loss_is_a_usage_error_with_suggestions(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["verify", "--loss", "huber"])
    assert exit_.value.code == 2  # usage errors exit 2, as the help says
    err = capsys.readouterr().err
    assert "unknown loss 'huber' (did you mean huber_loss" in err
    with pytest.raises(SystemExit) as exit_:
        main(["verify", "--loss", "softmax_cross_entropi"])
    assert exit_.value.code == 2
    assert "did you mean softmax_cross_entropy" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["verify", "--loss", "zzzz"])
    assert exit_.value.code == 2
    assert "did you mean" not in capsys.readouterr().err


def test_list_shows_the_catalogue(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "| softmax_cross_entropy " in out
    assert "crf_loss" in out


# --- list -----------------------------------------------------------------------------


def test_list_columns_and_every_entry(capsys):
    from jaxlosses.catalogue import CATALOGUE

    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["loss", "family", "inputs", "closed form", "checked"]
    rows = {line.split("|")[1].strip(): line for line in lines[2:] if line.startswith("| ")}
    assert set(rows) == set(CATALOGUE)
    assert "| gaussian_nll " in rows["gaussian_nll"]
    assert "means*, targets, variances*" in rows["gaussian_nll"]  # two learned inputs
    cells = {n: [c.strip() for c in row.strip("|").split("|")] for n, row in rows.items()}
    assert cells["gaussian_nll"][3] == "means, variances"  # what the closed form differentiates
    assert cells["softmax_cross_entropy_with_integer_labels"][3] == "logits"
    assert cells["gaussian_nll"][4] == "variances"  # checked mode: variances >= 0
    assert cells["l2_loss"][4] == "-"
    assert lines[-1].startswith(f"{len(CATALOGUE)} losses.")


def test_list_json_and_family_filter(capsys):
    assert main(["list", "--json", "--family", "structured", "GAN"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["family"] for r in records} == {"structured (linear-chain CRF)", "GAN"}
    assert {"crf_loss", "gan_generator_loss"} <= {r["loss"] for r in records}
    assert set(records[0]) == {
        "loss",
        "family",
        "inputs",
        "closed form",
        "checked",
        "reference",
        "peers",
    }


def test_list_wide_shows_the_reference_and_peers(capsys):
    assert main(["list", "--wide", "--family", "cross-entropy", "structured"]) == 0
    out = capsys.readouterr().out
    assert "| peers " in out.splitlines()[0]
    assert "torch.nn.functional.binary_cross_entropy_with_logits" in out
    assert "brute force" in out  # the structured references enumerate every tag sequence


def test_unknown_family_is_a_usage_error(capsys):
    for command in ("verify", "list"):
        with pytest.raises(SystemExit) as exit_:
            main([command, "--family", "nope"])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert "unknown family 'nope'" in err and "families: cross-entropy" in err
    with pytest.raises(SystemExit) as exit_:
        main(["list", "--family", "segmentaton"])
    assert "did you mean segmentation" in capsys.readouterr().err


def test_verify_progress_shows_elapsed_time_and_an_estimate(capsys):
    assert main(["verify", "--no-cache", "--loss", "l2_loss", "squared_error"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert "elapsed" in err[0] and "left" in err[0]  # after one loss: an estimate
    assert "0:00 left" in err[1] or "left" in err[1]


# --- verify ---------------------------------------------------------------------------


def test_verify_in_worker_processes(tmp_path, capsys):
    """``--jobs 2``: two spawned workers, rows in catalogue order, the same results as one
    process, and the per-loss times kept beside the cache (the next run starts the slowest
    losses first)."""
    names = ["l2_loss", "squared_error", "log_cosh"]
    cache = str(tmp_path / "cache")
    assert main(["verify", "--jobs", "2", "--cache-dir", cache, "--loss", *names]) == 0
    captured = capsys.readouterr()
    rows = [line.split("|")[1].strip() for line in captured.out.splitlines()[2:5]]
    assert rows == names
    assert "3/3 losses passed" in captured.out
    progress = captured.err.splitlines()
    assert len(progress) == 3 and all(" ok (" in line and "elapsed" in line for line in progress)
    assert sorted(line.split()[2] for line in progress) == sorted(names)
    with open(os.path.join(cache, "jaxlosses-verify-seconds.json")) as fh:
        timings = json.load(fh)
    assert set(timings) == set(names) and all(t > 0 for t in timings.values())
    # one process gives the same measured errors
    assert main(["verify", "--jobs", "1", "--cache-dir", cache, "-q", "--loss", *names]) == 0
    sequential = capsys.readouterr().out.splitlines()
    for a, b in zip(captured.out.splitlines()[2:5], sequential[2:5]):
        assert a.split("|")[1:10] == b.split("|")[1:10]  # all but the time and result


def test_verify_by_family(capsys):
    assert main(["verify", "--no-cache", "--family", "gan", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "2/2 losses passed" in captured.out
    assert captured.err == ""  # --quiet: no progress


def test_verify_fails_on_a_wrong_closed_form(monkeypatch, capsys):
    from jaxlosses import closed_form

    good = closed_form.l2_loss
    monkeypatch.setattr(closed_form, "l2_loss", lambda *a, **k: 2 * good(*a, **k))
    assert main(["verify", "--no-cache", "--loss", "l2_loss", "-q"]) == 1
    out = capsys.readouterr().out
    assert "l2_loss FAILED" in out
    assert "0/1 losses passed" in out


def test_progress_bar_on_a_terminal():
    import io

    from jaxlosses.__main__ import _Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = _Progress(4, stream)
    for i, name in enumerate(["a", "b", "c", "d"], 1):
        bar.start(i, name)
        bar.done(passed=name != "c", seconds=0.1)
    bar.close()
    text = stream.getvalue()
    assert "[" + "#" * 15 + "." * 15 + "] 2/4  0:00 elapsed, ~0:00 left  c" in text  # redrawn
    assert "3/4, 1 failed  0:00 elapsed, ~0:00 left  d" in text
    assert "\n" not in text  # a terminal gets a bar, not a log
    log = io.StringIO()
    lines = _Progress(2, log)
    lines.start(1, "a")
    lines.done(passed=True, seconds=0.25)
    assert log.getvalue() == "[  1/2] a ... ok (0.2s; 0:00 elapsed, ~0:00 left)\n"


# --- help and the console script ------------------------------------------------------


def test_help_reads_well(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for text in ("verify", "list", "examples:", "--version", "Exit status"):
        assert text in out
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = capsys.readouterr().out
    for text in ("grad vs closed form", "--loss NAME", "--family FAMILY", "--json PATH"):
        assert text in out


def test_version(capsys):
    import jaxlosses

    with pytest.raises(SystemExit):
        main(["--version"])
    assert jaxlosses.__version__ in capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_console_script_is_declared():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"] == {"jaxlosses": "jaxlosses.__main__:main"}


def test_python_dash_m_runs(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-m", "jaxlosses", "list", "--family", "gan"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "gan_generator_loss" in proc.stdout
    assert (
        "usage: python -m jaxlosses"
        in subprocess.run(
            [sys.executable, "-m", "jaxlosses"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        ).stderr
    )


def test_verify_keeps_compiled_checks_in_a_persistent_cache(tmp_path):
    """A second run reads the compiled programs back: same report, from the cache dir."""
    import subprocess
    import sys

    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "jaxlosses", "verify", "-q", "--loss", "l2_loss"]
    first = subprocess.run([*cmd, "--cache-dir", str(cache)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert any(cache.iterdir())  # compiled programs were written
    second = subprocess.run([*cmd, "--cache-dir", str(cache)], capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "1/1 losses passed" in second.stdout
    none = tmp_path / "unused"
    off = subprocess.run(
        [*cmd, "--no-cache", "--cache-dir", str(none)], capture_output=True, text=True
    )
    assert off.returncode == 0 and not none.exists()
