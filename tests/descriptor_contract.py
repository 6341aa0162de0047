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


def check_backward_by_finite_differences(desc, data, seed=1, h=1e-5, rtol=1e-6, atol=1e-6):
    """backward's forces and virial for E = sum_i w_i . G(i) (random w per atom) equal central finite
    differences of E over the positions of the first frame of `data` and over symmetric strains
    r -> (1 + eps) r (virial W = -dE/d eps, Voigt xx yy zz yz xz xy), to rtol per entry plus atol x the
    largest entry."""
    data = data[0]
    w = np.random.default_rng(seed).normal(size=(data.n_atoms, desc.size))
    energy = lambda d: float(np.sum(w * desc.compute(d)))
    forces, virial = desc.backward(data, w)
    fd = np.zeros_like(forces)
    for a in range(data.n_atoms):
        for x in range(3):
            p, m = data.subset([0]), data.subset([0])
            p.positions[a, x] += h
            m.positions[a, x] -= h
            fd[a, x] = -(energy(p) - energy(m)) / (2 * h)
    np.testing.assert_allclose(forces, fd, rtol=rtol, atol=atol * np.abs(fd).max())
    pairs = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    fdv = np.zeros(6)
    for v, (a, b) in enumerate(pairs):
        e = np.zeros((3, 3))
        e[a, b] = e[b, a] = h / (1 if a == b else 2)
        out = []
        for sign in (1, -1):
            d = data.subset([0])
            d.positions[:] = data.positions @ (np.eye(3) + sign * e).T
            d.cells[:] = data.cells @ (np.eye(3) + sign * e).T
            out.append(energy(d))
        fdv[v] = -(out[0] - out[1]) / (2 * h)
    np.testing.assert_allclose(virial[0], fdv, rtol=rtol, atol=atol * np.abs(fdv).max())


def check_force_rows_agree_with_backward(desc, data, seed=4):
    """For descriptors with force_rows (per-atom, per-centre-species derivative rows, as linear fits use
    them): the rows contracted with per-species coefficients beta equal backward's forces and virial."""
    beta = np.random.default_rng(seed).normal(size=(len(desc.species), desc.size))
    sp = np.array([desc.species.index(z) for z in data.numbers])
    forces, virial = desc.backward(data, beta[sp])
    rows, vir = desc.force_rows(data)
    assert rows.shape == (data.n_atoms, len(desc.species), 3, desc.size)
    np.testing.assert_allclose(np.einsum("atxk,tk->ax", rows, beta), forces, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.einsum("ftvk,tk->fv", vir, beta), virial, rtol=1e-10, atol=1e-9)


def check_invariances(desc, data, seed=0, rtol=1e-10, atol=1e-9, perm_rtol=1e-12, perm_atol=1e-10):
    """compute is unchanged, per atom, by a random rotation plus translation of every frame of `data` (cell
    rotated with it; to rtol/atol) and permutes with a random permutation of each frame's atoms (to
    perm_rtol/perm_atol)."""
    G = desc.compute(data)
    rng = np.random.default_rng(seed)
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    moved, permuted, perms = [], [], []
    for a in data.to_atoms():
        b = a.copy()
        b.set_cell(a.cell @ rot.T, scale_atoms=False)
        b.positions = a.positions @ rot.T + rng.normal(size=3)
        moved.append(b)
        p = rng.permutation(len(a))
        perms.append(p)
        permuted.append(a[p])
    np.testing.assert_allclose(desc.compute(moved), G, rtol=rtol, atol=atol)
    Gp = desc.compute(permuted)
    for f, p in enumerate(perms):
        s = slice(data.offsets[f], data.offsets[f + 1])
        np.testing.assert_allclose(Gp[s], G[s][p], rtol=perm_rtol, atol=perm_atol)
