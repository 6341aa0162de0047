"""Every array that crosses into C++ is checked (shape, dtype, layout), arrays written in place are never
silently converted, OpenMP teams smaller than requested and exceptions inside parallel regions are
handled, and the thread setting is process-wide."""

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import ldrx
from ldrx import _core
from ldrx.descriptors import Bispectrum, Chebyshev

from conftest import random_frames

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data():
    return ldrx.Dataset.from_atoms(random_frames(4, (5, 9), species=(3, 8, 25), seed=11))


@pytest.fixture(scope="module")
def cheb():
    return Chebyshev(["Li", "O", "Mn"], radial_cutoff=4.0, radial_order=4, angular_cutoff=3.5, angular_order=2)


# ------------------------------------------------------------------ shapes, dtypes, layouts
def test_transposed_dEdG_is_refused(data, cheb):
    G = cheb.compute(data)
    assert G.shape[0] != G.shape[1]
    dEdG = np.random.default_rng(0).normal(size=G.shape)
    F, W = cheb.backward(data, dEdG)                      # right shape: fine
    with pytest.raises(ValueError, match=r"dEdG must have shape \(%d, %d\)" % G.shape):
        cheb.backward(data, np.ascontiguousarray(dEdG.T))  # same size, wrong shape: refused
    with pytest.raises(ValueError, match="dEdG must have shape"):
        cheb._impl.backward(data.batch(), dEdG.reshape(-1))
    # a Fortran-order or float32 *input* is converted (read only), with the same result
    F2, _ = cheb._impl.backward(data.batch(), np.asfortranarray(dEdG))
    np.testing.assert_array_equal(F, F2)
    with pytest.raises(ValueError, match="v must have shape"):
        cheb.tangent(data, np.zeros((3, data.n_atoms)))


def test_batch_arrays_are_checked(data):
    b = (data.numbers, data.positions, data.cells, data.pbc.view(np.uint8), data.offsets)
    _core.Batch(*b)
    with pytest.raises(ValueError, match="offsets must hold integers"):
        _core.Batch(b[0], b[1], b[2], b[3], b[4].astype(float))
    with pytest.raises(ValueError, match="numbers must hold integers"):
        _core.Batch(b[0].astype(float), *b[1:])
    with pytest.raises(ValueError, match=r"positions must have shape \(%d, 3\)" % data.n_atoms):
        _core.Batch(b[0], np.ascontiguousarray(b[1].T), *b[2:])
    with pytest.raises(ValueError, match="cells must have shape"):
        _core.Batch(b[0], b[1], b[2].reshape(-1, 9), *b[3:])
    bad = b[4].copy()
    bad[2] = bad[1] - 1
    with pytest.raises(ValueError, match="must never decrease"):
        _core.Batch(*b[:4], bad)
    with pytest.raises(ValueError, match=r"offsets\[0\] must be 0"):
        _core.Batch(*b[:4], b[4] + 1)
    with pytest.raises(ValueError, match="does not fit"):
        _core.Batch(b[0].astype(np.int64) + 2 ** 33, *b[1:])


def test_ann_trainer_validates_offsets_and_arrays(data, cheb):
    nets = _core.AtomicNetworks([[cheb.size, 3, 1]] * 3, [[1, 0]] * 3)
    x = np.zeros((data.n_atoms, cheb.size))
    spi = np.searchsorted([3, 8, 25], data.numbers).astype(np.int32)
    e = np.zeros(len(data))
    w = np.ones(len(data))
    _core.ANNTrainer(nets, x, spi, data.offsets, e, w)
    bad = data.offsets.copy()
    bad[1], bad[2] = bad[2], bad[1]
    with pytest.raises(ValueError, match="must never decrease"):
        _core.ANNTrainer(nets, x, spi, bad, e, w)
    with pytest.raises(ValueError, match=r"offsets\[0\] must be 0"):
        _core.ANNTrainer(nets, x, spi, data.offsets + 1, e, w)
    with pytest.raises(ValueError, match="x must have shape"):      # offsets that end early
        _core.ANNTrainer(nets, x, spi, np.r_[data.offsets[:-1], data.offsets[-1] - 1], e, w)
    with pytest.raises(ValueError, match="species must hold integers"):
        _core.ANNTrainer(nets, x, spi.astype(float), data.offsets, e, w)
    with pytest.raises(ValueError, match="x must have shape"):
        _core.ANNTrainer(nets, np.ascontiguousarray(x.T), spi, data.offsets, e, w)
    t = _core.ANNTrainer(nets, x, spi, data.offsets, e, w)
    with pytest.raises(ValueError, match="theta must have shape"):
        t.loss_grad(np.zeros(nets.n_params + 1))
    with pytest.raises(ValueError, match="x must have shape"):
        nets.evaluate(np.zeros(nets.n_params), x[:, :-1], spi)


def test_in_place_accumulators_are_never_converted(data):
    desc = Bispectrum(2, 3.0, radelem={"Li": 0.5, "O": 0.5, "Mn": 0.5})
    ns, nc = 3, desc.size
    n = ns * (1 + nc)
    args = (desc._impl, data.batch(), np.zeros((ns, nc)), np.ones((ns, nc)), False, np.ones(len(data)),
            np.zeros((data.n_atoms, 3)), np.ones(len(data)), np.ones(len(data)), None, None)
    ata, atb = np.zeros((n, n)), np.zeros(n)
    _core.snap_normal_equations(*args, ata, atb)
    assert np.abs(ata).sum() > 0 and np.abs(atb).sum() > 0     # written in place
    with pytest.raises(ValueError, match="ata is written in place and must be float64"):
        _core.snap_normal_equations(*args, np.zeros((n, n), np.float32), atb)
    with pytest.raises(ValueError, match="ata is written in place and must be C-contiguous"):
        _core.snap_normal_equations(*args, np.zeros((n, n), order="F"), atb)
    with pytest.raises(ValueError, match="atb is written in place and must be C-contiguous"):
        _core.snap_normal_equations(*args, ata, np.zeros(2 * n)[::2])
    ro = np.zeros(n)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _core.snap_normal_equations(*args, ata, ro)
    with pytest.raises(ValueError, match=r"ata must have shape \(%d, %d\)" % (n, n)):
        _core.snap_normal_equations(*args, np.zeros(n * n), atb)
    with pytest.raises(ValueError, match="forces must have shape"):
        _core.snap_normal_equations(*args[:6], np.zeros((3, data.n_atoms)), *args[7:], ata, atb)
    with pytest.raises(ValueError, match="coefficients must have shape"):
        _core.snap_energy_forces(desc._impl, data.batch(), np.zeros((1 + nc, ns)), False, True)


# ------------------------------------------------------------------ threads
def test_set_num_threads_is_global_and_checked():
    before = ldrx.get_num_threads()
    try:
        for bad in (0, -2):
            with pytest.raises(ValueError, match=">= 1"):
                ldrx.set_num_threads(bad)
        assert ldrx.get_num_threads() == before
        t = threading.Thread(target=ldrx.set_num_threads, args=(before + 2,))
        t.start()
        t.join()
        assert ldrx.get_num_threads() == before + 2     # set in another thread, seen here
    finally:
        ldrx.set_num_threads(before)


def test_results_do_not_depend_on_the_thread_setting(data, cheb):
    before = ldrx.get_num_threads()
    try:
        ldrx.set_num_threads(1)
        G1 = cheb.compute(data)
        ldrx.set_num_threads(3)
        G3 = cheb.compute(data)
    finally:
        ldrx.set_num_threads(before)
    np.testing.assert_allclose(G1, G3, rtol=1e-13, atol=1e-13)


_NL_SCRIPT = textwrap.dedent("""
    import numpy as np, ldrx
    from ldrx import _core
    import sys
    sys.path.insert(0, {tests!r})
    from conftest import random_frames
    atoms = random_frames(1, (300, 301), seed=3)[0]
    b = ldrx.Dataset.from_atoms([atoms]).batch()
    one = _core.neighbour_list(b, 0, 6.0, 1)
    many = _core.neighbour_list(b, 0, 6.0, 4)
    for x, y in zip(one, many):
        assert np.array_equal(x, y), "neighbour list differs from the single-thread one"
    print("ok", len(one[1]))
""")


@pytest.mark.skipif(not _core.has_openmp(), reason="needs OpenMP")
@pytest.mark.parametrize("env", [{"OMP_THREAD_LIMIT": "2"}, {"OMP_THREAD_LIMIT": "1"},
                                 {"OMP_DYNAMIC": "true", "OMP_NUM_THREADS": "4"}])
def test_neighbour_list_with_a_smaller_team(env):
    """OpenMP may grant fewer threads than a region asks for; every atom must still be scanned."""
    # the subprocess imports the same ldrx as this test run (the installed package, or python/ in a dev tree)
    pkg_root = str(Path(ldrx.__file__).resolve().parent.parent)
    full = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([pkg_root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _NL_SCRIPT.format(tests=str(ROOT / "tests"))], env=full,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok") and int(out.stdout.split()[1]) > 0


def test_errors_inside_parallel_regions_reach_python(data, cheb):
    """An exception thrown by a worker thread is carried out of the region as a Python exception
    naming the frame, whichever way the loop is split (over frames, or over the atoms of a frame)."""
    before = ldrx.get_num_threads()
    bad = ldrx.Dataset(data.numbers, data.positions, data.cells.copy(), data.pbc, data.offsets, check=False)
    bad.cells[2] = 0.0    # a periodic frame without a cell: the neighbour list refuses it
    try:
        for threads in (1, 2, 8):   # 8 threads, 4 frames: atoms of each frame split over threads
            ldrx.set_num_threads(threads)
            with pytest.raises(ValueError, match="frame 2: periodic lattice vector"):
                cheb.compute(bad)
            with pytest.raises(ValueError, match="frame 2"):
                bad.closest_pairs(0.5)
    finally:
        ldrx.set_num_threads(before)


def test_trainer_is_safe_from_two_python_threads(data, cheb):
    """Two Python threads training on the same trainer (force term: its neighbour-list cache fills on
    first use) get the same loss and gradient as one."""
    nets = _core.AtomicNetworks([[cheb.size, 4, 1]] * 3, [[1, 0]] * 3)
    G = cheb.compute(data)
    spi = np.searchsorted([3, 8, 25], data.numbers).astype(np.int32)
    forces = np.random.default_rng(1).normal(size=(data.n_atoms, 3))

    def make():
        return _core.ANNTrainer(nets, G, spi, data.offsets, np.zeros(len(data)), np.ones(len(data)),
                                force_weight=1.0, descriptor=cheb._impl, batch=data.batch(),
                                inv_sigma=np.ones((3, cheb.size)), forces=forces,
                                force_frames=np.ones(len(data), np.uint8))
    theta = np.random.default_rng(2).normal(0, 0.3, nets.n_params)
    ref_loss, ref_grad, _ = make().loss_grad(theta)
    shared = make()
    results = [None] * 6

    def work(k):
        results[k] = shared.loss_grad(theta)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for loss, grad, _ in results:
        assert loss == ref_loss
        np.testing.assert_array_equal(grad, ref_grad)


def test_complex_and_list_inputs(data, cheb):
    G = cheb.compute(data)
    F, _ = cheb.backward(data, G.tolist())               # nested lists are arrays too
    np.testing.assert_array_equal(F, cheb.backward(data, G)[0])
    with pytest.raises(ValueError, match="dEdG must hold real numbers"):
        cheb.backward(data, G.astype(complex))


def test_reference_energies_do_not_depend_on_blas_threads(ldr_sample):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    train, _ = ldr_sample.split(0.1, seed=0)
    out = []
    for n in (1, 2, 4):
        with threadpoolctl.threadpool_limits(n):
            out.append(train.fit_reference_energies())
    assert out[0] == out[1] == out[2]
