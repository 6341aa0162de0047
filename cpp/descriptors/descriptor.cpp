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

void Descriptor::jacobian_by_atom(const FrameView& f, const NeighbourList& nl, int64_t i, bool virial, double* G,
                                  AtomJacobian& out) const {
    const int64_t D = size(), e0 = nl.begin(i), np = nl.end(i) - e0;
    thread_local std::vector<double> J;
    thread_local std::vector<int32_t> slot;
    J.resize(np * 3 * D);
    jacobian(f, nl, i, G, J.data());
    if (static_cast<int64_t>(slot.size()) < f.n_atoms) slot.resize(f.n_atoms, -1);
    out.atoms.clear();
    out.J.clear();
    for (int64_t p = 0; p < np; ++p) {
        const int32_t a = nl.index[e0 + p];
        if (slot[a] < 0) {
            slot[a] = static_cast<int32_t>(out.atoms.size());
            out.atoms.push_back(a);
            out.J.resize(out.J.size() + 3 * D, 0.0);
        }
        const double* src = &J[p * 3 * D];
        double* dst = &out.J[slot[a] * 3 * D];
        for (int64_t c = 0; c < 3 * D; ++c) dst[c] += src[c];
    }
    for (const int32_t a : out.atoms) slot[a] = -1;
    if (!virial) return;
    out.virial.assign(6 * D, 0.0);
    for (int64_t p = 0; p < np; ++p) {
        const double* vec = &nl.vec[3 * (e0 + p)];
        for (int v = 0; v < 6; ++v) {
            const double c = vec[kVoigt[v][0]];
            const double* src = &J[(p * 3 + kVoigt[v][1]) * D];
            double* dst = &out.virial[v * D];
            for (int64_t k = 0; k < D; ++k) dst[k] += c * src[k];
        }
    }
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
