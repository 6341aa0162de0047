// aenet's Chebyshev ("AUC") descriptor: Artrith, Urban, Ceder, Phys. Rev. B 96, 014112 (2017).
//
// For a centre atom i with neighbours j (periodic images included) at distance r_ij:
//   radial   G^rad_n = sum_j T_n(2 r_ij / Rr - 1) fc(r_ij; Rr),                     n = 0..Nr
//   angular  G^ang_n = sum_{j<k} T_n(cos theta_ijk) fc(r_ij; Ra) fc(r_ik; Ra),      n = 0..Na
// with fc(r; Rc) = (cos(pi r / Rc) + 1) / 2 and T_n the Chebyshev polynomials of the first kind. With
// more than one species a second, "typespin"-weighted copy follows, each radial term multiplied by
// s_j and each angular term by s_j s_k, s being the species weight (aenet: -n/2 .. n/2 in ENV order,
// 0 skipped for an even count). Block order [rad | ang | rad_w | ang_w] as in aenet 2.0.4.
//
// Evaluation. The angular double sum is not done pair by pair (O(n_nb^2)). Writing T_n in Legendre
// polynomials, T_n = sum_l b_nl P_l, and using the addition theorem
// P_l(u_j . u_k) = sum_m Z_lm(u_j) Z_lm(u_k) with Schmidt semi-normalised real harmonics Z_lm,
//   sum_{j<k} w_j w_k T_n(c_jk) = 1/2 [ sum_l b_nl sum_m A_lm^2 - sum_j w_j^2 ],  A_lm = sum_j w_j Z_lm(u_j),
// an identity (w_j = fc or s_j fc), so the cost is O(n_nb (Na+1)^2) and the result is aenet's up to
// rounding. Forces and tangents follow by the chain rule through A_lm.
#pragma once

#include <vector>

#include "core/species.hpp"
#include "descriptors/descriptor.hpp"

namespace ldrx {

struct ChebyshevParams {
    std::vector<int> species;      // atomic numbers in ENV order
    std::vector<double> weights;   // typespin weight per species (empty: aenet's default)
    double radial_cutoff = 8.0;
    int radial_order = 16;
    double angular_cutoff = 6.5;
    int angular_order = 4;
};

// aenet's default typespin weights for n species.
std::vector<double> aenet_typespin(int n);

class ChebyshevDescriptor : public Descriptor {
public:
    explicit ChebyshevDescriptor(const ChebyshevParams& p);

    int64_t size() const override { return size_; }
    double cutoff() const override;
    void check(const FrameBatch& b) const override { species_.check(b); }
    const ChebyshevParams& params() const { return p_; }

    void forward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, double* G) const override;
    void backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const double* dEdG,
                  double* forces, double* virial) const override;
    void tangent(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const double* v,
                 double* dG) const override;
    // One neighbourhood expansion per atom for both passes.
    void forward_backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const AdjointFn& fn,
                          double* forces, double* virial) const override;

private:
    struct Work;  // per-thread scratch
    void features(Work& w, double* g) const;
    void adjoint(int64_t i, Work& w, const double* g, double* forces, double* virial) const;
    // Fills per-neighbour radial and angular terms of centre i and the moments A_lm (and, with
    // derivatives, the harmonics' gradients).
    void expand(const FrameView& f, const NeighbourList& nl, int64_t i, bool derivatives, Work& w) const;

    ChebyshevParams p_;
    SpeciesMap species_;
    bool weighted_;
    int nr_, na_, nlm_;            // Nr + 1, Na + 1, (Na + 1)^2
    int64_t size_;
    std::vector<double> b_;        // [na_ x na_]: T_n = sum_l b_[n * na_ + l] P_l
    std::vector<double> norm_;     // [na_ x na_]: Schmidt factor N_lm
};

}  // namespace ldrx
