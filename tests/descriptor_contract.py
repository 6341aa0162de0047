"""Checks of the descriptor contract (DESIGN.md) that every descriptor must pass."""

import numpy as np


def check_tangent_and_adjoint(desc, data, seed=2, h=1e-5, rtol=1e-6):
    """tangent(v) equals the central finite difference of compute along v, and tangent and backward are
    adjoint: <J v, w> = <v, J^T w>, where J^T w = -forces of E = sum w . G."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(data.n_atoms, 3))
    dG = desc.tangent(data, v)
    p, m = data.subset(range(len(data))), data.subset(range(len(data)))
    p.positions += h * v
    m.positions -= h * v
    fd = (desc.compute(p) - desc.compute(m)) / (2 * h)
    np.testing.assert_allclose(dG, fd, rtol=0, atol=rtol * np.abs(fd).max())
    w = rng.normal(size=dG.shape)
    forces, _ = desc.backward(data, w)
    assert np.isclose(np.sum(dG * w), -np.sum(forces * v), rtol=1e-10)
