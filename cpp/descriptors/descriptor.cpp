#include "descriptors/descriptor.hpp"

#include <vector>

namespace ldrx {
namespace {

const auto kNothing = [](int64_t, int) {};

}  // namespace

void Descriptor::forward_backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                  const AdjointFn& fn, double* forces, double* virial) const {
    const int64_t D = size();
    std::vector<double> G(D * f.n_atoms), dEdG(D * f.n_atoms, 0.0);
    forward(f, nl, a0, a1, G.data());
    for (int64_t i = a0; i < a1; ++i) fn(i, &G[D * i], &dEdG[D * i]);
    if (forces) backward(f, nl, a0, a1, dEdG.data(), forces, virial);
}

void descriptor_forward(const Descriptor& d, const FrameBatch& b, double* G) {
    d.check(b);
    const int64_t D = d.size();
    for_each_atom_block(
        b, d.cutoff(),
        [&](int64_t f, const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, int) {
            d.forward(fv, nl, a0, a1, G + D * b.first_atom(f));
        },
        kNothing, kNothing);
}

void descriptor_backward(const Descriptor& d, const FrameBatch& b, const double* dEdG, double* forces,
                         double* virial) {
    d.check(b);
    const int64_t D = d.size();
    for_each_atom_block_with_forces(
        b, d.cutoff(), forces, virial,
        [&](int64_t f, const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, double* F, double* W) {
            d.backward(fv, nl, a0, a1, dEdG + D * b.first_atom(f), F, W);
        });
}

void descriptor_tangent(const Descriptor& d, const FrameBatch& b, const double* v, double* dG) {
    d.check(b);
    const int64_t D = d.size();
    for_each_atom_block(
        b, d.cutoff(),
        [&](int64_t f, const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, int) {
            const int64_t a = b.first_atom(f);
            d.tangent(fv, nl, a0, a1, v + 3 * a, dG + D * a);
        },
        kNothing, kNothing);
}

}  // namespace ldrx
