"""SOAP descriptor: agreement with featomic, radial spline accuracy, derivatives, invariances, bad input."""

import numpy as np
import pytest

import ldrx
from ldrx.descriptors import SOAP

from conftest import random_frames
from descriptor_contract import check_backward_by_finite_differences, check_invariances, check_tangent_and_adjoint

SPECIES = (3, 8, 25, 28)


@pytest.fixture(scope="module")
def frames():
    return random_frames(n_frames=3, n_atoms=(5, 12), species=SPECIES, seed=4, density=0.07)


def featomic_features(atoms_list, species, r_cut, n_max, l_max, sigma, width):
    featomic = pytest.importorskip("featomic")
    import metatensor
    hyp = dict(cutoff={"radius": r_cut, "smoothing": {"type": "ShiftedCosine", "width": width}},
               density={"type": "Gaussian", "width": sigma},
               basis={"type": "TensorProduct", "max_angular": l_max,
                      "radial": {"type": "Gto", "max_radial": n_max - 1}, "spline_accuracy": 1e-12})
    calc = featomic.SoapPowerSpectrum(**hyp)
    ts = calc.compute(atoms_list)
    # every neighbour-type pair a <= b, zeros where a frame lacks it
    out = np.zeros((sum(len(a) for a in atoms_list), 0))
    first = np.cumsum([0] + [len(a) for a in atoms_list])
    cols = []
    for a in species:
        for b in species:
            if a > b:
                continue
            width = (l_max + 1) * n_max * n_max
            col = np.zeros((out.shape[0], width))
            for c in species:
                sel = ts.keys.select(metatensor.Labels(["center_type", "neighbor_1_type", "neighbor_2_type"],
                                                       np.array([[c, a, b]], dtype=np.int32)))
                if len(sel) == 0:
                    continue
                blk = ts.block(int(sel[0]))
                samples = np.array(blk.samples.values, copy=True)
                col[first[samples[:, 0]] + samples[:, 1]] = np.array(blk.values, copy=True)
            cols.append(col)
    return np.hstack(cols)


@pytest.mark.parametrize("n_max,l_max,sigma", [(4, 3, 0.4), (6, 5, 0.5)])
def test_matches_featomic(frames, n_max, l_max, sigma):
    """Atom-by-atom overlap matrices P P^T of ldrx (normalize=False) and featomic SoapPowerSpectrum."""
    desc = SOAP(SPECIES, r_cut=4.5, n_max=n_max, l_max=l_max, atom_sigma=sigma, cutoff_width=0.5, normalize=False)
    P = desc.compute(frames)
    X = featomic_features(frames, sorted(SPECIES), 4.5, n_max, l_max, sigma, 0.5)
    assert P.shape[0] == X.shape[0]
    K1, K2 = P @ P.T, X @ X.T
    assert np.abs(K1 - K2).max() <= 1e-8 * np.abs(K2).max()
    # atom by atom, relative to each pair's own scale
    scale = np.sqrt(np.outer(np.diag(K2), np.diag(K2)))
    assert np.abs(K1 - K2).max() / scale.min() < 1e-8 or np.all(np.abs(K1 - K2) <= 1e-8 * scale)


@pytest.mark.parametrize("normalize", [False, True])
def test_equispaced_matches_quippy(normalize):
    """QUIP's soap descriptor (equispaced Gaussians, the GAP default) atom by atom, one quippy descriptor per centre
    species, in QUIP's column order; the last quippy entry is the covariance_sigma0 slot (0)."""
    pytest.importorskip("quippy")
    from quippy.descriptors import Descriptor
    fr = random_frames(n_frames=2, n_atoms=(6, 12), species=(3, 8), seed=4, density=0.07)
    n, l, sig, rc = 6, 4, 0.4, 4.5
    d = SOAP([3, 8], r_cut=rc, n_max=n, l_max=l, atom_sigma=sig, cutoff_width=0.5, radial_basis="equispaced",
             normalize=normalize)
    G = d.compute(fr)[:, d.quip_order()]
    off = 0
    for at in fr:
        for z in (3, 8):
            q = Descriptor(f"soap cutoff={rc} cutoff_transition_width=0.5 l_max={l} n_max={n} atom_sigma={sig} "
                           f"n_species=2 species_Z={{3 8}} Z={z} normalise={'T' if normalize else 'F'} "
                           "radial_basis=EQUISPACED_GAUSS").calc(at)["data"]
            mine = G[off:off + len(at)][at.numbers == z]
            assert q.shape == (len(mine), d.size + 1)
            assert np.all(q[:, -1] == 0)
            assert np.abs(q[:, :-1] - mine).max() < 1e-9 * np.abs(q).max()
        off += len(at)


@pytest.mark.parametrize("normalize", [False, True])
def test_compressed_matches_quippy_nu_R_nu_S(normalize):
    """Darby et al.'s compressed power spectra against quippy's soap nu_R / nu_S, all nine (nu_R, nu_S), atom by
    atom in QUIP's column order (3 species so that every index of the factors is exercised)."""
    pytest.importorskip("quippy")
    from quippy.descriptors import Descriptor
    fr = random_frames(n_frames=2, n_atoms=(6, 10), species=(3, 8, 25), seed=4, density=0.07)
    n, l, sig, rc = 4, 3, 0.4, 4.5
    for nu_R in range(3):
        for nu_S in range(3):
            d = SOAP([3, 8, 25], r_cut=rc, n_max=n, l_max=l, atom_sigma=sig, radial_basis="equispaced",
                     normalize=normalize, nu_R=nu_R, nu_S=nu_S)
            G = d.compute(fr)[:, d.quip_order()]
            off = 0
            for at in fr:
                for z in (3, 8, 25):
                    if not np.any(at.numbers == z):
                        continue
                    q = Descriptor(f"soap cutoff={rc} cutoff_transition_width=0.5 l_max={l} n_max={n} atom_sigma={sig} "
                                   f"n_species=3 species_Z={{3 8 25}} Z={z} normalise={'T' if normalize else 'F'} "
                                   f"nu_R={nu_R} nu_S={nu_S}").calc(at)["data"]
                    mine = G[off:off + len(at)][at.numbers == z]
                    assert q.shape == (len(mine), d.size + 1), (nu_R, nu_S)
                    assert np.abs(q[:, :-1] - mine).max() < 1e-9 * np.abs(q).max(), (nu_R, nu_S)
                off += len(at)


def test_compressed_is_the_contraction_of_the_full_spectrum(frames):
    """Without quippy: every compressed spectrum is a fixed linear contraction of the raw full one (channel and radial
    sums of P_{(a n)(b n') l}); checked for mu1nu1 and (0, 2), with element grouping combined."""
    grp = {"Li": 0, "O": 1, "Mn": 2, "Ni": 2}
    n, l = 3, 2
    full = SOAP(SPECIES, r_cut=4.0, n_max=n, l_max=l, atom_sigma=0.5, normalize=False, compression=grp)
    G = full.compute(frames)
    C = 3
    K = C * n
    iu = [(u, v) for u in range(K) for v in range(u, K)]
    P = np.zeros((len(G), l + 1, K, K))
    for ll in range(l + 1):
        for k, (u, v) in enumerate(iu):
            val = G[:, ll * len(iu) + k] * (1 if u == v else 1 / np.sqrt(2))
            P[:, ll, u, v] = P[:, ll, v, u] = val
    P = P.reshape(len(G), l + 1, C, n, C, n)
    mu1nu1 = SOAP(SPECIES, r_cut=4.0, n_max=n, l_max=l, atom_sigma=0.5, normalize=False, compression=grp,
                  nu_R=1, nu_S=1)
    assert mu1nu1.size == C * n * (l + 1)
    ref = P.sum(axis=(4, 5)).reshape(len(G), l + 1, C * n).reshape(len(G), -1)   # (a, n) against the total density
    np.testing.assert_allclose(mu1nu1.compute(frames), ref, atol=1e-12 * np.abs(ref).max())
    s02 = SOAP(SPECIES, r_cut=4.0, n_max=n, l_max=l, atom_sigma=0.5, normalize=False, compression=grp, nu_R=0, nu_S=2)
    Pab = P.sum(axis=(3, 5))   # [atoms, l, a, b]
    ref = np.stack([Pab[:, :, a, b] * (1 if a == b else np.sqrt(2)) for a in range(C) for b in range(a, C)], axis=-1)
    np.testing.assert_allclose(s02.compute(frames), ref.reshape(len(G), -1), atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("nu", [(1, 1), (0, 2), (2, 1), (1, 0), (0, 1)])
@pytest.mark.parametrize("normalize", [False, True])
def test_compressed_tangent_backward_fd(frames, nu, normalize):
    desc = SOAP(SPECIES, r_cut=4.0, n_max=3, l_max=2, atom_sigma=0.5, normalize=normalize, nu_R=nu[0], nu_S=nu[1])
    check_tangent_and_adjoint(desc, ldrx.Dataset.from_atoms(frames))


def test_mu1nu1_forces_virial_fd_and_invariances(frames):
    """mu1nu1 (with element grouping) through backward: forces and virial against finite differences, and
    rotation / permutation invariance."""
    desc = SOAP(SPECIES, r_cut=4.0, n_max=4, l_max=3, atom_sigma=0.5, radial_basis="equispaced", nu_R=1, nu_S=1,
                compression={"Li": 0, "O": 1, "Mn": 2, "Ni": 2})
    data = ldrx.Dataset.from_atoms([frames[0]])
    check_backward_by_finite_differences(desc, data, rtol=0)
    check_invariances(desc, data, seed=3, rtol=1e-7, atol=1e-12, perm_rtol=1e-7, perm_atol=1e-12)


def test_compressed_sizes_and_names():
    el = ["Li", "O", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu"]
    S, N, L1 = 11, 8, 7
    want = {(0, 0): 1, (0, 1): S, (0, 2): S * (S + 1) // 2, (1, 0): N, (1, 1): S * N, (1, 2): S * S * N,
            (2, 0): N * (N + 1) // 2, (2, 1): S * N * N, (2, 2): S * N * (S * N + 1) // 2}
    for (nu_R, nu_S), per_l in want.items():
        assert SOAP(el, 5.0, 8, 6, 0.5, nu_R=nu_R, nu_S=nu_S).size == per_l * L1
    assert SOAP(el, 5.0, 8, 6, 0.5, nu_R=1, nu_S=1).size == 616
    d = SOAP(["O", "Li"], 4.0, 2, 1, 0.5, nu_R=1, nu_S=1)
    assert d.names == ["O-* n=0,* l=0", "O-* n=1,* l=0", "Li-* n=0,* l=0", "Li-* n=1,* l=0",
                       "O-* n=0,* l=1", "O-* n=1,* l=1", "Li-* n=0,* l=1", "Li-* n=1,* l=1"]
    assert d.params()["nu_R"] == 1 and d.params()["nu_S"] == 1
    for nu_R, nu_S in [(3, 2), (2, -1), (1.5, 1), (True, 1)]:
        with pytest.raises(ValueError, match="nu_R|nu_S"):
            SOAP(["O"], 4.0, 4, 3, 0.5, nu_R=nu_R, nu_S=nu_S)
    with pytest.raises(ValueError, match="nu_R and nu_S must be 0, 1 or 2"):
        ldrx._core.SoapDescriptor([8], [0], 4, 3, 4.0, 0.5, 0.5, True, "gto", 3, 2)


def test_equispaced_radial_spline_and_derivative():
    desc = SOAP([8], r_cut=5.0, n_max=8, l_max=6, atom_sigma=0.5, radial_basis="equispaced")
    assert desc.spline_error < 1e-10
    rmax = max(np.abs(desc._impl.radial(r, exact=True)[0]).max() for r in np.linspace(0, 5, 11))
    h = 1e-5
    for r in np.random.default_rng(0).uniform(0.1, 4.9, 20):
        R, dR = desc._impl.radial(r)
        Re, dRe = desc._impl.radial(r, exact=True)
        assert np.abs(R - Re).max() < 1e-10 * rmax
        fd = (desc._impl.radial(r + h, exact=True)[0] - desc._impl.radial(r - h, exact=True)[0]) / (2 * h)
        np.testing.assert_allclose(dRe, fd, atol=1e-8 * np.abs(fd).max())
        assert np.abs(dR - dRe).max() < 1e-6 * rmax


@pytest.mark.parametrize("normalize", [False, True])
def test_equispaced_tangent_backward_fd(frames, normalize):
    desc = SOAP(SPECIES, r_cut=4.0, n_max=4, l_max=3, atom_sigma=0.5, normalize=normalize, radial_basis="equispaced")
    check_tangent_and_adjoint(desc, ldrx.Dataset.from_atoms(frames))


def test_radial_spline_accuracy():
    desc = SOAP([8], r_cut=5.0, n_max=8, l_max=6, atom_sigma=0.5)
    assert desc.spline_error < 1e-10
    rmax = max(np.abs(desc._impl.radial(r, exact=True)[0]).max() for r in np.linspace(0, 5, 11))
    for r in np.random.default_rng(0).uniform(0, 5, 50):
        R, dR = desc._impl.radial(r)
        Re, dRe = desc._impl.radial(r, exact=True)
        assert np.abs(R - Re).max() < 1e-10 * rmax
        assert np.abs(dR - dRe).max() < 1e-6 * rmax


def test_radial_derivative_exact():
    """The exact radial derivative (1F1(a+1; b+1) route) against central differences."""
    desc = SOAP([8], r_cut=5.0, n_max=6, l_max=4, atom_sigma=0.5)
    h = 1e-5
    for r in (0.3, 1.7, 3.9):
        _, dR = desc._impl.radial(r, exact=True)
        fd = (desc._impl.radial(r + h, exact=True)[0] - desc._impl.radial(r - h, exact=True)[0]) / (2 * h)
        np.testing.assert_allclose(dR, fd, atol=1e-8 * np.abs(fd).max())


@pytest.mark.parametrize("normalize", [False, True])
def test_tangent_backward_fd(frames, normalize):
    desc = SOAP(SPECIES, r_cut=4.0, n_max=4, l_max=3, atom_sigma=0.5, normalize=normalize)
    check_tangent_and_adjoint(desc, ldrx.Dataset.from_atoms(frames))


def test_compressed_tangent_fd(frames):
    desc = SOAP(SPECIES, r_cut=4.0, n_max=3, l_max=2, atom_sigma=0.5, compression={"Li": 0, "O": 1, "Mn": 2, "Ni": 2})
    check_tangent_and_adjoint(desc, ldrx.Dataset.from_atoms(frames))


@pytest.mark.parametrize("basis", ["gto", "equispaced"])
def test_forces_virial_fd(frames, basis):
    """backward's forces and virial against finite differences of E = sum w . q (positions and strain)."""
    desc = SOAP(SPECIES, r_cut=4.0, n_max=4, l_max=3, atom_sigma=0.5, radial_basis=basis)
    check_backward_by_finite_differences(desc, ldrx.Dataset.from_atoms([frames[0]]), rtol=0)


@pytest.mark.parametrize("basis", ["gto", "equispaced"])
def test_invariances(frames, basis):
    desc = SOAP(SPECIES, r_cut=4.0, n_max=4, l_max=4, atom_sigma=0.5, radial_basis=basis)
    check_invariances(desc, ldrx.Dataset.from_atoms([frames[1]]), seed=3, rtol=1e-7, atol=1e-12, perm_rtol=1e-7,
                      perm_atol=1e-12)


def test_layout_names_and_sizes():
    el = ["Li", "O", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu"]
    assert SOAP(el, 5.0, 8, 6, 0.5).size == 27412
    grouped = SOAP(el, 5.0, 8, 6, 0.5, compression={e: (0 if e == "Li" else 1 if e == "O" else 2) for e in el})
    assert grouped.size == 7 * 24 * 25 // 2
    d = SOAP(["O", "Li"], 4.0, 2, 1, 0.5)
    assert d.names[:3] == ["O-O n=0,0 l=0", "O-O n=0,1 l=0", "O-Li n=0,0 l=0"]
    assert len(d.names) == d.size


def test_isolated_atom_and_normalisation():
    from ase import Atoms
    d = SOAP(["O"], 4.0, 4, 3, 0.5, normalize=True)
    q = d.compute(Atoms("O", positions=[[0, 0, 0]]))
    assert np.isclose(np.linalg.norm(q), 1.0)
    n_pairs = 4 * 5 // 2
    assert np.all(q[0, n_pairs:] == 0)   # only l = 0 survives for a lone atom


def test_bad_input():
    with pytest.raises(ValueError, match="n_max"):
        SOAP(["O"], 4.0, 0, 3, 0.5)
    with pytest.raises(ValueError, match="l_max"):
        SOAP(["O"], 4.0, 4, 99, 0.5)
    with pytest.raises(ValueError, match="atom_sigma"):
        SOAP(["O"], 4.0, 4, 3, -1)
    with pytest.raises(ValueError, match="compression"):
        SOAP(["O", "Li"], 4.0, 4, 3, 0.5, compression={"O": 0})
    with pytest.raises(ValueError, match="radial_basis"):
        SOAP(["O"], 4.0, 4, 3, 0.5, radial_basis="poly")
    from ase import Atoms
    with pytest.raises(ValueError, match="not one of the model's species"):
        SOAP(["O"], 4.0, 4, 3, 0.5).compute(Atoms("OH", positions=[[0, 0, 0], [1, 0, 0]]))
