"""Data parallelism over MPI (ldrx.parallel): fits on 2 ranks equal a serial fit; a failing rank stops all.

The MPI runs are subprocesses under ``mpiexec`` (skipped when mpi4py or mpiexec are missing)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ldrx
from ldrx.parallel import SERIAL, _TreeStack, chunk_bounds, ordered_sum

HERE = Path(__file__).resolve().parent
TIMEOUT = 240


def _mpiexec():
    exe = shutil.which("mpiexec")
    if exe is None:
        cand = Path(sys.executable).parent / "mpiexec"
        exe = str(cand) if cand.exists() else None
    return exe


def _run(n, args, timeout=TIMEOUT):
    pytest.importorskip("mpi4py")
    exe = _mpiexec()
    if exe is None:
        pytest.skip("mpiexec not found")
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(Path(ldrx.__file__).parent.parent), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([exe, "-n", str(n), sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_tree_sum_does_not_depend_on_how_the_leaves_are_cut():
    rng = np.random.default_rng(0)
    leaves = rng.normal(size=(37, 5)) * 10.0 ** rng.integers(-8, 8, size=(37, 1))
    whole = ordered_sum(leaves, 0, SERIAL)
    for cuts in ([0, 37], [0, 1, 37], [0, 13, 14, 30, 37], [0, 5, 10, 15, 20, 25, 30, 35, 37]):
        full = _TreeStack()
        for a, b in zip(cuts[:-1], cuts[1:]):
            part = _TreeStack()
            for k in range(a, b):
                part.push(0, k, leaves[k].copy())
            for entry in part.stack:
                full.push(*entry)
        assert np.array_equal(full.total(), whole)
    assert np.allclose(whole, leaves.sum(axis=0), rtol=1e-12, atol=0)


def test_chunk_bounds_match_the_trainer_rule():
    b = chunk_bounds(100, 3000)
    assert b[0] == 0 and b[-1] == 100 and len(b) - 1 == 6
    assert list(chunk_bounds(10, frames_per_chunk=4)) == [0, 4, 8, 10]


@pytest.fixture(scope="module")
def mpi_results(tmp_path_factory):
    """SNAP, qSNAP and ANN (20 epochs, with forces) fitted on 2 ranks and on 1 rank, and serially here."""
    out = tmp_path_factory.mktemp("mpi")
    res = {}
    for n in (1, 2):
        r = _run(n, [str(HERE / "mpi_fit_check.py"), str(out / f"r{n}.npz"), "60"])
        assert r.returncode == 0, r.stderr[-3000:]
        res[n] = dict(np.load(out / f"r{n}.npz"))
    return res


def test_two_ranks_equal_one(mpi_results):
    one, two = mpi_results[1], mpi_results[2]
    assert int(two["ranks"]) == 2
    for key in ("snap", "qsnap"):
        assert np.allclose(two[key], one[key], rtol=1e-10, atol=0), key
    for key in ("ann", "ann_mean", "ann_std", "annv"):
        assert np.allclose(two[key], one[key], rtol=1e-8, atol=1e-12), key
    assert float(two["valid_e"]) == pytest.approx(float(one["valid_e"]), rel=1e-8)
    # in fact the reductions make them identical, bit for bit
    assert all(np.array_equal(one[k], two[k]) for k in one if k != "ranks")


def test_ranks_equal_a_serial_fit(mpi_results):
    """The same fits without MPI (comm=None) in this process: the same bits."""
    import importlib.util
    import warnings
    spec = importlib.util.spec_from_file_location("mpi_fit_check", HERE / "mpi_fit_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # the ranks run with OMP_NUM_THREADS=1: the serial fits here run with one thread too, for ldrx and for
    # OpenBLAS (the qSNAP Cholesky's last bits depend on OpenBLAS's thread count, not on the ranks)
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = ldrx.get_num_threads()
    try:
        ldrx.set_num_threads(1)
        with warnings.catch_warnings(), threadpoolctl.threadpool_limits(1):
            warnings.simplefilter("ignore")
            serial = mod.fits(None, 60)
    finally:
        ldrx.set_num_threads(before)
    for key, value in serial.items():
        if key != "ranks":
            assert np.array_equal(np.asarray(value), mpi_results[2][key]), key


def _folder(tmp_path, n, bad=None):
    """The first n good sample frames (ldrx.read refuses 13.xsf, the first file), frame `bad` cut short."""
    refused = {"13.xsf", "954.xsf", "2188.xsf", "2218.xsf", "2225.xsf"}
    src = [f for f in sorted(ldrx.io.example_data_path().glob("*.xsf"), key=ldrx.io._natural_key)
           if f.name not in refused][:n]
    for i, f in enumerate(src):
        text = f.read_text()
        (tmp_path / f"{i:02d}.xsf").write_text(text[:len(text) // 2] if i == bad else text)
    return tmp_path


def test_a_rank_that_cannot_read_its_shard_stops_every_rank(tmp_path):
    folder = _folder(tmp_path, 12, bad=9)  # in rank 1's half
    r = _run(2, ["-m", "ldrx.cli", "fit", str(folder), "--model", "snap", "--strict", "--set", "twojmax=2"],
             timeout=120)
    assert r.returncode != 0
    assert "09.xsf" in r.stderr and "rank 1" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_fit_over_two_ranks_prints_the_serial_numbers(tmp_path):
    args = ["fit", str(_folder(tmp_path, 40)), "--model", "snap", "--set", "twojmax=2", "--set", "chunk_frames=6",
            "--out", str(tmp_path / "m.ldrx")]
    r = _run(2, ["-m", "ldrx.cli", *args])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "MPI ranks 2" in r.stdout
    serial = subprocess.run([sys.executable, "-m", "ldrx.cli", *args[:-1], str(tmp_path / "s.ldrx")],
                            capture_output=True, text=True, timeout=TIMEOUT,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert serial.returncode == 0, serial.stderr[-3000:]
    table = [ln for ln in r.stdout.splitlines() if ln.startswith(("train", "test"))]
    assert table and table == [ln for ln in serial.stdout.splitlines() if ln.startswith(("train", "test"))]
    assert np.array_equal(ldrx.load(tmp_path / "m.ldrx").coefficients, ldrx.load(tmp_path / "s.ldrx").coefficients)


def test_ann_chunk_partials_sum_to_the_trainer_loss_and_gradient(ldr_sample):
    """The per-chunk partials that fits reduce (in tree order) add up to the C++ trainer's own sum."""
    from ldrx.models.ann import ANN
    data = ldr_sample[:40]
    m = ANN(epochs=0, hidden=(4,), radial_order=4, angular_order=2, radial_cutoff=5.0, angular_cutoff=4.0,
            progress=False, force_weight=0.5).fit(data)
    tr = m._trainer(data, None, None, np.random.default_rng(0), bounds=chunk_bounds(len(data), data.n_atoms))
    theta = m.theta + 0.1
    parts = tr.chunk_partials(theta)
    assert parts.shape == (tr.n_chunks, 6 + len(theta)) and tr.n_chunks > 1
    tot = ordered_sum(parts, 0, SERIAL)
    loss, grad, info = tr.loss_grad(theta)
    assert tot[0] + tot[1] == pytest.approx(loss, rel=1e-13)
    assert np.allclose(tot[6:], grad, rtol=1e-12, atol=1e-14 * np.abs(grad).max())
    assert tot[3] == info["energy_count"] and tot[5] == info["force_count"]
