// Covariance rows of a sparse GAP with a normalised SOAP descriptor and the dot-product kernel
// k(q, x) = (q . x)^zeta (delta^2 is applied by the caller).
//
// For a batch of frames and M sparse points x_m grouped by centre species, fills
//   KE[f, m]       = sum_{i in frame f, species(i) = species(m)} k(q_i, x_m)          (energy rows)
//   KF[3a + k, m]  = d KE[frame(a), m] / d r_a,k                                      (force rows: -F)
//   KV[6f + v, m]  = virial (Voigt, eV) of the "energy" KE[f, m]: sum over pairs -d (x) dK/dd
// without ever storing a descriptor Jacobian. Force rows, per centre i and sparse point m:
//   dk/dq_i = zeta (q_i . x_m)^(zeta-1) x_m,   dk/dp_i = (dk/dq_i - q_i (q_i . dk/dq_i)) / |p_i|,
// then the SOAP adjoint (dE/dc = G C per l, contracted with each neighbour's dc/dr) gives the pair
// gradients, scattered into column m. The neighbourhood expansion (radial splines, harmonics, c_nlm)
// is done once per centre and shared by all M_s sparse points of its species; only the adjoint is
// repeated per sparse point (batched = false: one adjoint per sparse point, the reference path). batched = true
// (default): per frame the features of all centres are computed first, the kernel arguments t = Q_s X_s^T of each
// species are one GEMM, and per centre the M_s adjoints are one batched adjoint (two GEMMs, see
// SoapDescriptor::adjoint_pairs_raw_batch); force rows are then scattered with unit stride over m.
#pragma once

#include <cstdint>

#include "core/frames.hpp"
#include "descriptors/soap.hpp"

namespace ldrx {

// X: [M, d] sparse points sorted by species; m_offsets [n_species + 1]: points of species index s are
// m_offsets[s] .. m_offsets[s+1]-1 (species index as in the descriptor's species list). KE [n_frames, M]
// must be given; KF [3 n_atoms, M] and KV [6 n_frames, M] may be null (energy rows only). All outputs
// are overwritten. Frames run in parallel (OpenMP).
void gap_soap_rows(const SoapDescriptor& desc, const FrameBatch& b, const double* X, const int64_t* m_offsets,
                   double zeta, double* KE, double* KF, double* KV, bool batched = true);

// Prediction in one C++ pass (Descriptor::forward_backward: one neighbourhood expansion per atom): per atom i of
// species s, t = X_s q_i, e_i = sum_m w_m t_m^zeta (w = delta^2 alpha) and dE/dq_i = sum_m w_m zeta t_m^(zeta-1) x_m,
// pushed through the SOAP adjoint. atom_energy [n_atoms] (GP part only; species without sparse points give 0),
// forces [n_atoms, 3] and virial [n_frames, 6] may be null (energies only).
void gap_soap_predict(const SoapDescriptor& desc, const FrameBatch& b, const double* X, const int64_t* m_offsets,
                      const double* w, double zeta, double* atom_energy, double* forces, double* virial);

}  // namespace ldrx
