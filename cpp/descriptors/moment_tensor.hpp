// Moment tensor basis of MTP (Shapeev, Multiscale Model. Simul. 14, 1153 (2016); MLIP: Novikov et al.,
// Mach. Learn.: Sci. Technol. 2, 025002 (2021)), in MLIP's own encoding of the basis (a `.mtp` file).
//
// Stages, named after the mathematics:
//   radial        f_mu(r; z_i, z_j) = scaling sum_beta c[z_i, z_j, mu, beta] T_beta(s) (R_cut - r)^2,
//                 s = (2 r - (R_min + R_cut)) / (R_cut - R_min), for r < R_cut (the polynomial is simply
//                 continued below R_min, as in MLIP)
//   basic moments M_alpha = sum_j f_{mu_alpha}(r_ij) xh^a yh^b zh^c, (xh, yh, zh) the unit vector r_ij / r_ij,
//                 one per `alpha_index_basic` entry {mu, a, b, c}: the distinct components of the symmetric
//                 tensors M_{mu,nu} (nu = a + b + c)
//   products      node_k += mult node_i node_j for every `alpha_index_times` entry {i, j, mult, k}, in file
//                 order (the contractions of the moment tensors, spelled out)
//   basis         B_a = node[alpha_moment_mapping[a]]
// and their adjoints (reverse sweep of the products, then d/d r_ij of the basic moments) and tangents.
//
// As a Descriptor, the features are the A basis functions B_a at fixed radial coefficients (forward,
// backward, tangent and the per-centre Jacobian rows). The MTP model kernels (models/mtp.hpp) use the
// stages directly, with the radial coefficients taken from the parameter vector being trained.
#pragma once

#include <cstdint>
#include <vector>

#include "core/species.hpp"
#include "descriptors/descriptor.hpp"

namespace ldrx {

struct MTPBasisSpec {
    std::vector<int> species;  // atomic numbers in the potential's order (index = MLIP type)
    int n_mu = 0;              // radial_funcs_count
    int n_q = 0;               // radial_basis_size
    double r_min = 0.0, r_cut = 0.0, scaling = 1.0;
    int n_nodes = 0;            // alpha_moments_count
    std::vector<int> basic;    // [n_basic * 4]: mu, a, b, c
    std::vector<int> times;    // [n_times * 4]: i, j, mult, k
    std::vector<int> mapping;  // [A]: node index of each basis function

    int n_species() const { return static_cast<int>(species.size()); }
    int64_t n_basic() const { return static_cast<int64_t>(basic.size() / 4); }
    int64_t n_times() const { return static_cast<int64_t>(times.size() / 4); }
    int64_t n_basis() const { return static_cast<int64_t>(mapping.size()); }
    int64_t n_radial() const { return int64_t(n_species()) * n_species() * n_mu * n_q; }
    // MLIP's parameter order: radial coefficients [S, S, n_mu, n_q], species_coeffs [S], moment_coeffs [A]
    int64_t n_params() const { return n_radial() + n_species() + n_basis(); }
};

// Per-centre scratch of one thread. Arrays marked "neighbour-inner" are [rows][ld]: one row of `ld` (>= n)
// neighbour values per radial function / tensor component, so the loops over neighbours are contiguous and
// vectorise.
struct MTPWork {
    int64_t n = 0;                    // neighbours inside R_cut
    int64_t ld = 0;                   // row stride of the neighbour-inner arrays
    std::vector<int> type;            // [n] neighbour species index
    std::vector<int64_t> entry;       // [n] neighbour-list entry
    std::vector<double> r, u;         // [n], [n * 3]
    std::vector<double> phi, dphi;    // [n * n_q]: T_beta(s) (R_cut - r)^2 and its r-derivative
    std::vector<double> f, df;        // [n * n_mu]: radial functions and r-derivatives
    std::vector<double> pw;           // [n * 3 * (max_nu + 1)]: powers of xh, yh, zh
    std::vector<double> node, adj;    // [n_nodes]
    std::vector<double> dnode, dadj;  // [n_nodes] tangents / second adjoints (training)
    std::vector<double> g;            // [n * 3]: dE/d r_ij
    // neighbour-inner
    std::vector<double> ut;           // [3][ld]: unit vector components; then invr [ld] = 1 / r
    std::vector<double> invr;         // [ld]
    std::vector<double> fT, dfT;      // [n_mu][ld]: radial functions and r-derivatives
    std::vector<double> mono;         // [n_comp][ld]: xh^a yh^b zh^c for every component with a + b + c <= max_nu
    std::vector<double> gf, gm;       // [n_mu][ld], [n_comp][ld]: adjoints of f and of the monomials
    std::vector<double> t1, t2;       // [n_comp][ld]: (u.t) mono and d mono/d r_ij . t (tangent along t)
    std::vector<double> tt;           // [4][ld]: t_x, t_y, t_z, u.t
    std::vector<double> a0, a1;       // [n_mu][ld]: adjoints of phi and dphi (training, see coefficient_adjoints)
    std::vector<double> acc;          // [4][ld]: gradient accumulators
};

class MomentTensorBasis : public Descriptor {
public:
    // radial_coeffs [S, S, n_mu, n_q] (only needed for the Descriptor methods; may be empty otherwise).
    // Throws std::invalid_argument on an inconsistent basis (indices out of range, a product that uses a
    // node not yet computed, ...).
    MomentTensorBasis(MTPBasisSpec spec, std::vector<double> radial_coeffs = {});

    const MTPBasisSpec& spec() const { return s_; }
    const SpeciesMap& species_map() const { return map_; }
    int max_nu() const { return max_nu_; }

    // Descriptor interface (features B_a at the stored radial coefficients)
    int64_t size() const override { return s_.n_basis(); }
    double cutoff() const override { return s_.r_cut; }
    void check(const FrameBatch& batch) const override { map_.check(batch); }
    void forward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, double* G) const override;
    void backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const double* dEdG,
                  double* forces, double* virial) const override;
    void tangent(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const double* v,
                 double* dG) const override;
    bool has_jacobian() const override { return true; }
    void jacobian(const FrameView& f, const NeighbourList& nl, int64_t i, double* G, double* J) const override;

    // ---- stages (w must come from prepare; radial = [S, S, n_mu, n_q] coefficients)
    void prepare(MTPWork& w) const;
    // neighbours of centre i inside R_cut, radial functions, unit-vector powers; returns i's species index
    int neighbourhood(const FrameView& f, const NeighbourList& nl, int64_t i, const double* radial, MTPWork& w) const;
    // node values: basic moments, then the products
    void moments(MTPWork& w) const;
    // reverse sweep of the products: w.adj (seeded on the basis nodes) becomes dX/dnode for every node
    void reverse(MTPWork& w) const;
    // w.g[j] = sum over basic alpha of w.adj[alpha] d M_alpha / d r_ij
    void pair_gradients(MTPWork& w) const;
    // w.dnode = tangent of the nodes when r_ij moves by t [n * 3] (basic moments and products); leaves
    // w.t1, w.t2 for coefficient_adjoints
    void tangent_nodes(MTPWork& w, const double* t) const;
    // After tangent_nodes and a second-order reverse sweep (w.adj = dE/dnode, w.dadj = its derivative along t):
    // w.a0[mu][j] = sum over basic alpha with radial function mu of dadj_alpha P_alpha(j) + adj_alpha dP_alpha(j).t/|r|,
    // w.a1[mu][j] = sum of adj_alpha P_alpha(j) (u.t): the derivative of (adj . dM/dr . t) with respect to f_mu(r_ij)
    // and f'_mu(r_ij), so that the radial coefficients' gradient is a0 phi + a1 dphi.
    void coefficient_adjoints(MTPWork& w) const;
    int n_comp() const { return static_cast<int>(ca_.size()); }
    // product entries grouped in runs of consecutive entries with the same target node k: run r is entries
    // runs()[r] .. runs()[r+1]-1 (the sweeps keep node k / its adjoint in a register over a run)
    const std::vector<int>& runs() const { return runs_; }

private:
    MTPBasisSpec s_;
    std::vector<double> radial_;
    SpeciesMap map_;
    int max_nu_ = 0;
    std::vector<int> bmu_, ba_, bb_, bc_, bnu_;  // per basic moment
    std::vector<int> bcomp_;                     // per basic moment: its component (row of MTPWork::mono)
    // components (a, b, c), a + b + c <= max_nu, by degree; parent and axis: mono = mono[parent] * u[axis];
    // xm/ym/zm: component with a (b, c) lowered by one, -1 if that exponent is 0
    std::vector<int> ca_, cb_, cc_, cnu_, cpar_, caxis_, cxm_, cym_, czm_;
    std::vector<int> runs_;
    std::vector<char> cused_;                    // component used by some basic moment
};

}  // namespace ldrx
