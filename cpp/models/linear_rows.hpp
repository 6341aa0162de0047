// Streamed least-squares rows of any potential that is linear in a per-centre feature map of a descriptor
// with the Jacobian hook (Descriptor::jacobian_by_atom): SNAP, qSNAP (Thompson et al., J. Comput. Phys. 285,
// 316 (2015); Wood and Thompson, J. Chem. Phys. 148, 241721 (2018)) and MTP's linear start (Shapeev,
// Multiscale Model. Simul. 14, 1153 (2016)) share it.
//
// Feature map of centre i of species s (LinearBasis): Gt = scale_s * (G(i) - shift_s) (per-species
// standardisation; identity without shift/scale), then the features
//   phi(i) = [ Gt_k, k < d | quadratic: 0.5 Gt_k^2 (l = k), Gt_k Gt_l (l > k), k outer, l inner ]   (q values)
// whose derivatives follow from dGt by the product rule. Energy: E = sum_i [ c_{s_i} + x_{s_i} . phi(i) ].
// Columns: shared:      [ c_0 .. c_{S-1} | x_0 .. x_{q-1} ]                 (S + q; MTP's moment_coeffs)
//          per species: [ c_s, x_{s,0} .. x_{s,q-1} ] for s = 0 .. S-1      (S (1 + q); a LAMMPS .snapcoeff row)
// Rows of a frame with N atoms (u = 1/N with per_atom, else 1), each multiplied by sqrt(w) with its target
// (weights multiply squared residuals):
//   energy   u sum_i column(i)                          target E, or (E - E_ref)/N     weight w_energy_f
//   forces   -d(sum_i column(i))/d r_{a,x}, 3N rows     target F_{a,x}                 weight w_force_f
//   virial   -u sum_pairs vec_p (x) d column / d vec_p   target W_v, or W_v/N (Voigt)   weight w_virial_f
// A row whose target is NaN, or whose weight is not positive and finite, is left out. A frame's rows are
// built on the compacted columns of the species it holds and never kept: frames sorted by their species set
// are multiplied into A^T W A in batches (one product per batch and pair of column groups), in chunks of
// frames fixed by the data and summed in order, so the sums do not depend on the thread count.
#pragma once

#include <cstdint>

#include "core/species.hpp"
#include "descriptors/descriptor.hpp"

namespace ldrx {

struct LinearBasis {
    bool shared = false;             // feature coefficients shared by all species (else one block per species)
    bool quadratic = false;          // + the products of the standardised features
    const double* shift = nullptr;   // [n_species * d] or nullptr (0)
    const double* scale = nullptr;   // [n_species * d] or nullptr (1)
    bool per_atom = false;           // energy and virial rows per atom (divided by N), as SNAP's targets are
    int64_t features(int64_t d) const { return d + (quadratic ? d * (d + 1) / 2 : 0); }
    int64_t columns(int64_t n_species, int64_t d) const {
        return shared ? n_species + features(d) : n_species * (1 + features(d));
    }
};

struct LinearTargets {
    const double* energy = nullptr;    // [n_frames]; NaN: no row
    const double* forces = nullptr;    // [n_atoms * 3]; NaN: no row
    const double* virial = nullptr;    // [n_frames * 6] or nullptr: no virial rows
    const double* w_energy = nullptr;  // [n_frames]
    const double* w_force = nullptr;   // [n_frames]
    const double* w_virial = nullptr;  // [n_frames] (needed with virial)
};

inline int64_t linear_columns(int64_t n_species, int64_t d, bool shared) {
    LinearBasis basis;
    basis.shared = shared;
    return basis.columns(n_species, d);
}

// Adds the frames' rows into ata [n x n] (row-major, kept symmetric), atb [n], btb and n_rows, with
// n = basis.columns(species.size(), d.size()). Memory: the column blocks of the species met, per chunk in flight.
void linear_normal_equations(const Descriptor& d, const SpeciesMap& species, const FrameBatch& b,
                             const LinearBasis& basis, const LinearTargets& t, double* ata, double* atb, double* btb,
                             int64_t* n_rows);

// Plain linear model (no feature map, totals as targets): MTP's linear start.
inline void linear_normal_equations(const Descriptor& d, const SpeciesMap& species, const FrameBatch& b, bool shared,
                                    const LinearTargets& t, double* ata, double* atb, double* btb, int64_t* n_rows) {
    LinearBasis basis;
    basis.shared = shared;
    linear_normal_equations(d, species, b, basis, t, ata, atb, btb, n_rows);
}

// Number of rows the frames give (the height of linear_design_matrix's A).
int64_t linear_count_rows(const FrameBatch& b, const LinearTargets& t);

// The weighted rows themselves, A [n_rows x n] (row-major) and b [n_rows], for small problems solved by SVD;
// frame by frame in the order energy, forces (atom-major), virial.
void linear_design_matrix(const Descriptor& d, const SpeciesMap& species, const FrameBatch& b,
                          const LinearBasis& basis, const LinearTargets& t, double* A, double* rhs);

}  // namespace ldrx
