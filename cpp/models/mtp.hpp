// Moment tensor potentials: energies, forces and virial of a potential, and the training loss with its
// gradient with respect to every parameter (Shapeev 2016; Novikov et al. 2021, MLIP).
//
// Site energy E_i = species_coeffs[z_i] + sum_a moment_coeffs[a] B_a(i) (descriptors/moment_tensor.hpp).
// The parameter vector theta is MLIP's order: radial coefficients [S, S, n_mu, n_q] (centre species
// first), species_coeffs [S], moment_coeffs [A]; `scaling` (in the basis spec) is held fixed.
#pragma once

#include <cstdint>

#include "descriptors/moment_tensor.hpp"

namespace ldrx {

// energies [n_atoms] (site energies, eV) written; forces [n_atoms, 3] and virial [n_frames, 6] (Voigt, eV)
// overwritten, or both nullptr for energies alone. One pass per atom; deterministic for a thread count.
void mtp_energy_forces(const MomentTensorBasis& basis, const double* theta, const FrameBatch& b, double* energies,
                       double* forces, double* virial);

struct MTPTargets {
    const double* energy = nullptr;    // [n_frames] total energies (eV); NaN: no energy term
    const double* forces = nullptr;    // [n_atoms * 3] (eV/A); NaN components are left out
    const double* virial = nullptr;    // [n_frames * 6] (eV, Voigt; NaN: left out), or nullptr
    const double* w_energy = nullptr;  // [n_frames] weight of (E - E_ref)^2
    const double* w_force = nullptr;   // [n_frames] weight of each squared force component residual
    const double* w_virial = nullptr;  // [n_frames] weight of each squared virial component residual
};

struct MTPLoss {
    double loss = 0.0, loss_energy = 0.0, loss_forces = 0.0, loss_virial = 0.0;
    double energy_sse = 0.0, energy_count = 0.0;  // sum of ((E - E_ref) / N)^2 (eV/atom)^2, frames
    double force_sse = 0.0, force_count = 0.0;    // sum of squared force component residuals, components
    double virial_sse = 0.0, virial_count = 0.0;  // per atom, (eV/atom)^2
};

// loss = sum_f w_energy_f (E_f - E_ref)^2 + w_force_f sum |F - F_ref|^2 + w_virial_f sum (W - W_ref)^2
// and, if grad is not null, its gradient [n_params] (overwritten). The force and virial terms are
// differentiated exactly (forward-over-reverse: for fixed residuals they are a directional derivative of
// the energy along pair displacements, whose parameter gradient one reverse sweep through the tangent
// gives). Frames are split into fixed chunks summed in order: the result does not depend on the
// number of threads.
// With `cache`, neighbour lists are taken from (and the first time stored in) it.
MTPLoss mtp_loss_grad(const MomentTensorBasis& basis, const double* theta, const FrameBatch& b, const MTPTargets& t,
                      double* grad, NeighbourListCache* cache = nullptr);

}  // namespace ldrx
