"""MTP basis of a given level, in MLIP's encoding (alpha_index_basic / alpha_index_times /
alpha_moment_mapping), generated from the selection rule rather than read from template files.

Rule (Shapeev, Multiscale Model. Simul. 14, 1153, 2016; MLIP's level templates): a moment tensor
M_{mu,nu} = sum_j f_mu(r_ij) rh_ij^{(x) nu} has level 2 + 4 mu + nu. A basis function is a full
contraction, without self-contraction, of a product of at most four moment tensors (a loopless
multigraph whose vertices are the tensors and whose vertex degrees are their ranks nu; disconnected
graphs, i.e. products of scalars, included), counted once per isomorphism class; its level is the sum of
its tensors' levels. Level L keeps those of level <= L, with MLIP's caps mu <= 5 and nu <= 10. This
reproduces the counts of every MLIP template (levels 2 to 26; tests/test_mtp.py checks them).

Encoding. The basic moments are all components {mu, a, b, c} (a + b + c = nu) of the tensors used. Each
basis function is expanded into a polynomial in the basic moments (the contraction summed over the axes
of every edge; an edge of multiplicity m with (kx, ky, kz) axis counts contributes the multinomial
m! / (kx! ky! kz!)), and each monomial is a chain of pairwise products whose prefixes are shared between
all basis functions. The nodes and values differ from MLIP's own templates (which contract through
intermediate tensors); the basis functions span the same space.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from math import factorial

LEVELS = tuple(range(2, 30, 2))
MAX_MU = 5
MAX_NU = 10
MAX_FACTORS = 4


def moment_level(mu, nu):
    return 2 + 4 * mu + nu


def radial_funcs_count(level):
    return min(MAX_MU + 1, (level - 2) // 4 + 1)


def check_level(level):
    if level not in LEVELS:
        raise ValueError(f"unsupported MTP level {level!r}: MLIP's levels are {', '.join(map(str, LEVELS))}")
    return int(level)


def _graphs(labels):
    """Loopless multigraphs on vertices with the given (mu, nu) labels (sorted), degree nu each, as
    canonical edge tuples ((u, v, m), ...) up to label-preserving vertex permutations."""
    k = len(labels)
    pairs = [(u, v) for u in range(k) for v in range(u + 1, k)]
    out = set()

    def rec(p, rem, edges):
        if p == len(pairs):
            if all(r == 0 for r in rem):
                out.add(_canonical(labels, edges))
            return
        u, v = pairs[p]
        for m in range(min(rem[u], rem[v]) + 1):
            rem[u] -= m
            rem[v] -= m
            rec(p + 1, rem, edges + ((u, v, m),) if m else edges)
            rem[u] += m
            rem[v] += m

    rec(0, [nu for _, nu in labels], ())
    return sorted(out)


def _canonical(labels, edges):
    k = len(labels)
    best = None
    for perm in itertools.permutations(range(k)):
        if any(labels[perm[i]] != labels[i] for i in range(k)):
            continue
        inv = {perm[i]: i for i in range(k)}  # old vertex -> new position
        e = tuple(sorted((min(inv[u], inv[v]), max(inv[u], inv[v]), m) for u, v, m in edges))
        if best is None or e < best:
            best = e
    return best


@lru_cache(maxsize=None)
def basis_functions(level):
    """[(labels, edges, level)] of every basis function of `level`, ordered by level, then labels, then edges."""
    level = check_level(level)
    moments = [(mu, nu) for mu in range(MAX_MU + 1) for nu in range(MAX_NU + 1) if moment_level(mu, nu) <= level]
    out = []
    for k in range(1, MAX_FACTORS + 1):
        for combo in itertools.combinations_with_replacement(moments, k):
            lev = sum(moment_level(*m) for m in combo)
            if lev > level or sum(nu for _, nu in combo) % 2:
                continue
            for edges in _graphs(combo):
                out.append((combo, edges, lev))
    out.sort(key=lambda t: (t[2], len(t[0]), t[0], t[1]))
    return out


def counts(level):
    """(basis functions, radial functions, basic moments) of a level, without building its products."""
    funcs = basis_functions(level)
    used = {m for labels, _, _ in funcs for m in labels}
    return len(funcs), max(mu for mu, _ in used) + 1, sum((nu + 1) * (nu + 2) // 2 for _, nu in used)


def _components(nu):
    return [(a, b, nu - a - b) for a in range(nu, -1, -1) for b in range(nu - a, -1, -1)]


def _compositions(m):
    """(kx, ky, kz) with sum m and the multinomial m! / (kx! ky! kz!)."""
    return [((a, b, c), factorial(m) // (factorial(a) * factorial(b) * factorial(c))) for a, b, c in _components(m)]


def _expand(labels, edges, basic_index):
    """Polynomial {sorted tuple of basic indices: integer coefficient} of one contraction."""
    poly = {}
    k = len(labels)
    choices = [_compositions(m) for _, _, m in edges]
    for pick in itertools.product(*choices):
        cnt = [[0, 0, 0] for _ in range(k)]
        coef = 1
        for (u, v, _), (axes, mult) in zip(edges, pick):
            coef *= mult
            for x in range(3):
                cnt[u][x] += axes[x]
                cnt[v][x] += axes[x]
        mono = tuple(sorted(basic_index[(labels[i][0], *cnt[i])] for i in range(k)))
        poly[mono] = poly.get(mono, 0) + coef
    return poly


@lru_cache(maxsize=None)
def generate(level):
    """MLIP encoding of the level's basis: dict with radial_funcs_count, alpha_moments_count,
    alpha_index_basic [[mu, a, b, c]], alpha_index_times [[i, j, mult, k]], alpha_moment_mapping."""
    funcs = basis_functions(level)
    used = sorted({m for labels, _, _ in funcs for m in labels})
    basic, basic_index = [], {}
    for mu, nu in used:
        for a, b, c in _components(nu):
            basic_index[(mu, a, b, c)] = len(basic)
            basic.append([mu, a, b, c])
    n_nodes = len(basic)
    times, mapping, products = [], [], {}

    def product(mono):  # node holding the product of the basic moments in `mono` (len >= 1)
        nonlocal n_nodes
        if len(mono) == 1:
            return mono[0]
        if mono not in products:
            left = product(mono[:-1])
            products[mono] = n_nodes
            times.append([left, mono[-1], 1, n_nodes])
            n_nodes += 1
        return products[mono]

    for labels, edges, _ in funcs:
        poly = _expand(labels, edges, basic_index)
        if len(poly) == 1 and len(next(iter(poly))) == 1 and next(iter(poly.values())) == 1:
            mapping.append(next(iter(poly))[0])  # a scalar moment itself (M_{mu,0})
            continue
        terms = sorted(poly.items())
        lefts = [product(m[:-1]) for m, _ in terms]
        k = n_nodes
        n_nodes += 1
        for (m, c), left in zip(terms, lefts):
            times.append([left, m[-1], int(c), k])
        mapping.append(k)
    return {"radial_funcs_count": max(mu for mu, _ in used) + 1, "alpha_moments_count": n_nodes,
            "alpha_index_basic": basic, "alpha_index_times": times, "alpha_moment_mapping": mapping}
