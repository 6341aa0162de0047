"""The descriptor-agnostic streamed normal equations (cpp/models/linear_rows.hpp, Descriptor::jacobian)
reproduce SNAP's own streamed normal equations on the bispectrum (per-species blocks, SNAP's per-atom
energy and virial rows expressed through weights)."""

import numpy as np

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
