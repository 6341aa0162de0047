#include "descriptors/moment_tensor.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ldrx {

MomentTensorBasis::MomentTensorBasis(MTPBasisSpec spec, std::vector<double> radial_coeffs)
    : s_(std::move(spec)), radial_(std::move(radial_coeffs)), map_(s_.species) {
    if (s_.n_mu < 1 || s_.n_q < 2) throw std::invalid_argument("MTP: radial_funcs_count must be >= 1 and radial_basis_size >= 2");
    if (!(s_.r_cut > s_.r_min) || !(s_.r_min >= 0.0))
        throw std::invalid_argument("MTP: need 0 <= min_dist < max_dist, got min_dist " + std::to_string(s_.r_min) +
                                    ", max_dist " + std::to_string(s_.r_cut));
    if (s_.basic.size() % 4 || s_.times.size() % 4) throw std::invalid_argument("MTP: basic and times entries have 4 numbers each");
    const int64_t nb = s_.n_basic();
    if (nb < 1) throw std::invalid_argument("MTP: no basic moments");
    if (s_.n_nodes < nb) throw std::invalid_argument("MTP: alpha_moments_count is smaller than alpha_index_basic_count");
    for (int64_t a = 0; a < nb; ++a) {
        const int* e = &s_.basic[4 * a];
        if (e[0] < 0 || e[0] >= s_.n_mu)
            throw std::invalid_argument("MTP: alpha_index_basic entry " + std::to_string(a) + " uses radial function " +
                                        std::to_string(e[0]) + ", but radial_funcs_count is " + std::to_string(s_.n_mu));
        if (e[1] < 0 || e[2] < 0 || e[3] < 0) throw std::invalid_argument("MTP: negative power in alpha_index_basic");
        bmu_.push_back(e[0]);
        ba_.push_back(e[1]);
        bb_.push_back(e[2]);
        bc_.push_back(e[3]);
        bnu_.push_back(e[1] + e[2] + e[3]);
        max_nu_ = std::max(max_nu_, bnu_.back());
    }
    // every component (a, b, c) of degree <= max_nu, by degree, with its parent and lowered neighbours
    {
        const int P = max_nu_ + 1;
        std::vector<int> idx(P * P * P, -1);
        auto at = [&](int a, int b, int c) { return (a * P + b) * P + c; };
        for (int nu = 0; nu <= max_nu_; ++nu)
            for (int a = nu; a >= 0; --a)
                for (int b = nu - a; b >= 0; --b) {
                    const int c = nu - a - b;
                    idx[at(a, b, c)] = static_cast<int>(ca_.size());
                    ca_.push_back(a);
                    cb_.push_back(b);
                    cc_.push_back(c);
                    cnu_.push_back(nu);
                    cxm_.push_back(a ? idx[at(a - 1, b, c)] : -1);
                    cym_.push_back(b ? idx[at(a, b - 1, c)] : -1);
                    czm_.push_back(c ? idx[at(a, b, c - 1)] : -1);
                    if (a) {
                        cpar_.push_back(cxm_.back());
                        caxis_.push_back(0);
                    } else if (b) {
                        cpar_.push_back(cym_.back());
                        caxis_.push_back(1);
                    } else {
                        cpar_.push_back(czm_.back());
                        caxis_.push_back(2);
                    }
                }
        cused_.assign(ca_.size(), 0);
        for (int64_t a = 0; a < nb; ++a) {
            bcomp_.push_back(idx[at(ba_[a], bb_[a], bc_[a])]);
            cused_[bcomp_.back()] = 1;
        }
    }
    for (int64_t t = 0; t < s_.n_times(); ++t) {
        const int* e = &s_.times[4 * t];
        if (e[0] < 0 || e[1] < 0 || e[0] >= s_.n_nodes || e[1] >= s_.n_nodes || e[3] < nb || e[3] >= s_.n_nodes ||
            e[0] >= e[3] || e[1] >= e[3])
            throw std::invalid_argument("MTP: alpha_index_times entry " + std::to_string(t) +
                                        " refers to nodes out of range or not yet computed");
    }
    for (int64_t t = 0; t < s_.n_times(); ++t)
        if (t == 0 || s_.times[4 * t + 3] != s_.times[4 * (t - 1) + 3]) runs_.push_back(static_cast<int>(t));
    runs_.push_back(static_cast<int>(s_.n_times()));
    for (int m : s_.mapping)
        if (m < 0 || m >= s_.n_nodes) throw std::invalid_argument("MTP: alpha_moment_mapping entry out of range");
    if (!radial_.empty() && static_cast<int64_t>(radial_.size()) != s_.n_radial())
        throw std::invalid_argument("MTP: radial coefficients must be [S, S, n_mu, n_q]");
}

void MomentTensorBasis::prepare(MTPWork& w) const {
    w.node.resize(s_.n_nodes);
    w.adj.resize(s_.n_nodes);
}

int MomentTensorBasis::neighbourhood(const FrameView& f, const NeighbourList& nl, int64_t i, const double* radial,
                                     MTPWork& w) const {
    const int ti = map_(f.numbers[i]);
    const int S = s_.n_species(), nmu = s_.n_mu, nq = s_.n_q, P = max_nu_ + 1;
    const int64_t cap = nl.end(i) - nl.begin(i);
    // sized per array: a work area may move between bases of different sizes (thread_local scratch)
    auto fit = [](auto& v, int64_t n) {
        if (static_cast<int64_t>(v.size()) < n) v.resize(n);
    };
    fit(w.type, cap);
    fit(w.entry, cap);
    fit(w.r, cap);
    fit(w.u, 3 * cap);
    fit(w.phi, cap * nq);
    fit(w.dphi, cap * nq);
    fit(w.f, cap * nmu);
    fit(w.df, cap * nmu);
    fit(w.pw, cap * 3 * P);
    fit(w.g, 3 * cap);
    const int nc = n_comp();
    const int64_t ld = std::max<int64_t>(cap, 1);
    w.ld = ld;
    fit(w.ut, 3 * ld);
    fit(w.invr, ld);
    fit(w.fT, nmu * ld);
    fit(w.dfT, nmu * ld);
    fit(w.mono, nc * ld);
    const double rmin = s_.r_min, rc = s_.r_cut, dsdr = 2.0 / (rc - rmin);
    int64_t n = 0;
    for (int64_t p = nl.begin(i); p < nl.end(i); ++p) {
        const double r = nl.dist[p];
        if (!(r < rc)) continue;
        const int tj = map_(f.numbers[nl.index[p]]);
        w.type[n] = tj;
        w.entry[n] = p;
        w.r[n] = r;
        const double inv = 1.0 / r;
        double* u = &w.u[3 * n];
        for (int x = 0; x < 3; ++x) u[x] = nl.vec[3 * p + x] * inv;
        // Chebyshev polynomials of the first kind and their s-derivatives (U-free recurrence on T')
        const double s = (2.0 * r - (rmin + rc)) / (rc - rmin);
        const double c = rc - r, c2 = c * c;
        double* ph = &w.phi[n * nq];
        double* dph = &w.dphi[n * nq];
        double t0 = 1.0, t1 = s, d0 = 0.0, d1 = 1.0;
        ph[0] = c2;
        dph[0] = -2.0 * c;
        ph[1] = s * c2;
        dph[1] = dsdr * c2 - 2.0 * c * s;
        for (int b = 2; b < nq; ++b) {
            const double t2 = 2.0 * s * t1 - t0, d2 = 2.0 * t1 + 2.0 * s * d1 - d0;
            ph[b] = t2 * c2;
            dph[b] = d2 * dsdr * c2 - 2.0 * c * t2;
            t0 = t1;
            t1 = t2;
            d0 = d1;
            d1 = d2;
        }
        const double* cf = radial + (int64_t(ti) * S + tj) * nmu * nq;
        for (int m = 0; m < nmu; ++m) {
            double v = 0.0, dv = 0.0;
            for (int b = 0; b < nq; ++b) {
                v += cf[m * nq + b] * ph[b];
                dv += cf[m * nq + b] * dph[b];
            }
            w.f[n * nmu + m] = w.fT[m * ld + n] = s_.scaling * v;
            w.df[n * nmu + m] = w.dfT[m * ld + n] = s_.scaling * dv;
        }
        for (int x = 0; x < 3; ++x) w.ut[x * ld + n] = u[x];
        w.invr[n] = inv;
        double* pw = &w.pw[n * 3 * P];
        for (int x = 0; x < 3; ++x) {
            pw[x * P] = 1.0;
            for (int k = 1; k < P; ++k) pw[x * P + k] = pw[x * P + k - 1] * u[x];
        }
        ++n;
    }
    w.n = n;
    // monomials, neighbour-inner: mono[c] = mono[parent(c)] * u[axis(c)]
    double* mono = w.mono.data();
    std::fill(mono, mono + n, 1.0);
    for (int c = 1; c < nc; ++c) {
        const double* par = mono + cpar_[c] * ld;
        const double* ux = w.ut.data() + caxis_[c] * ld;
        double* out = mono + c * ld;
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) out[j] = par[j] * ux[j];
    }
    return ti;
}

void MomentTensorBasis::moments(MTPWork& w) const {
    const int64_t nb = s_.n_basic(), n = w.n, ld = w.ld;
    double* node = w.node.data();
    std::fill(node + nb, node + s_.n_nodes, 0.0);
    for (int64_t a = 0; a < nb; ++a) {
        const double* f = &w.fT[bmu_[a] * ld];
        const double* m = &w.mono[bcomp_[a] * ld];
        double v = 0.0;
#pragma omp simd reduction(+ : v)
        for (int64_t j = 0; j < n; ++j) v += f[j] * m[j];
        node[a] = v;
    }
    const int* t = s_.times.data();
    for (size_t r = 0; r + 1 < runs_.size(); ++r) {
        const int* e = t + 4 * runs_[r];
        const int* end = t + 4 * runs_[r + 1];
        double v = node[e[3]];
        for (const int* q = e; q < end; q += 4) v += q[2] * node[q[0]] * node[q[1]];
        node[e[3]] = v;
    }
}

void MomentTensorBasis::reverse(MTPWork& w) const {
    double* adj = w.adj.data();
    const double* node = w.node.data();
    for (size_t r = runs_.size() - 1; r-- > 0;) {
        const double ak = adj[s_.times[4 * runs_[r] + 3]];
        if (ak == 0.0) continue;
        for (int k = runs_[r + 1] - 1; k >= runs_[r]; --k) {
            const int* t = &s_.times[4 * k];
            const double a = t[2] * ak;
            adj[t[0]] += a * node[t[1]];
            adj[t[1]] += a * node[t[0]];
        }
    }
}

void MomentTensorBasis::pair_gradients(MTPWork& w) const {
    // d/dr_ij [f(r) P(u)] = (f' - nu f / r) P u + (f / r) grad_u P   (P homogeneous of degree nu in u).
    // Adjoints of the radial functions (gf) and monomials (gm) per neighbour, then the chain rule per component.
    const int64_t nb = s_.n_basic(), n = w.n, ld = w.ld;
    const int nmu = s_.n_mu, nc = n_comp();
    auto fit = [](std::vector<double>& v, int64_t k) {
        if (static_cast<int64_t>(v.size()) < k) v.resize(k);
    };
    fit(w.gf, nmu * ld);
    fit(w.gm, nc * ld);
    fit(w.acc, 4 * ld);
    std::fill(w.gf.begin(), w.gf.begin() + nmu * ld, 0.0);
    std::fill(w.gm.begin(), w.gm.begin() + nc * ld, 0.0);
    const double* adj = w.adj.data();
    for (int64_t a = 0; a < nb; ++a) {
        const double c = adj[a];
        if (c == 0.0) continue;
        const double* f = &w.fT[bmu_[a] * ld];
        const double* m = &w.mono[bcomp_[a] * ld];
        double* gf = &w.gf[bmu_[a] * ld];
        double* gm = &w.gm[bcomp_[a] * ld];
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) {
            gf[j] += c * m[j];
            gm[j] += c * f[j];
        }
    }
    double* rad = w.acc.data();  // radial part (times u), then gx, gy, gz (times 1/r)
    double *gx = rad + ld, *gy = gx + ld, *gz = gy + ld;
    std::fill(rad, rad + 4 * ld, 0.0);
    for (int m = 0; m < nmu; ++m) {
        const double* gf = &w.gf[m * ld];
        const double* df = &w.dfT[m * ld];
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) rad[j] += gf[j] * df[j];
    }
    // rad also takes - sum_c nu_c gm_c mono_c / r (the part along u of the monomials' r-derivative);
    // gx, gy, gz take grad_u P (divided by r at the end)
    const double* mono = w.mono.data();
    for (int c = 1; c < nc; ++c) {
        if (!cused_[c]) continue;
        const double* gm = &w.gm[c * ld];
        const double* mc = mono + c * ld;
        const double nu = cnu_[c];
        const double* mx = cxm_[c] >= 0 ? mono + cxm_[c] * ld : nullptr;
        const double* my = cym_[c] >= 0 ? mono + cym_[c] * ld : nullptr;
        const double* mz = czm_[c] >= 0 ? mono + czm_[c] * ld : nullptr;
        const double ea = ca_[c], eb = cb_[c], ec = cc_[c];
        const double* iv = w.invr.data();
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) rad[j] -= nu * gm[j] * mc[j] * iv[j];
        if (mx) {
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) gx[j] += ea * gm[j] * mx[j];
        }
        if (my) {
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) gy[j] += eb * gm[j] * my[j];
        }
        if (mz) {
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) gz[j] += ec * gm[j] * mz[j];
        }
    }
    const double *ux = w.ut.data(), *uy = ux + ld, *uz = uy + ld, *iv = w.invr.data();
    for (int64_t j = 0; j < n; ++j) {
        w.g[3 * j + 0] = rad[j] * ux[j] + gx[j] * iv[j];
        w.g[3 * j + 1] = rad[j] * uy[j] + gy[j] * iv[j];
        w.g[3 * j + 2] = rad[j] * uz[j] + gz[j] * iv[j];
    }
}

void MomentTensorBasis::tangent_nodes(MTPWork& w, const double* t) const {
    // d/dr_ij [f P] . t = f' P (u.t) + f (grad_u P . t - nu P (u.t)) / r  =  f' t1 + f t2
    const int64_t nb = s_.n_basic(), n = w.n, ld = w.ld;
    const int nc = n_comp();
    auto fit = [](std::vector<double>& v, int64_t k) {
        if (static_cast<int64_t>(v.size()) < k) v.resize(k);
    };
    fit(w.tt, 4 * ld);
    fit(w.t1, nc * ld);
    fit(w.t2, nc * ld);
    double *tx = w.tt.data(), *ty = tx + ld, *tz = ty + ld, *tu = tz + ld;
    const double *ux = w.ut.data(), *uy = ux + ld, *uz = uy + ld, *iv = w.invr.data();
    for (int64_t j = 0; j < n; ++j) {
        tx[j] = t[3 * j];
        ty[j] = t[3 * j + 1];
        tz[j] = t[3 * j + 2];
        tu[j] = ux[j] * tx[j] + uy[j] * ty[j] + uz[j] * tz[j];
    }
    const double* mono = w.mono.data();
    for (int c = 0; c < nc; ++c) {
        double* t1 = &w.t1[c * ld];
        double* t2 = &w.t2[c * ld];
        if (!cused_[c]) continue;
        const double* mc = mono + c * ld;
        const double nu = cnu_[c];
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) {
            t1[j] = tu[j] * mc[j];
            t2[j] = -nu * mc[j] * tu[j];
        }
        if (cxm_[c] >= 0) {
            const double* mx = mono + cxm_[c] * ld;
            const double e = ca_[c];
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) t2[j] += e * mx[j] * tx[j];
        }
        if (cym_[c] >= 0) {
            const double* my = mono + cym_[c] * ld;
            const double e = cb_[c];
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) t2[j] += e * my[j] * ty[j];
        }
        if (czm_[c] >= 0) {
            const double* mz = mono + czm_[c] * ld;
            const double e = cc_[c];
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) t2[j] += e * mz[j] * tz[j];
        }
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) t2[j] *= iv[j];
    }
    w.dnode.assign(s_.n_nodes, 0.0);
    double* dn = w.dnode.data();
    for (int64_t a = 0; a < nb; ++a) {
        const double* f = &w.fT[bmu_[a] * ld];
        const double* df = &w.dfT[bmu_[a] * ld];
        const double* t1 = &w.t1[bcomp_[a] * ld];
        const double* t2 = &w.t2[bcomp_[a] * ld];
        double v = 0.0;
#pragma omp simd reduction(+ : v)
        for (int64_t j = 0; j < n; ++j) v += df[j] * t1[j] + f[j] * t2[j];
        dn[a] = v;
    }
    const double* node = w.node.data();
    const int* q0 = s_.times.data();
    for (size_t r = 0; r + 1 < runs_.size(); ++r) {
        const int* e = q0 + 4 * runs_[r];
        const int* end = q0 + 4 * runs_[r + 1];
        double v = dn[e[3]];
        for (const int* q = e; q < end; q += 4) v += q[2] * (dn[q[0]] * node[q[1]] + node[q[0]] * dn[q[1]]);
        dn[e[3]] = v;
    }
}

void MomentTensorBasis::coefficient_adjoints(MTPWork& w) const {
    const int64_t nb = s_.n_basic(), n = w.n, ld = w.ld;
    const int nmu = s_.n_mu;
    auto fit = [](std::vector<double>& v, int64_t k) {
        if (static_cast<int64_t>(v.size()) < k) v.resize(k);
    };
    fit(w.a0, nmu * ld);
    fit(w.a1, nmu * ld);
    std::fill(w.a0.begin(), w.a0.begin() + nmu * ld, 0.0);
    std::fill(w.a1.begin(), w.a1.begin() + nmu * ld, 0.0);
    for (int64_t a = 0; a < nb; ++a) {
        const double ad = w.adj[a], ab = w.dadj[a];
        if (ad == 0.0 && ab == 0.0) continue;
        const double* mc = &w.mono[bcomp_[a] * ld];
        const double* t1 = &w.t1[bcomp_[a] * ld];
        const double* t2 = &w.t2[bcomp_[a] * ld];
        double* a0 = &w.a0[bmu_[a] * ld];
        double* a1 = &w.a1[bmu_[a] * ld];
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) {
            a0[j] += ab * mc[j] + ad * t2[j];
            a1[j] += ad * t1[j];
        }
    }
}

// ------------------------------------------------------------------ Descriptor interface

void MomentTensorBasis::forward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, double* G) const {
    if (radial_.empty()) throw std::logic_error("MomentTensorBasis: no radial coefficients");
    MTPWork w;
    prepare(w);
    const int64_t A = s_.n_basis();
    for (int64_t i = a0; i < a1; ++i) {
        neighbourhood(f, nl, i, radial_.data(), w);
        moments(w);
        for (int64_t a = 0; a < A; ++a) G[i * A + a] = w.node[s_.mapping[a]];
    }
}

void MomentTensorBasis::backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const double* dEdG,
                                 double* forces, double* virial) const {
    if (radial_.empty()) throw std::logic_error("MomentTensorBasis: no radial coefficients");
    MTPWork w;
    prepare(w);
    const int64_t A = s_.n_basis();
    for (int64_t i = a0; i < a1; ++i) {
        neighbourhood(f, nl, i, radial_.data(), w);
        moments(w);
        std::fill(w.adj.begin(), w.adj.end(), 0.0);
        for (int64_t a = 0; a < A; ++a) w.adj[s_.mapping[a]] += dEdG[i * A + a];
        reverse(w);
        pair_gradients(w);
        for (int64_t j = 0; j < w.n; ++j) {
            const int64_t p = w.entry[j];
            const int64_t k = nl.index[p];
            const double* g = &w.g[3 * j];
            for (int x = 0; x < 3; ++x) {
                forces[3 * i + x] += g[x];
                forces[3 * k + x] -= g[x];
            }
            add_pair_virial(virial, &nl.vec[3 * p], g);
        }
    }
}

void MomentTensorBasis::tangent(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const double* v,
                                double* dG) const {
    if (radial_.empty()) throw std::logic_error("MomentTensorBasis: no radial coefficients");
    MTPWork w;
    prepare(w);
    const int64_t A = s_.n_basis();
    std::vector<double> t;
    for (int64_t i = a0; i < a1; ++i) {
        neighbourhood(f, nl, i, radial_.data(), w);
        moments(w);
        t.assign(3 * w.n, 0.0);
        for (int64_t j = 0; j < w.n; ++j) {
            const int64_t k = nl.index[w.entry[j]];
            for (int x = 0; x < 3; ++x) t[3 * j + x] = v[3 * k + x] - v[3 * i + x];
        }
        tangent_nodes(w, t.data());
        for (int64_t a = 0; a < A; ++a) dG[i * A + a] = w.dnode[s_.mapping[a]];
    }
}

void MomentTensorBasis::jacobian(const FrameView& f, const NeighbourList& nl, int64_t i, double* G, double* J) const {
    if (radial_.empty()) throw std::logic_error("MomentTensorBasis: no radial coefficients");
    // Forward mode with all 3 n directions at once: dn[node * M + c] is the derivative of the node along
    // direction c = 3 j + x (neighbour j's pair vector, component x); the product sweep then runs over
    // contiguous rows of M values.
    thread_local MTPWork w;
    thread_local std::vector<double> dn;
    prepare(w);
    const int64_t A = s_.n_basis(), nb = s_.n_basic();
    const int nmu = s_.n_mu, P = max_nu_ + 1;
    neighbourhood(f, nl, i, radial_.data(), w);
    moments(w);
    for (int64_t a = 0; a < A; ++a) G[a] = w.node[s_.mapping[a]];
    const int64_t np = nl.end(i) - nl.begin(i);
    std::fill(J, J + np * 3 * A, 0.0);
    const int64_t M = 3 * w.n;
    if (M == 0) return;
    dn.assign(s_.n_nodes * M, 0.0);
    for (int64_t j = 0; j < w.n; ++j) {
        const double* fj = &w.f[j * nmu];
        const double* dfj = &w.df[j * nmu];
        const double *px = &w.pw[j * 3 * P], *py = px + P, *pz = py + P;
        const double* u = &w.u[3 * j];
        const double inv = 1.0 / w.r[j];
        for (int64_t a = 0; a < nb; ++a) {
            const int m = bmu_[a], ea = ba_[a], eb = bb_[a], ec = bc_[a];
            const double X = px[ea], Y = py[eb], Z = pz[ec];
            const double rad = (dfj[m] - bnu_[a] * fj[m] * inv) * X * Y * Z, fr = fj[m] * inv;
            double* d = &dn[a * M + 3 * j];
            d[0] = rad * u[0] + (ea ? fr * ea * px[ea - 1] * Y * Z : 0.0);
            d[1] = rad * u[1] + (eb ? fr * eb * X * py[eb - 1] * Z : 0.0);
            d[2] = rad * u[2] + (ec ? fr * ec * X * Y * pz[ec - 1] : 0.0);
        }
    }
    const double* node = w.node.data();
    const int* q = s_.times.data();
    for (int64_t k = 0; k < s_.n_times(); ++k, q += 4) {
        const double ci = q[2] * node[q[1]], cj = q[2] * node[q[0]];
        const double* di = &dn[q[0] * M];
        const double* dj = &dn[q[1] * M];
        double* dk = &dn[q[3] * M];
        for (int64_t c = 0; c < M; ++c) dk[c] += ci * di[c] + cj * dj[c];
    }
    for (int64_t j = 0; j < w.n; ++j) {
        const int64_t p = w.entry[j] - nl.begin(i);
        for (int x = 0; x < 3; ++x) {
            double* row = J + (p * 3 + x) * A;
            for (int64_t a = 0; a < A; ++a) row[a] = dn[s_.mapping[a] * M + 3 * j + x];
        }
    }
}

}  // namespace ldrx
