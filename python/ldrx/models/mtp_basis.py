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
def generate_monomials(level):
    """The same basis, each contraction expanded into monomials of the basic moments (chains of pairwise
    products with shared prefixes). Many more product entries than :func:`generate`; kept as the reference
    the tests compare :func:`generate` with."""
    funcs, used, basic, basic_index = _basic_layout(level)
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


def _basic_layout(level):
    funcs = basis_functions(level)
    used = sorted({m for labels, _, _ in funcs for m in labels})
    basic, basic_index = [], {}
    for mu, nu in used:
        for a, b, c in _components(nu):
            basic_index[(mu, a, b, c)] = len(basic)
            basic.append([mu, a, b, c])
    return funcs, used, basic, basic_index


def _add(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _contraction_steps(labels, edges, order):
    """Vertex-by-vertex contraction of one basis function, vertices taken in `order`.

    After the vertices V merged so far, the partial contraction is a tensor whose free indices are the
    edges from V to each remaining vertex w, grouped by w; as it is contracted with the symmetric M_w, it
    is kept summed over the index tuples of each group: one value per tuple of compositions (K_w) of the
    group sizes. Returns, per step, {new key: {(previous key, basic (mu, a, b, c)): integer coefficient}},
    the first step's previous key being None."""
    k = len(labels)
    pos = {v: i for i, v in enumerate(order)}
    mult = {}
    for u, v, m in edges:
        a, b = sorted((pos[u], pos[v]))
        mult[(a, b)] = mult.get((a, b), 0) + m
    mu = [labels[v][0] for v in order]
    zero = (0, 0, 0)
    # state: key = tuple over later vertices w > s of the composition K_w of the group toward w
    states = None
    steps = []
    for s in range(k):
        later = list(range(s + 1, k))
        choices = [_compositions(mult.get((s, w), 0)) for w in later]
        new = {}
        olds = [((zero,) * (k - 1), 1)] if states is None else list(states)
        for old in olds:
            okey = old[0] if states is None else old
            # okey holds groups toward vertices > s - 1, i.e. index 0 is the group toward s
            into_s = okey[0] if states is not None else zero
            rest = okey[1:] if states is not None else (zero,) * (k - 1 - s)
            for pick in itertools.product(*choices):
                coef = 1
                comp = into_s
                key = []
                for (kappa, c), r in zip(pick, rest):
                    coef *= c
                    comp = _add(comp, kappa)
                    key.append(_add(r, kappa))
                key = tuple(key)
                term = (okey if states is not None else None, (mu[s],) + comp)
                d = new.setdefault(key, {})
                d[term] = d.get(term, 0) + coef
        steps.append(new)
        states = new
    return steps


@lru_cache(maxsize=None)
def generate(level):
    """MLIP encoding of the level's basis: dict with radial_funcs_count, alpha_moments_count,
    alpha_index_basic [[mu, a, b, c]], alpha_index_times [[i, j, mult, k]], alpha_moment_mapping.

    Each basis function is contracted vertex by vertex through intermediate (non-scalar) tensors, as MLIP's
    templates do (Novikov et al. 2021): node = sum of mult x (partial contraction) x (basic moment). Identical
    intermediates are one node, shared between basis functions; of the orders in which a function's tensors
    can be merged, the one that adds the fewest new product entries is used."""
    funcs, used, basic, basic_index = _basic_layout(level)
    n_nodes = len(basic)
    times, mapping, memo = [], [], {}

    def node_of(terms):
        """Node for sum of coef * left * right over terms {(left, right): coef}; shared if seen before."""
        nonlocal n_nodes
        key = tuple(sorted(terms.items()))
        if key not in memo:
            memo[key] = n_nodes
            for (i, j), c in key:
                times.append([i, j, c, n_nodes])
            n_nodes += 1
        return memo[key]

    def plan(labels, edges, order):
        """(product entries it would add, the steps resolved into terms) for one vertex order."""
        steps = _contraction_steps(labels, edges, order)
        return steps

    def build(steps, commit):
        """Resolve the steps into nodes; with commit False, only count the new entries."""
        added = 0
        prev = None  # key -> node, or key -> (basic node, coef) after the first step
        seen = {}
        for s, step in enumerate(steps):
            cur = {}
            for key, terms in step.items():
                if s == 0:
                    ((_, b), c), = terms.items()
                    cur[key] = (basic_index[b], c)
                    continue
                t = {}
                for (okey, b), c in terms.items():
                    left = prev[okey]
                    if isinstance(left, tuple):  # first vertex: a basic moment with a coefficient
                        left, c0 = left
                        c *= c0
                    pair = tuple(sorted((left, basic_index[b])))
                    t[pair] = t.get(pair, 0) + c
                if commit:
                    cur[key] = node_of(t)
                else:
                    tk = tuple(sorted(t.items()))
                    if tk in memo:
                        cur[key] = memo[tk]
                    else:
                        if tk not in seen:
                            seen[tk] = -1 - len(seen)
                            added += len(tk)
                        cur[key] = seen[tk]
            prev = cur
        return added, prev[()]

    for labels, edges, _ in funcs:
        k = len(labels)
        if k == 1:
            mapping.append(basic_index[(labels[0][0], 0, 0, 0)])  # a scalar moment itself (M_{mu,0})
            continue
        best = None
        for order in itertools.permutations(range(k)):
            if order[0] > order[1]:
                continue  # merging the first two vertices is symmetric
            steps = plan(labels, edges, order)
            added, _ = build(steps, False)
            if best is None or added < best[0]:
                best = (added, steps)
        _, node = build(best[1], True)
        if isinstance(node, tuple):
            raise AssertionError("a contraction of several tensors ended on one basic moment")
        mapping.append(node)
    return {"radial_funcs_count": max(mu for mu, _ in used) + 1, "alpha_moments_count": n_nodes,
            "alpha_index_basic": basic, "alpha_index_times": times, "alpha_moment_mapping": mapping}
