#include "models/gap.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/neighbours.hpp"
#include "core/parallel.hpp"
#include "core/species.hpp"

namespace ldrx {

namespace {
inline double ipow(double x, double zeta) {
    const int z = static_cast<int>(zeta);
    if (z == zeta && z >= 0 && z <= 16) {
        double r = 1.0;
        for (int k = 0; k < z; ++k) r *= x;
        return r;
    }
    return std::pow(x, zeta);
}
using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void gap_soap_rows_batched(const SoapDescriptor& desc, const FrameBatch& b, const double* X, const int64_t* m_offsets,
                           double zeta, double* KE, double* KF, double* KV) {
    // called by gap_soap_rows, which has checked the batch and zeroed KE, KF, KV
    const SpeciesMap species(desc.params().species);
    const int ns = species.size();
    const int64_t M = m_offsets[ns];
    const int64_t D = desc.size();
    const bool normalize = desc.params().normalize;
    ExceptionSlot err;
#pragma omp parallel num_threads(max_threads())
    {
        NeighbourList nl;
        SoapDescriptor::Work w;
        SoapDescriptor::BatchWork bw;
        std::vector<double> Q, norm, g, vir, tv, cv;
        std::vector<int64_t> idx;
        RowMat Qs, T;
#pragma omp for schedule(dynamic, 1)
        for (int64_t f = 0; f < b.n_frames; ++f) {
            if (err.failed()) continue;
            err.run_frame(f, [&] {
                const FrameView fv = b.frame(f);
                build_neighbour_list(fv, desc.cutoff(), nl, 1);
                const int64_t a0 = b.first_atom(f), n = fv.n_atoms;
                Q.resize(size_t(n) * D);
                norm.resize(n);
                for (int64_t i = 0; i < n; ++i) {
                    const int s = species(fv.numbers[i]);
                    if (m_offsets[s] == m_offsets[s + 1]) continue;
                    desc.expand(fv, nl, i, false, w);
                    desc.features(w, Q.data() + i * D);
                    norm[i] = w.norm;
                }
                for (int s = 0; s < ns; ++s) {
                    const int64_t m0 = m_offsets[s], Ms = m_offsets[s + 1] - m0;
                    if (Ms == 0) continue;
                    idx.clear();
                    for (int64_t i = 0; i < n; ++i)
                        if (species(fv.numbers[i]) == s) idx.push_back(i);
                    if (idx.empty()) continue;
                    const int64_t ni = idx.size();
                    Qs.resize(ni, D);
                    for (int64_t r = 0; r < ni; ++r)
                        std::copy(Q.data() + idx[r] * D, Q.data() + (idx[r] + 1) * D, Qs.row(r).data());
                    Eigen::Map<const RowMat> Xs(X + m0 * D, Ms, D);
                    T.noalias() = Qs * Xs.transpose();
                    for (int64_t r = 0; r < ni; ++r)
                        for (int64_t m = 0; m < Ms; ++m) KE[f * M + m0 + m] += ipow(T(r, m), zeta);
                    if (!KF) continue;
                    vir.assign(6 * Ms, 0.0);
                    tv.resize(Ms);
                    cv.resize(Ms);
                    for (int64_t r = 0; r < ni; ++r) {
                        const int64_t i = idx[r];
                        desc.expand(fv, nl, i, true, w);
                        // dk/dp_m = c_m (x_m - q t_m), c_m = zeta t^(zeta-1) / |p| (normalised), or zeta t^(zeta-1) x_m
                        const double inv = normalize ? 1.0 / norm[i] : 1.0;
                        for (int64_t m = 0; m < Ms; ++m) {
                            tv[m] = T(r, m);
                            cv[m] = zeta * ipow(tv[m], zeta - 1.0) * inv;
                        }
                        g.resize(size_t(3 * w.nb) * Ms);
                        desc.adjoint_pairs_raw_batch(w, X + m0 * D, Ms, cv.data(), tv.data(),
                                                     normalize ? Qs.row(r).data() : nullptr, bw, g.data());
                        double* kf = KF + 3 * a0 * M + m0;
                        for (int64_t e = 0; e < w.nb; ++e) {
                            const int64_t j = w.j[e];
                            const double* d = &w.vec[3 * e];
                            for (int k = 0; k < 3; ++k) {
                                const double* ge = g.data() + (3 * e + k) * Ms;
                                double* rj = kf + (3 * j + k) * M;
                                double* ri = kf + (3 * i + k) * M;
                                for (int64_t m = 0; m < Ms; ++m) {
                                    rj[m] += ge[m];
                                    ri[m] -= ge[m];
                                }
                            }
                            // virial_v -= d[a_v] g[b_v] (add_pair_virial, per column)
                            for (int v = 0; v < 6; ++v) {
                                const double da = d[kVoigt[v][0]];
                                const double* gb = g.data() + (3 * e + kVoigt[v][1]) * Ms;
                                double* vv = vir.data() + v * Ms;
                                for (int64_t m = 0; m < Ms; ++m) vv[m] -= da * gb[m];
                            }
                        }
                    }
                    for (int v = 0; v < 6; ++v)
                        for (int64_t m = 0; m < Ms; ++m) KV[(6 * f + v) * M + m0 + m] += vir[v * Ms + m];
                }
            });
        }
    }
    err.rethrow();
}

}  // namespace

void gap_soap_rows(const SoapDescriptor& desc, const FrameBatch& b, const double* X, const int64_t* m_offsets,
                   double zeta, double* KE, double* KF, double* KV, bool batched) {
    desc.check(b);
    const SpeciesMap species(desc.params().species);
    const int ns = species.size();
    const int64_t M = m_offsets[ns];
    std::fill(KE, KE + b.n_frames * M, 0.0);
    if (KF) {
        std::fill(KF, KF + 3 * b.n_atoms() * M, 0.0);
        std::fill(KV, KV + 6 * b.n_frames * M, 0.0);
    }
    if (batched) return gap_soap_rows_batched(desc, b, X, m_offsets, zeta, KE, KF, KV);
    const int64_t D = desc.size();
    ExceptionSlot err;
#pragma omp parallel num_threads(max_threads())
    {
        NeighbourList nl;
        SoapDescriptor::Work w;
        std::vector<double> q(D), t, gp(D), g;
#pragma omp for schedule(dynamic, 1)
        for (int64_t f = 0; f < b.n_frames; ++f) {
            if (err.failed()) continue;
            err.run_frame(f, [&] {
                const FrameView fv = b.frame(f);
                build_neighbour_list(fv, desc.cutoff(), nl, 1);
                const int64_t a0 = b.first_atom(f);
                for (int64_t i = 0; i < fv.n_atoms; ++i) {
                    const int s = species(fv.numbers[i]);
                    const int64_t m0 = m_offsets[s], m1 = m_offsets[s + 1];
                    if (m0 == m1) continue;
                    desc.expand(fv, nl, i, KF != nullptr, w);
                    desc.features(w, q.data());
                    t.resize(m1 - m0);
                    for (int64_t m = m0; m < m1; ++m) {
                        const double* x = X + m * D;
                        double s_ = 0.0;
                        for (int64_t k = 0; k < D; ++k) s_ += q[k] * x[k];
                        t[m - m0] = s_;
                        KE[f * M + m] += ipow(s_, zeta);
                    }
                    if (!KF) continue;
                    g.resize(3 * w.nb);
                    const double inv = 1.0 / w.norm;
                    for (int64_t m = m0; m < m1; ++m) {
                        const double tm = t[m - m0];
                        const double c = zeta * ipow(tm, zeta - 1.0) * inv;
                        if (c == 0.0) continue;
                        const double* x = X + m * D;
                        for (int64_t k = 0; k < D; ++k) gp[k] = c * (x[k] - q[k] * tm);
                        desc.adjoint_pairs_raw(w, gp.data(), g.data());
                        double* kf = KF + 3 * a0 * M;
                        double vir[6] = {0, 0, 0, 0, 0, 0};
                        for (int64_t e = 0; e < w.nb; ++e) {
                            const double* ge = &g[3 * e];
                            const int64_t j = w.j[e];
                            for (int k = 0; k < 3; ++k) {
                                kf[(3 * j + k) * M + m] += ge[k];
                                kf[(3 * i + k) * M + m] -= ge[k];
                            }
                            add_pair_virial(vir, &w.vec[3 * e], ge);
                        }
                        for (int v = 0; v < 6; ++v) KV[(6 * f + v) * M + m] += vir[v];
                    }
                }
            });
        }
    }
    err.rethrow();
}

void gap_soap_predict(const SoapDescriptor& desc, const FrameBatch& b, const double* X, const int64_t* m_offsets,
                      const double* w, double zeta, double* atom_energy, double* forces, double* virial) {
    desc.check(b);
    const SpeciesMap species(desc.params().species);
    const int64_t D = desc.size();
    for_each_atom_block_with_forces(
        b, desc.cutoff(), forces, virial,
        [&](int64_t f, const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, double* F, double* W) {
            double* e = atom_energy + b.first_atom(f);
            thread_local std::vector<double> t, c;
            desc.forward_backward(
                fv, nl, a0, a1,
                [&](int64_t i, const double* G, double* dEdG) {
                    const int s = species(fv.numbers[i]);
                    const int64_t m0 = m_offsets[s], Ms = m_offsets[s + 1] - m0;
                    e[i] = 0.0;
                    if (F) std::fill(dEdG, dEdG + D, 0.0);
                    if (Ms == 0) return;
                    Eigen::Map<const RowMat> Xs(X + m0 * D, Ms, D);
                    Eigen::Map<const Eigen::VectorXd> q(G, D);
                    t.resize(Ms);
                    c.resize(Ms);
                    Eigen::Map<Eigen::VectorXd> tv(t.data(), Ms), cv(c.data(), Ms);
                    tv.noalias() = Xs * q;
                    double en = 0.0;
                    for (int64_t m = 0; m < Ms; ++m) {
                        en += w[m0 + m] * ipow(t[m], zeta);
                        c[m] = w[m0 + m] * zeta * ipow(t[m], zeta - 1.0);
                    }
                    e[i] = en;
                    if (F) Eigen::Map<Eigen::VectorXd>(dEdG, D).noalias() = Xs.transpose() * cv;
                },
                F, W);
        });
}

}  // namespace ldrx
