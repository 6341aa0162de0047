#include "models/snap.hpp"

#include <algorithm>
#include <vector>

#include "core/parallel.hpp"

namespace ldrx {
namespace {

// E_i = beta0 + beta . B + 0.5 B^T alpha B of one species' coefficient row c, and beta_eff = dE_i/dB =
// beta + alpha B.
double atom_energy(const double* c, int64_t nc, bool quadratic, const double* B, double* beta_eff) {
    const double* beta = c + 1;
    double e = c[0];
    for (int64_t k = 0; k < nc; ++k) e += beta[k] * B[k];
    std::fill(beta_eff, beta_eff + nc, 0.0);
    if (quadratic) {
        // beta_eff = alpha B from the upper triangle, then E += 0.5 B . alpha B
        const double* a = c + 1 + nc;
        for (int64_t k = 0; k < nc; ++k) {
            beta_eff[k] += *a++ * B[k];
            for (int64_t l = k + 1; l < nc; ++l, ++a) {
                beta_eff[k] += *a * B[l];
                beta_eff[l] += *a * B[k];
            }
        }
        double q = 0.0;
        for (int64_t k = 0; k < nc; ++k) q += B[k] * beta_eff[k];
        e += 0.5 * q;
    }
    for (int64_t k = 0; k < nc; ++k) beta_eff[k] += beta[k];
    return e;
}

}  // namespace

void snap_energy_forces(const BispectrumDescriptor& d, const FrameBatch& b, const double* coefficients,
                        bool quadratic, double* energies, double* forces, double* virial) {
    d.check(b);
    const int64_t nc = d.size();
    const int64_t P = snap_per_species(nc, quadratic);
    const bool with_forces = forces != nullptr;
    for_each_atom_block_with_forces(
        b, d.cutoff(), forces, virial,
        [&](int64_t f, const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, double* F, double* W) {
            BispectrumDescriptor::Work& w = d.thread_work();
            thread_local std::vector<double> B, beta_eff;
            B.resize(nc);
            beta_eff.resize(nc);
            double* e = energies + b.first_atom(f);
            for (int64_t i = a0; i < a1; ++i) {
                d.compute_ui(fv, nl, i, with_forces, w);
                d.compute_zi(w, with_forces);
                d.compute_bi(w, B.data());
                e[i] = atom_energy(coefficients + w.species * P, nc, quadratic, B.data(), beta_eff.data());
                if (!with_forces) continue;
                d.compute_yi(beta_eff.data(), w);
                d.add_forces(w, F, W);
            }
        });
}

}  // namespace ldrx
