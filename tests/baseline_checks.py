"""Finite-difference check shared by the repulsive-baseline tests (ZBL, pair wall)."""
import numpy as np
import pytest

import ldrx
from ldrx.models.base import virial_to_stress


def check_baseline_forces_and_stress(b, atoms, h=1e-5):
    """Forces and all six stress components of baseline `b` on `atoms` equal central finite differences of
    its energy (positions, then symmetric strains)."""
    data = ldrx.Dataset.from_atoms(atoms)
    _, F, W = b(data)

    def energy(p):
        return b(ldrx.Dataset.from_atoms(p), forces=False, virial=False)[0][0]
    num = np.zeros_like(F)
    for i in range(len(atoms)):
        for k in range(3):
            e = []
            for sgn in (1, -1):
                p = atoms.copy()
                p.positions[i, k] += sgn * h
                e.append(energy(p))
            num[i, k] = -(e[0] - e[1]) / (2 * h)
    assert np.abs(num - F).max() < 1e-6 * max(1.0, np.abs(F).max())
    # stress = (1/V) dE/d(strain), Voigt xx yy zz yz xz xy
    stress = virial_to_stress(W, data)[0]
    vol = atoms.get_volume()
    for v, (k, l) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        e = []
        for sgn in (1, -1):
            eps = np.zeros((3, 3))
            eps[k, l] = eps[l, k] = sgn * h / (2 if k != l else 1)
            p = atoms.copy()
            p.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
            e.append(energy(p))
        assert stress[v] == pytest.approx((e[0] - e[1]) / (2 * h) / vol, rel=1e-6, abs=1e-8)
