"""The descriptor-agnostic streamed normal equations (cpp/models/linear_rows.hpp, Descriptor::jacobian)
reproduce SNAP's own streamed normal equations on the bispectrum (per-species blocks, SNAP's per-atom
energy and virial rows expressed through weights)."""

import numpy as np
import pytest

import ldrx
from ldrx import _core
from ldrx.descriptors import Bispectrum

from conftest import random_frames


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
