"""A deliberately naive aenet Chebyshev descriptor (pair by pair, triplet by triplet), written straight
from Artrith, Urban, Ceder, PRB 96, 014112 (2017) and aenet 2.0.4 conventions, as a test oracle."""

import numpy as np
from ase.neighborlist import neighbor_list


def fc(r, rc):
    return np.where(r < rc, 0.5 * (np.cos(np.pi * r / rc) + 1.0), 0.0)


def cheb(x, n):
    T = [np.ones_like(x), x]
    for k in range(2, n + 1):
        T.append(2 * x * T[-1] - T[-2])
    return np.array(T[: n + 1])


def naive_chebyshev(atoms, species, rc_r=8.0, n_r=16, rc_a=6.5, n_a=4, weights=None):
    ns = len(species)
    if weights is None:
        weights, v = [], -(ns // 2)
        for _ in range(ns):
            if ns % 2 == 0 and v == 0:
                v += 1
            weights.append(v)
            v += 1
    wmap = {z: w for z, w in zip(species, weights)}
    multi = ns > 1
    d = (n_r + 1 + n_a + 1) * (2 if multi else 1)
    G = np.zeros((len(atoms), d))
    i_, j_, D_ = neighbor_list("ijD", atoms, max(rc_r, rc_a))
    for i in range(len(atoms)):
        sel = i_ == i
        D = D_[sel]
        s = np.array([wmap[z] for z in atoms.numbers[j_[sel]]], float)
        r = np.linalg.norm(D, axis=1)
        rad = cheb(2 * r / rc_r - 1, n_r) * fc(r, rc_r)
        G[i, : n_r + 1] = rad.sum(axis=1)
        if multi:
            G[i, n_r + 1 + n_a + 1: 2 * (n_r + 1) + n_a + 1] = (rad * s).sum(axis=1)
        a = r < rc_a
        Da, ra, sa = D[a], r[a], s[a]
        for j in range(len(ra)):
            for k in range(j + 1, len(ra)):
                c = Da[j] @ Da[k] / (ra[j] * ra[k])
                f = fc(ra[j], rc_a) * fc(ra[k], rc_a)
                T = cheb(np.array(c), n_a)
                G[i, n_r + 1: n_r + 1 + n_a + 1] += T * f
                if multi:
                    G[i, 2 * (n_r + 1) + n_a + 1:] += T * f * sa[j] * sa[k]
    return G
