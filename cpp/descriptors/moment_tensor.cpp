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
    for (int64_t t = 0; t < s_.n_times(); ++t) {
        const int* e = &s_.times[4 * t];
        if (e[0] < 0 || e[1] < 0 || e[0] >= s_.n_nodes || e[1] >= s_.n_nodes || e[3] < nb || e[3] >= s_.n_nodes ||
            e[0] >= e[3] || e[1] >= e[3])
            throw std::invalid_argument("MTP: alpha_index_times entry " + std::to_string(t) +
                                        " refers to nodes out of range or not yet computed");
    }
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
            w.f[n * nmu + m] = s_.scaling * v;
            w.df[n * nmu + m] = s_.scaling * dv;
        }
        double* pw = &w.pw[n * 3 * P];
        for (int x = 0; x < 3; ++x) {
            pw[x * P] = 1.0;
            for (int k = 1; k < P; ++k) pw[x * P + k] = pw[x * P + k - 1] * u[x];
        }
        ++n;
    }
    w.n = n;
    return ti;
}

void MomentTensorBasis::moments(MTPWork& w) const {
    const int64_t nb = s_.n_basic();
    const int nmu = s_.n_mu, P = max_nu_ + 1;
    double* node = w.node.data();
    std::fill(node, node + s_.n_nodes, 0.0);
    for (int64_t j = 0; j < w.n; ++j) {
        const double* f = &w.f[j * nmu];
        const double *px = &w.pw[j * 3 * P], *py = px + P, *pz = py + P;
        for (int64_t a = 0; a < nb; ++a) node[a] += f[bmu_[a]] * px[ba_[a]] * py[bb_[a]] * pz[bc_[a]];
    }
    const int* t = s_.times.data();
    for (int64_t k = 0; k < s_.n_times(); ++k, t += 4) node[t[3]] += t[2] * node[t[0]] * node[t[1]];
}

void MomentTensorBasis::reverse(MTPWork& w) const {
    double* adj = w.adj.data();
    const double* node = w.node.data();
    for (int64_t k = s_.n_times() - 1; k >= 0; --k) {
        const int* t = &s_.times[4 * k];
        const double a = t[2] * adj[t[3]];
        if (a == 0.0) continue;
        adj[t[0]] += a * node[t[1]];
        adj[t[1]] += a * node[t[0]];
    }
}

void MomentTensorBasis::pair_gradients(MTPWork& w) const {
    // d/dr_ij [f(r) P(u)] = (f' - nu f / r) P u + (f / r) grad_u P   (P homogeneous of degree nu in u)
    const int64_t nb = s_.n_basic();
    const int nmu = s_.n_mu, P = max_nu_ + 1;
    const double* adj = w.adj.data();
    for (int64_t j = 0; j < w.n; ++j) {
        const double* f = &w.f[j * nmu];
        const double* df = &w.df[j * nmu];
        const double *px = &w.pw[j * 3 * P], *py = px + P, *pz = py + P;
        const double inv = 1.0 / w.r[j];
        double radial = 0.0, gx = 0.0, gy = 0.0, gz = 0.0;
        for (int64_t a = 0; a < nb; ++a) {
            const double c = adj[a];
            if (c == 0.0) continue;
            const int m = bmu_[a], ea = ba_[a], eb = bb_[a], ec = bc_[a];
            const double X = px[ea], Y = py[eb], Z = pz[ec];
            const double fr = c * f[m] * inv;
            radial += c * (df[m] - bnu_[a] * f[m] * inv) * X * Y * Z;
            if (ea) gx += fr * ea * px[ea - 1] * Y * Z;
            if (eb) gy += fr * eb * X * py[eb - 1] * Z;
            if (ec) gz += fr * ec * X * Y * pz[ec - 1];
        }
        const double* u = &w.u[3 * j];
        w.g[3 * j + 0] = radial * u[0] + gx;
        w.g[3 * j + 1] = radial * u[1] + gy;
        w.g[3 * j + 2] = radial * u[2] + gz;
    }
}

void MomentTensorBasis::tangent_nodes(MTPWork& w, const double* t) const {
    const int64_t nb = s_.n_basic();
    const int nmu = s_.n_mu, P = max_nu_ + 1;
    w.dnode.assign(s_.n_nodes, 0.0);
    double* dn = w.dnode.data();
    for (int64_t j = 0; j < w.n; ++j) {
        const double* tj = t + 3 * j;
        if (tj[0] == 0.0 && tj[1] == 0.0 && tj[2] == 0.0) continue;
        const double* f = &w.f[j * nmu];
        const double* df = &w.df[j * nmu];
        const double *px = &w.pw[j * 3 * P], *py = px + P, *pz = py + P;
        const double* u = &w.u[3 * j];
        const double inv = 1.0 / w.r[j];
        const double ut = u[0] * tj[0] + u[1] * tj[1] + u[2] * tj[2];
        for (int64_t a = 0; a < nb; ++a) {
            const int m = bmu_[a], ea = ba_[a], eb = bb_[a], ec = bc_[a];
            const double X = px[ea], Y = py[eb], Z = pz[ec];
            double gt = 0.0;
            if (ea) gt += ea * px[ea - 1] * Y * Z * tj[0];
            if (eb) gt += eb * X * py[eb - 1] * Z * tj[1];
            if (ec) gt += ec * X * Y * pz[ec - 1] * tj[2];
            dn[a] += (df[m] - bnu_[a] * f[m] * inv) * X * Y * Z * ut + f[m] * inv * gt;
        }
    }
    const double* node = w.node.data();
    const int* q = s_.times.data();
    for (int64_t k = 0; k < s_.n_times(); ++k, q += 4) dn[q[3]] += q[2] * (dn[q[0]] * node[q[1]] + node[q[0]] * dn[q[1]]);
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
