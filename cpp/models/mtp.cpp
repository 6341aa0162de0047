#include "models/mtp.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.hpp"

namespace ldrx {

namespace {

// Site energy of centre i (neighbourhood already in w) and, with want_adj, the adjoint of the energy on
// every node (w.adj).
double site_energy(const MomentTensorBasis& B, const double* theta, int ti, MTPWork& w, bool want_adj) {
    const MTPBasisSpec& s = B.spec();
    const double* species = theta + s.n_radial();
    const double* xi = species + s.n_species();
    B.moments(w);
    double e = species[ti];
    for (int64_t a = 0; a < s.n_basis(); ++a) e += xi[a] * w.node[s.mapping[a]];
    if (want_adj) {
        std::fill(w.adj.begin(), w.adj.end(), 0.0);
        for (int64_t a = 0; a < s.n_basis(); ++a) w.adj[s.mapping[a]] += xi[a];
        B.reverse(w);
    }
    return e;
}

// Adds the forces (frame-local rows F) and virial W of centre i from w.g.
void scatter_forces(const NeighbourList& nl, int64_t i, const MTPWork& w, double* F, double* W) {
    double fi[3] = {0, 0, 0};
    for (int64_t j = 0; j < w.n; ++j) {
        const int64_t p = w.entry[j];
        const int64_t k = nl.index[p];
        const double* g = &w.g[3 * j];
        for (int x = 0; x < 3; ++x) {
            fi[x] += g[x];
            F[3 * k + x] -= g[x];
        }
        add_pair_virial(W, &nl.vec[3 * p], g);
    }
    for (int x = 0; x < 3; ++x) F[3 * i + x] += fi[x];
}

}  // namespace

void mtp_energy_forces(const MomentTensorBasis& basis, const double* theta, const FrameBatch& b, double* energies,
                       double* forces, double* virial) {
    basis.check(b);
    for_each_atom_block_with_forces(
        b, basis.cutoff(), forces, virial,
        [&](int64_t f, const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, double* F, double* W) {
            MTPWork w;
            basis.prepare(w);
            double* e = energies + b.first_atom(f);
            for (int64_t i = a0; i < a1; ++i) {
                const int ti = basis.neighbourhood(fv, nl, i, theta, w);
                e[i] = site_energy(basis, theta, ti, w, F != nullptr);
                if (!F) continue;
                basis.pair_gradients(w);
                scatter_forces(nl, i, w, F, W);
            }
        });
}

namespace {

// One chunk of frames: loss terms into acc, gradient added into grad (if not null).
void loss_chunk(const MomentTensorBasis& B, const double* theta, const FrameBatch& b, const MTPTargets& t, int64_t f0,
                int64_t f1, double* grad, MTPLoss& acc, NeighbourListCache* cache) {
    const MTPBasisSpec& s = B.spec();
    const int S = s.n_species(), nmu = s.n_mu, nq = s.n_q;
    const int64_t A = s.n_basis();
    const double* xi = theta + s.n_radial() + S;
    double* g_radial = grad;
    double* g_species = grad ? grad + s.n_radial() : nullptr;
    double* g_xi = grad ? g_species + S : nullptr;
    NeighbourList own;
    // one work area per atom of the frame: pass 2 reuses pass 1's neighbourhood and node values
    std::vector<MTPWork> works;
    std::vector<int> types;
    std::vector<double> F, dF, tp;
    for (int64_t f = f0; f < f1; ++f) {
        const FrameView fv = b.frame(f);
        const int64_t n = fv.n_atoms, a0 = b.first_atom(f);
        if (n == 0) continue;
        if (!cache) build_neighbour_list(fv, s.r_cut, own, 1);
        const NeighbourList& nl = cache ? cache->get(fv, f) : own;
        // pass 1: energy, forces, virial
        F.assign(3 * n, 0.0);
        double W[6] = {0, 0, 0, 0, 0, 0}, E = 0.0;
        const bool want_f = t.w_force[f] > 0.0;
        const bool want_w = t.virial && t.w_virial[f] > 0.0;
        if (static_cast<int64_t>(works.size()) < n) {
            works.resize(n);
            for (MTPWork& w : works) B.prepare(w);
        }
        types.resize(n);
        for (int64_t i = 0; i < n; ++i) {
            MTPWork& w = works[i];
            const int ti = types[i] = B.neighbourhood(fv, nl, i, theta, w);
            E += site_energy(B, theta, ti, w, want_f || want_w);
            if (want_f || want_w) {
                B.pair_gradients(w);
                scatter_forces(nl, i, w, F.data(), W);
            }
        }
        // residuals
        double rho = 0.0;
        const double Eref = t.energy[f];
        if (std::isfinite(Eref) && t.w_energy[f] > 0.0) {
            const double d = E - Eref;
            acc.loss_energy += t.w_energy[f] * d * d;
            acc.energy_sse += (d / n) * (d / n);
            acc.energy_count += 1.0;
            rho = 2.0 * t.w_energy[f] * d;
        }
        dF.assign(3 * n, 0.0);
        bool any_f = false;
        if (want_f) {
            const double* Fr = t.forces + 3 * a0;
            for (int64_t k = 0; k < 3 * n; ++k) {
                if (!std::isfinite(Fr[k])) continue;
                const double d = F[k] - Fr[k];
                acc.loss_forces += t.w_force[f] * d * d;
                acc.force_sse += d * d;
                acc.force_count += 1.0;
                dF[k] = -2.0 * t.w_force[f] * d;
                any_f = true;
            }
        }
        double dW[6] = {0, 0, 0, 0, 0, 0};
        bool any_w = false;
        if (want_w) {
            for (int v = 0; v < 6; ++v) {
                const double r = t.virial[6 * f + v];
                if (!std::isfinite(r)) continue;
                const double d = W[v] - r;
                acc.loss_virial += t.w_virial[f] * d * d;
                acc.virial_sse += (d / n) * (d / n);
                acc.virial_count += 1.0;
                dW[v] = -2.0 * t.w_virial[f] * d;
                any_w = true;
            }
        }
        if (!grad || (rho == 0.0 && !any_f && !any_w)) continue;
        // pass 2: gradient of  rho E + sum_pairs g_ij . t_ij  with t_ij = dF_j - dF_i + (virial part)
        for (int64_t i = 0; i < n; ++i) {
            MTPWork& w = works[i];  // neighbourhood and nodes from pass 1
            const int ti = types[i];
            tp.assign(3 * w.n, 0.0);
            for (int64_t j = 0; j < w.n; ++j) {
                const int64_t p = w.entry[j];
                const int64_t k = nl.index[p];
                double* q = &tp[3 * j];
                for (int x = 0; x < 3; ++x) q[x] = dF[3 * k + x] - dF[3 * i + x];
                if (any_w) {
                    // 2 w sum_v (W - W_ref)_v dW_v/dtheta with W_v = -sum_pairs d_p g_q: the pair's g is
                    // contracted with tau_q = sum_{v: second index q} dW_v d_p (dW = -2 w (W - W_ref))
                    const double* d = &nl.vec[3 * p];
                    for (int v = 0; v < 6; ++v) q[kVoigt[v][1]] += dW[v] * d[kVoigt[v][0]];
                }
            }
            B.tangent_nodes(w, tp.data());
            // second-order reverse sweep: adj (a-dot, seeded xi) and dadj (a-bar, seeded rho xi)
            std::fill(w.adj.begin(), w.adj.end(), 0.0);
            w.dadj.assign(s.n_nodes, 0.0);
            for (int64_t a = 0; a < A; ++a) {
                w.adj[s.mapping[a]] += xi[a];
                w.dadj[s.mapping[a]] += rho * xi[a];
            }
            const double* nd = w.node.data();
            const double* dn = w.dnode.data();
            const std::vector<int>& runs = B.runs();
            double* adj = w.adj.data();
            double* dadj = w.dadj.data();
            for (size_t r = runs.size() - 1; r-- > 0;) {
                const int k = s.times[4 * runs[r] + 3];
                const double ak = adj[k], bk = dadj[k];
                if (ak == 0.0 && bk == 0.0) continue;
                for (int q = runs[r + 1] - 1; q >= runs[r]; --q) {
                    const int* e = &s.times[4 * q];
                    const double m = e[2];
                    dadj[e[0]] += m * (bk * nd[e[1]] + ak * dn[e[1]]);
                    dadj[e[1]] += m * (bk * nd[e[0]] + ak * dn[e[0]]);
                    adj[e[0]] += m * ak * nd[e[1]];
                    adj[e[1]] += m * ak * nd[e[0]];
                }
            }
            // linear parameters
            g_species[ti] += rho;
            for (int64_t a = 0; a < A; ++a) g_xi[a] += rho * nd[s.mapping[a]] + dn[s.mapping[a]];
            // radial coefficients: d/dc of f = scaling sum_q c_q phi_q and f' = scaling sum_q c_q dphi_q
            B.coefficient_adjoints(w);
            const int64_t ld = w.ld;
            for (int64_t j = 0; j < w.n; ++j) {
                const int tj = w.type[j];
                double* gc = g_radial + (int64_t(ti) * S + tj) * nmu * nq;
                const double* ph = &w.phi[j * nq];
                const double* dph = &w.dphi[j * nq];
                for (int m = 0; m < nmu; ++m) {
                    const double c0 = s.scaling * w.a0[m * ld + j], c1 = s.scaling * w.a1[m * ld + j];
                    for (int bq = 0; bq < nq; ++bq) gc[m * nq + bq] += c0 * ph[bq] + c1 * dph[bq];
                }
            }
        }
    }
}

}  // namespace

MTPLoss mtp_loss_grad(const MomentTensorBasis& basis, const double* theta, const FrameBatch& b, const MTPTargets& t,
                      double* grad, NeighbourListCache* cache) {
    basis.check(b);
    if (cache) cache->bind(b, basis.cutoff());
    const int64_t nf = b.n_frames, na = b.n_atoms(), P = basis.spec().n_params();
    const int64_t K = frame_chunk_count(nf, na, 256);
    std::vector<std::vector<double>> grads(K);
    std::vector<MTPLoss> parts(K);
    if (grad) std::fill(grad, grad + P, 0.0);
    MTPLoss total;
    for_each_frame_chunk_ordered(
        nf, na, 256,
        [&](int64_t k, int64_t f0, int64_t f1) {
            if (grad) grads[k].assign(P, 0.0);
            loss_chunk(basis, theta, b, t, f0, f1, grad ? grads[k].data() : nullptr, parts[k], cache);
        },
        [&](int64_t k) {
            if (grad) {
                for (int64_t p = 0; p < P; ++p) grad[p] += grads[k][p];
                std::vector<double>().swap(grads[k]);
            }
            const MTPLoss& q = parts[k];
            total.loss_energy += q.loss_energy;
            total.loss_forces += q.loss_forces;
            total.loss_virial += q.loss_virial;
            total.energy_sse += q.energy_sse;
            total.energy_count += q.energy_count;
            total.force_sse += q.force_sse;
            total.force_count += q.force_count;
            total.virial_sse += q.virial_sse;
            total.virial_count += q.virial_count;
        });
    total.loss = total.loss_energy + total.loss_forces + total.loss_virial;
    return total;
}

}  // namespace ldrx
