// Streamed normal equations of a potential that is linear in the features of any descriptor with the
// per-centre Jacobian-rows hook (Descriptor::jacobian): E = sum_i [ c_{s_i} + x_{s_i} . G(i) ] with a
// constant per species and feature coefficients either shared by all species (MTP's moment_coeffs) or one
// block per species (SNAP's beta).
//
// Columns: shared:     [ c_0 .. c_{S-1} | x_0 .. x_{d-1} ]                       (S + d)
//          per species: [ c_s, x_{s,0} .. x_{s,d-1} ] for s = 0 .. S-1            (S (1 + d))
// Rows of a frame with N atoms, each multiplied by sqrt(w) with its target (weights multiply squared
// residuals):
//   energy   sum_i column(i)                             target E                 weight w_energy_f
//   forces   -d(sum_i column(i))/d r_{a,x}, 3N rows      target F_{a,x}           weight w_force_f
//   virial   -sum_pairs vec_p (x) d column / d vec_p      target W_v (Voigt, eV)   weight w_virial_f
// A row whose target is NaN, or whose weight is 0, is left out. The frames' rows are never held together:
// each frame's block is multiplied into A^T W A at once.
#pragma once

#include <cstdint>

#include "core/species.hpp"
#include "descriptors/descriptor.hpp"

namespace ldrx {

struct LinearTargets {
    const double* energy = nullptr;    // [n_frames] eV; NaN: no row
    const double* forces = nullptr;    // [n_atoms * 3]; NaN: no row
    const double* virial = nullptr;    // [n_frames * 6] or nullptr
    const double* w_energy = nullptr;  // [n_frames]
    const double* w_force = nullptr;   // [n_frames]
    const double* w_virial = nullptr;  // [n_frames] (ignored without virial)
};

inline int64_t linear_columns(int64_t n_species, int64_t d, bool shared) {
    return shared ? n_species + d : n_species * (1 + d);
}

// Adds the frames' rows into ata [n x n] (row-major, symmetric), atb [n], btb and n_rows. Frames run in
// parallel in fixed chunks summed in order (the result does not depend on the thread count); memory:
// one n x n matrix per chunk in flight.
void linear_normal_equations(const Descriptor& d, const SpeciesMap& species, const FrameBatch& b, bool shared,
                             const LinearTargets& t, double* ata, double* atb, double* btb, int64_t* n_rows);

}  // namespace ldrx
