#include "descriptors/descriptor.hpp"

#include <algorithm>
#include <vector>


namespace ldrx {
namespace {

const auto kNothing = [](int64_t, int) {};

}  // namespace

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
    std::fill(forces, forces + 3 * b.n_atoms(), 0.0);
    std::fill(virial, virial + 6 * b.n_frames, 0.0);
    // atom-parallel mode: thread-local sums, added in thread order (deterministic per thread count)
    std::vector<std::vector<double>> tf, tv;
    for_each_atom_block(
        b, d.cutoff(),
        [&](int64_t f, const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, int slot) {
            const int64_t a = b.first_atom(f);
            if (slot < 0)
                d.backward(fv, nl, a0, a1, dEdG + D * a, forces + 3 * a, virial + 6 * f);
            else
                d.backward(fv, nl, a0, a1, dEdG + D * a, tf[slot].data(), tv[slot].data());
        },
        [&](int64_t f, int nt) {
            tf.assign(nt, std::vector<double>(3 * b.frame_size(f), 0.0));
            tv.assign(nt, std::vector<double>(6, 0.0));
        },
        [&](int64_t f, int nt) {
            const int64_t a = b.first_atom(f);
            for (int t = 0; t < nt; ++t) {
                for (int64_t k = 0; k < 3 * b.frame_size(f); ++k) forces[3 * a + k] += tf[t][k];
                for (int k = 0; k < 6; ++k) virial[6 * f + k] += tv[t][k];
            }
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
