"""The descriptor-agnostic streamed normal equations (cpp/models/linear_rows.hpp, Descriptor::jacobian_by_atom)
that SNAP, qSNAP and MTP share: SNAP's feature map (per-species standardisation, quadratic products, per-atom
energy and virial rows) against rows built explicitly from the descriptor's forward and backward, the plain
linear path against the SNAP path, and sums independent of the thread count."""

import numpy as np
import pytest

import ldrx
from ldrx import _core
from ldrx.descriptors import Bispectrum

from conftest import random_frames


def explicit_snap_rows(desc, data, shift, scale, quadratic, e, F, we, wf, W, wv):
    """SNAP's weighted rows column by column from forward (energy rows) and backward with dE/dG = d column/dG
    (force and virial rows), independent of the Jacobian hook; NaN targets / zero weights left out."""
    impl, batch = desc._impl, data.batch()
    ns, nc = len(desc.species), desc.size
    G = impl.forward(batch)
    spi = np.searchsorted(desc.species, data.numbers)
    Gt = scale[spi] * (G - shift[spi])
    pairs = [(k, l) for k in range(nc) for l in range(k, nc)] if quadratic else []
    P = 1 + nc + len(pairs)
    phi = np.concatenate([np.ones((len(G), 1)), Gt] +
                         ([np.stack([(0.5 if k == l else 1.0) * Gt[:, k] * Gt[:, l] for k, l in pairs], 1)] if pairs else []),
                         axis=1)
    n = ns * P
    cols_F, cols_W = np.zeros((n, data.n_atoms, 3)), np.zeros((n, len(data), 6))
    for s in range(ns):
        on = (spi == s)[:, None]
        for j in range(1, P):
            dEdG = np.zeros_like(G)
            if j <= nc:
                dEdG[:, j - 1] = scale[spi, j - 1]
            else:
                k, l = pairs[j - 1 - nc]
                dEdG[:, k] += Gt[:, l] * scale[spi, k]
                dEdG[:, l] += Gt[:, k] * scale[spi, l]
                if k == l:
                    dEdG[:, k] *= 0.5
            cols_F[s * P + j], cols_W[s * P + j] = impl.backward(batch, np.where(on, dEdG, 0.0))
    rows, y = [], []

    def put(row, target, weight):
        if np.isfinite(target) and weight > 0:
            rows.append(np.sqrt(weight) * row), y.append(np.sqrt(weight) * target)

    for f in range(len(data)):
        a0, a1 = data.offsets[f], data.offsets[f + 1]
        N = a1 - a0
        er = np.zeros(n)
        for i in range(a0, a1):
            er[spi[i] * P:(spi[i] + 1) * P] += phi[i] / N
        put(er, e[f], we[f])
        for a in range(a0, a1):
            for x in range(3):
                put(cols_F[:, a, x], F[a, x], wf[f])
        for v in range(6):
            put(cols_W[:, f, v] / N, W[f, v], wv[f])
    return np.array(rows), np.array(y)


@pytest.mark.parametrize("quadratic", [False, True])
def test_snap_rows_equal_explicit_rows(quadratic):
    """snap_design_matrix and snap_normal_equations (the shared path with SNAP's feature map) against the
    explicit rows: a wrong column, standardisation, product-rule term or row scale fails."""
    data = ldrx.Dataset.from_atoms(random_frames(4, n_atoms=(3, 9), species=(3, 8, 25), seed=4))
    desc = Bispectrum(4 if quadratic else 6, 4.0, radelem={"Li": 0.5, "O": 0.45, "Mn": 0.52})
    ns, nc = len(desc.species), desc.size
    rng = np.random.default_rng(1)
    shift, scale = rng.normal(size=(ns, nc)), rng.uniform(0.5, 2.0, size=(ns, nc))
    e = rng.normal(size=len(data))
    F = rng.normal(size=(data.n_atoms, 3))
    F[2, 1] = np.nan
    W = rng.normal(size=(len(data), 6))
    W[1, 4] = np.nan
    we, wf, wv = (rng.uniform(0.5, 2.0, len(data)) for _ in range(3))
    we[3] = 0.0
    args = (shift, scale, quadratic, e, F, we, wf, W, wv)
    R, y = explicit_snap_rows(desc, data, *args)
    A, b = _core.snap_design_matrix(desc._impl, data.batch(), *args)
    assert A.shape == R.shape
    np.testing.assert_allclose(A, R, rtol=1e-10, atol=1e-12 * np.abs(R).max())
    np.testing.assert_allclose(b, y, rtol=1e-14)
    n = R.shape[1]
    ata, atb = np.zeros((n, n)), np.zeros(n)
    btb, rows = _core.snap_normal_equations(desc._impl, data.batch(), *args, ata, atb)
    assert rows == len(y)
    assert btb == pytest.approx(y @ y, rel=1e-13)
    M = R.T @ R
    assert np.abs(ata - M).max() <= 1e-12 * np.abs(M).max()
    assert np.abs(atb - R.T @ y).max() <= 1e-12 * np.abs(R.T @ y).max()
    np.testing.assert_array_equal(ata, ata.T)


def test_normal_equations_do_not_depend_on_the_thread_count():
    """Chunks of frames fixed by the data, summed in order: bit-identical sums at 1 and 2 threads."""
    data = ldrx.Dataset.from_atoms(random_frames(40, n_atoms=(20, 60), species=(3, 8, 25), seed=5))
    desc = Bispectrum(4, 4.0, radelem={"Li": 0.5, "O": 0.45, "Mn": 0.52})
    ns, nc = len(desc.species), desc.size
    rng = np.random.default_rng(2)
    args = (rng.normal(size=(ns, nc)), rng.uniform(0.5, 2.0, size=(ns, nc)), True, rng.normal(size=len(data)),
            rng.normal(size=(data.n_atoms, 3)), np.ones(len(data)), np.ones(len(data)), None, None)
    n = ns * (1 + nc + nc * (nc + 1) // 2)
    out = []
    n0 = ldrx.get_num_threads()
    try:
        for threads in (1, 2):
            ldrx.set_num_threads(threads)
            ata, atb = np.zeros((n, n)), np.zeros(n)
            btb, _ = _core.snap_normal_equations(desc._impl, data.batch(), *args, ata, atb)
            out.append((ata, atb, btb))
    finally:
        ldrx.set_num_threads(n0)
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    assert out[0][2] == out[1][2]


def test_generic_rows_equal_snap_normal_equations():
    data = ldrx.Dataset.from_atoms(random_frames(5, n_atoms=(4, 12), species=(3, 8, 25), seed=2))
    desc = Bispectrum(4, 4.0, radelem={"Li": 0.5, "O": 0.45, "Mn": 0.52})
    ns, nc = len(desc.species), desc.size
    rng = np.random.default_rng(0)
    N = data.natoms.astype(float)
    e = rng.normal(size=len(data))          # SNAP targets: per atom
    F = rng.normal(size=(data.n_atoms, 3))
    F[3, 2] = np.nan
    W = rng.normal(size=(len(data), 6))     # per atom
    we, wf, wv = (rng.uniform(0.5, 2.0, len(data)) for _ in range(3))
    n = ns * (1 + nc)
    ata_s, atb_s = np.zeros((n, n)), np.zeros(n)
    _core.snap_normal_equations(desc._impl, data.batch(), np.zeros((ns, nc)), np.ones((ns, nc)), False, e, F, we, wf,
                                W, wv, ata_s, atb_s)
    ata_g, atb_g = np.zeros((n, n)), np.zeros(n)
    btb, rows = _core.linear_normal_equations(desc._impl, list(desc.species), data.batch(), False, e * N, F, W * N[:, None],
                                              we / N ** 2, wf, wv / N ** 2, ata_g, atb_g)
    assert rows == len(data) + np.isfinite(F).sum() + 6 * len(data)
    np.testing.assert_allclose(ata_g, ata_s, rtol=1e-11, atol=1e-11 * np.abs(ata_s).max())
    np.testing.assert_allclose(atb_g, atb_s, rtol=1e-11, atol=1e-11 * np.abs(atb_s).max())


def test_accumulators_are_refused_unless_float64_c_contiguous():
    """ata and atb are written in place: a float32 or Fortran-order array would be converted to a copy and the
    sums thrown away, so the binding refuses them."""
    data = ldrx.Dataset.from_atoms(random_frames(2, n_atoms=(4, 8), species=(3, 8), seed=3))
    desc = ldrx.descriptors.Bispectrum(twojmax=2, rcutfac=4.0, radelem={"Li": 0.5, "O": 0.5})
    n = 2 * (1 + desc.size)
    ones = np.ones(len(data))
    args = (desc._impl, list(desc.species), data.batch(), False, ones, np.zeros((data.n_atoms, 3)), None,
            ones, ones, ones)
    for ata, atb in ((np.zeros((n, n), np.float32), np.zeros(n)), (np.zeros((n, n), order="F"), np.zeros(n)),
                     (np.zeros((n, n)), np.zeros(n + 1))):
        with pytest.raises((TypeError, ValueError)):
            _core.linear_normal_equations(*args, ata, atb)
    ata, atb = np.zeros((n, n)), np.zeros(n)
    _core.linear_normal_equations(*args, ata, atb)
    assert ata.any()
