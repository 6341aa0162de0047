#include "models/gap.hpp"

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
}  // namespace

void gap_soap_rows(const SoapDescriptor& desc, const FrameBatch& b, const double* X, const int64_t* m_offsets,
                   double zeta, double* KE, double* KF, double* KV) {
    desc.check(b);
    const SpeciesMap species(desc.params().species);
    const int ns = species.size();
    const int64_t M = m_offsets[ns];
    const int64_t D = desc.size();
    std::fill(KE, KE + b.n_frames * M, 0.0);
    if (KF) {
        std::fill(KF, KF + 3 * b.n_atoms() * M, 0.0);
        std::fill(KV, KV + 6 * b.n_frames * M, 0.0);
    }
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

}  // namespace ldrx
