"""`ucfast demo`: a tiny run writes every output with the documented keys; bad input is named."""
import json

import numpy as np
import pytest

from ucfast import cli, demo
from ucfast.scores import Scores


def test_tiny_run_writes_report_scores_and_plots(tmp_path):
    report = demo.run(n_train=200, n_test=100, epochs=1, poison_rate=0.1, ratio=0.2, out=tmp_path, progress=False,
                      device="cpu")
    for name in ("report.json", "scores.npz", "score_histogram.png", "roc.png", "removed.txt"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(tmp_path / "report.json") as f:
        saved = json.load(f)
    assert set(demo.REPORT_KEYS) <= set(saved)
    assert saved["removed"] == 40 and saved["poisoned"] == 20 and saved["train_samples"] == 200
    for key in ("ca_before", "ca_after", "asr_before", "asr_after", "auroc", "tpr", "fpr"):
        assert 0.0 <= saved[key] <= 1.0, key
    assert saved["seconds"]["total"] >= saved["seconds"]["train"] > 0
    assert {"data", "train", "score", "retrain"} <= set(saved["seconds"])
    scores = Scores.load(tmp_path / "scores.npz")
    assert len(scores) == 200 and set(scores.components) == {"median", "nlm"}
    assert len(np.loadtxt(tmp_path / "removed.txt")) == 40
    table = demo.format_table(report)
    for text in ("clean accuracy (CA)", "attack success rate (ASR)", "AUROC", "TPR", "FPR", "samples removed",
                 "seconds: score", "40 of 200"):
        assert text in table


def test_cli_runs_and_prints_the_table(tmp_path, capsys):
    code = cli.main(["demo", "--n-train", "100", "--n-test", "50", "--epochs", "1", "--attack", "blended",
                     "--poison-rate", "0.2", "--target", "3", "--ratio", "0.25", "--out", str(tmp_path),
                     "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "blended on synthetic" in out and "-> class 3" in out and "25 of 100" in out
    with open(tmp_path / "report.json") as f:
        assert json.load(f)["config"]["attack"]["target"] == 3


def test_cli_ratio_auto_cuts_without_a_rate(tmp_path, capsys):
    code = cli.main(["demo", "--n-train", "200", "--n-test", "50", "--epochs", "1", "--ratio", "auto",
                     "--out", str(tmp_path), "--no-progress"])
    assert code == 0 and "TPR at ratio auto" in capsys.readouterr().out
    with open(tmp_path / "report.json") as f:
        saved = json.load(f)
    assert saved["config"]["ratio"] == "auto" and saved["assumptions"]["rate_given"] is False
    assert 0.0 <= saved["auroc_paper"] <= 1.0 and saved["removed"] == saved["assumptions"]["removed"]


def test_cli_ratio_that_is_neither_a_number_nor_auto(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--ratio", "most"])
    assert exit_info.value.code == 2
    assert "--ratio: expected a fraction in (0, 1) or 'auto', got 'most'" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--attack", "trojan"], "unknown attack 'trojan'"),
    (["--dataset", "mnist3d"], "unknown dataset 'mnist3d'"),
    (["--target", "10"], "target must be a class index in 0..9"),
    (["--target", "-1"], "target must be a class index in 0..9"),
    (["--poison-rate", "0"], "poison_rate must be a fraction in (0, 1)"),
    (["--poison-rate", "1.5"], "poison_rate must be a fraction in (0, 1)"),
    (["--ratio", "1"], "ratio must be a fraction in (0, 1)"),
    (["--epochs", "0"], "epochs must be a positive integer"),
    (["--dataset", "folder", "--root", "/nonexistent/ucfast-images"], "'/nonexistent/ucfast-images' does not exist"),
    (["--dataset", "npz", "--root", "/nonexistent/x.npz"], "'/nonexistent/x.npz' does not exist"),
    (["--model", "nonet"], "unknown model 'nonet'"),
])
def test_cli_bad_input_is_one_clear_error(tmp_path, capsys, args, message):
    code = cli.main(["demo", "--n-train", "60", "--n-test", "20", "--no-progress", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("ucfast demo: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "report.json").exists()


def test_cli_folder_without_images(tmp_path, capsys):
    (tmp_path / "images" / "cat").mkdir(parents=True)
    code = cli.main(["demo", "--dataset", "folder", "--root", str(tmp_path / "images"), "--out", str(tmp_path / "o"),
                     "--no-progress"])
    assert code == 1
    assert "without images" in capsys.readouterr().err
