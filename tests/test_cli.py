import ldrx
from ldrx.cli import main


def test_fit_and_eval(tmp_path, ldr_sample, capsys):
    data = tmp_path / "d.npz"
    ldr_sample.subset(range(30)).save(data)
    out = tmp_path / "m.ldrx"
    rc = main(["fit", str(data), "--model", "ann", "--epochs", "5", "--set", "hidden=(4,)",
               "--set", "progress=False", "--out", str(out), "--parity", str(tmp_path / "p.png")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "E RMSE (meV/atom)" in text and "test" in text
    assert out.exists() and (tmp_path / "p.png").stat().st_size > 1000
    assert ldrx.load(out).hyper.hidden == (4,)
    rc = main(["eval", str(out), str(data)])
    assert rc == 0 and "F RMSE" in capsys.readouterr().out


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["fit", "example", "--model", "nope"]) == 2
    assert "unknown model family" in capsys.readouterr().err
