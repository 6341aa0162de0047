"""The command line as a user meets it: commands, outputs, and one-line errors with the right exit status."""
import os

import numpy as np
import pytest

import ldrx
from ldrx.cli import main


@pytest.fixture(scope="module")
def small(tmp_path_factory, ldr_sample):
    d = tmp_path_factory.mktemp("cli")
    data = d / "d.npz"
    ldr_sample.subset(range(30)).save(data)
    return d, data


@pytest.fixture(scope="module")
def fitted(small):
    d, data = small
    out = d / "m.ldrx"
    assert main(["fit", str(data), "--model", "ann", "--epochs", "5", "--set", "hidden=(4,)",
                 "--set", "progress=False", "--out", str(out), "--threads", "1"]) == 0
    return out


def test_fit_and_eval(tmp_path, small, capsys):
    d, data = small
    out = tmp_path / "m.ldrx"
    rc = main(["fit", str(data), "--model", "ann", "--epochs", "5", "--set", "hidden=(4,)",
               "--set", "progress=False", "--out", str(out), "--parity", str(tmp_path / "p.png")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "E RMSE (meV/atom)" in text and "test" in text
    # the log states the data and the model: architecture, cut-offs, parameter count
    assert "30 frames" in text and "27 train, 3 test" in text
    assert "networks 44-4-1 tanh" in text and "radial 8 Å" in text and "parameters" in text
    assert out.exists() and (tmp_path / "p.png").stat().st_size > 10000
    assert ldrx.load(out).hyper.hidden == (4,)
    rc = main(["eval", str(out), str(data)])
    captured = capsys.readouterr()
    assert rc == 0 and "F RMSE" in captured.out
    # eval on data that holds the training frames: says so and reports them apart
    assert "27 of the 30 frames were in the model's training set" in captured.err
    assert "\ntrain " in captured.out and "\nunseen " in captured.out


def _err(capsys):
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert "Traceback" not in err
    return lines[-1]


@pytest.mark.parametrize("argv, code, words", [
    (["fit", "example", "--model", "snap", "--epochs", "300"], 2, ["--epochs 300", "it is a hyper-parameter of ann",
                                                                    "twojmax", "ldrx params snap"]),
    (["fit", "example", "--set", "foo=1"], 2, ["--set foo=1", "no hyper-parameter 'foo'", "hidden"]),
    (["fit", "example", "--set", "nonsense"], 2, ["--set nonsense", "KEY=VALUE"]),
    (["fit", "example", "--set", "hidden=abc"], 2, ["--set hidden=abc", "tuple of integers", "'abc'"]),
    (["fit", "example", "--set", "activation=relu"], 2, ["activation=relu", "tanh"]),
    (["fit", "example", "--model", "nope"], 2, ["--model nope", "ann", "snap"]),
    (["fit", "example", "--model", "snap", "--set", "twojmax=7"], 2, ["twojmax=7", "even"]),
    (["fit"], 2, ["DATA", "'example'"]),
    (["fit", "missing-folder"], 2, ["missing-folder", "no such file"]),
    (["fit", "example", "--epochs", "0"], 2, ["--epochs 0", "at least 1"]),
    (["fit", "example", "--threads", "0"], 2, ["--threads 0", "give 1 to"]),
    (["fit", "example", "--threads", "100000"], 2, ["--threads 100000"]),
    (["fit", "example", "--test-fraction", "1.5"], 2, ["--test-fraction 1.5"]),
    (["eval", "missing.ldrx", "example"], 2, ["missing.ldrx", "no such file"]),
    (["predict", "m.ldrx", "POSCAR", "-o", "out.pdf"], 2, ["out.pdf", ".extxyz", ".csv"]),
    (["params", "nope"], 2, ["nope", "ann"]),
    (["bogus"], 2, ["invalid choice", "fit"]),
])
def test_usage_errors_are_one_line(argv, code, words, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == code
    line = _err(capsys)
    for w in words:
        assert w in line, (w, line)


def test_option_mistakes_fail_before_the_data_is_read(monkeypatch, capsys):
    def boom(*a, **k):
        raise AssertionError("data read before the options were checked")
    monkeypatch.setattr(ldrx, "read", boom)
    assert main(["fit", "example", "--model", "snap", "--set", "ridge=-1"]) == 2
    assert "ridge" in _err(capsys)


def test_model_file_errors(tmp_path, capsys, small):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    assert main(["eval", str(text), "example"]) == 1
    line = _err(capsys)
    assert "notes.txt" in line and "not an ldrx model file" in line and "text file" in line
    assert "pickle" not in line
    folder = tmp_path / "dir"
    folder.mkdir()
    assert main(["eval", str(folder), "example"]) == 2
    assert "is a folder" in _err(capsys)


def test_debug_shows_the_traceback(capsys, monkeypatch):
    monkeypatch.setenv("LDRX_DEBUG", "1")
    assert main(["fit", "example", "--set", "nonsense"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_fit_hints(small, tmp_path, capsys):
    d, data = small
    rc = main(["fit", str(data), "--epochs", "2", "--set", "hidden=(3,)", "--set", "progress=False",
               "--test-fraction", "0", "--parity", str(tmp_path / "p.png")])
    assert rc == 0
    err = capsys.readouterr().err
    assert "the model is not saved; add --out" in err
    assert "the test set is empty" in err and (tmp_path / "p.png").exists()


def test_eval_unlabelled_points_to_predict(fitted, tmp_path, capsys, ldr_sample):
    from ase.io import write
    atoms = ldr_sample.to_atoms()[0]
    atoms.calc = None
    write(tmp_path / "POSCAR", atoms, format="vasp")
    assert main(["eval", str(fitted), str(tmp_path / "POSCAR")]) == 2
    line = _err(capsys)
    assert "no energies or forces" in line and "ldrx predict" in line


def test_data_with_only_impossible_frames_says_so(fitted, tmp_path, capsys):
    """954.xsf (a Li-Ni pair at 0.66 Å) is left out on reading; eval and predict then say that nothing is
    left, not that the data has no labels."""
    import shutil
    shutil.copy(ldrx.io.example_data_path() / "954.xsf", tmp_path / "954.xsf")
    for cmd in ("eval", "predict"):
        assert main([cmd, str(fitted), str(tmp_path / "954.xsf")]) != 0
        err = capsys.readouterr().err
        assert "Li-Ni pair is 0.658 Å apart" in err and "all 1 frame(s) were left out as bad" in err


def test_predict_writes_extxyz_and_tables(fitted, tmp_path, capsys, ldr_sample):
    from ase.io import read, write
    frames = ldr_sample.to_atoms()[:3]
    for a in frames:
        a.calc = None
    write(tmp_path / "POSCAR", frames[0], format="vasp")
    write(tmp_path / "s.cif", frames[1])
    write(tmp_path / "s.extxyz", frames[1:3])
    ldrx.io.write_xsf(tmp_path / "s.xsf", frames[2].numbers, frames[2].positions, frames[2].cell[:])
    files = [str(tmp_path / n) for n in ("POSCAR", "s.cif", "s.extxyz", "s.xsf")]
    out = tmp_path / "pred.extxyz"
    assert main(["predict", str(fitted), *files, "-o", str(out)]) == 0
    got = read(out, ":")
    assert len(got) == 5
    model = ldrx.load(fitted)
    ref = model.predict(frames[0])
    assert got[0].get_potential_energy() == pytest.approx(ref.energy[0], abs=1e-5)
    assert np.allclose(got[0].get_forces(), ref.forces, atol=1e-5)
    assert np.allclose(got[0].get_stress(), ref.stress[0], atol=1e-7)
    capsys.readouterr()
    assert main(["predict", str(fitted), str(tmp_path / "POSCAR")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["structure", "atoms", "formula", "energy_eV"]
    assert float(table[1].split()[3]) == pytest.approx(ref.energy[0], abs=1e-5)
    assert main(["predict", str(fitted), str(tmp_path / "POSCAR"), "-o", str(tmp_path / "t.csv")]) == 0
    assert (tmp_path / "t.csv").read_text().count("\n") == 2


def test_version_params_info(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ldrx {ldrx.__version__}"
    assert main(["params", "ann"]) == 0
    text = capsys.readouterr().out
    for name in ("hidden", "epochs", "force_weight", "radial_cutoff", "repulsion"):
        assert f"\n{name} " in text
    assert "cut-off of the radial Chebyshev descriptor" in text and "Å" in text
    assert main(["params", "qsnap"]) == 0
    text = capsys.readouterr().out
    assert "twojmax" in text and "True" in text.split("\nquadratic")[1].splitlines()[0]
    assert main(["info"]) == 0
    assert "model families" in capsys.readouterr().out


def test_threads_warning_when_cores_are_busy(monkeypatch, capsys):
    import ldrx.cli as cli
    monkeypatch.setattr(cli, "usable_cores", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.5, 3.0, 3.0))
    old = ldrx.get_num_threads()
    try:
        class A:
            threads = 4
        cli.apply_threads(A())
        err = capsys.readouterr().err
        assert "4 threads" in err and "0.5 of 4 cores free" in err and "--threads 1" in err
    finally:
        ldrx.set_num_threads(old)


def test_model_repr(fitted):
    m = ldrx.load(fitted)
    r = repr(m)
    assert r.startswith("<ANN ann: species ") and "Li" in r and f"{m.n_parameters} parameters" in r
    assert "trained on 27 frames" in r and "pair wall" in r   # the default repulsive baseline (repulsion="wall")
    assert "not fitted" in repr(ldrx.models.make_model("snap"))


def test_passive_wait_policy_unless_the_user_chose():
    import subprocess
    import sys
    code = "import os, ldrx; print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    run = lambda extra: subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True,
                                       text=True, check=True).stdout.split()
    assert run({}) == ["PASSIVE", "None"]
    assert run({"OMP_WAIT_POLICY": "active"}) == ["active", "None"]
    assert run({"GOMP_SPINCOUNT": "1000"}) == ["None", "1000"]


def test_set_repulsion_is_accepted_for_every_family():
    """`--set repulsion=...` works for families whose hyper-parameters do not list it (MTP, GAP), as the Python
    API does; a bad value is a usage error naming the option."""
    from ldrx.cli import model_from_options
    from ldrx.errors import UsageError
    for family in ("mtp", "gap", "snap"):
        for value in ("none", "wall", "zbl"):
            m = model_from_options(family, {"repulsion": (f"--set repulsion={value}", value)})
            assert m is not None
    with pytest.raises(UsageError, match="--set repulsion=lj"):
        model_from_options("mtp", {"repulsion": ("--set repulsion=lj", "lj")})
