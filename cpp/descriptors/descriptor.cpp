#include "descriptors/descriptor.hpp"

#include <algorithm>
#include <vector>

#include "core/parallel.hpp"

namespace ldrx {
namespace {

constexpr int64_t kAtomChunk = 8;  // atoms per task when a frame is split among threads

// Runs kernel(f, frame, nl, a0, a1, slot) over every atom of the batch, in parallel over frames
// (slot = -1: the kernel owns the whole frame) or, when frames are few, over chunks of atoms of each
// frame in turn (slot = thread number; begin_frame(f, threads) and end_frame(f, threads) bracket it).
template <class Kernel, class Begin, class End>
void run_batch(const FrameBatch& b, double cutoff, Kernel&& kernel, Begin&& begin_frame, End&& end_frame) {
    const int nt = max_threads();
    ExceptionSlot err;
    if (parallel_over_frames(b.n_frames, nt)) {
#pragma omp parallel
        {
            NeighbourList nl;
#pragma omp for schedule(dynamic, 1)
            for (int64_t f = 0; f < b.n_frames; ++f) {
                if (err.failed()) continue;
                err.run_frame(f, [&] {
                    const FrameView fv = b.frame(f);
                    build_neighbour_list(fv, cutoff, nl, 1);
                    kernel(f, fv, nl, int64_t(0), fv.n_atoms, -1);
                });
            }
        }
        err.rethrow();
        return;
    }
    NeighbourList nl;
    for (int64_t f = 0; f < b.n_frames; ++f) {
        const FrameView fv = b.frame(f);
        err.run_frame(f, [&] { build_neighbour_list(fv, cutoff, nl, nt); });
        err.rethrow();
        begin_frame(f, nt);
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t a0 = 0; a0 < fv.n_atoms; a0 += kAtomChunk)
            err.run_frame(f, [&] { kernel(f, fv, nl, a0, std::min(fv.n_atoms, a0 + kAtomChunk), thread_id()); });
        err.rethrow();
        end_frame(f, nt);
    }
}

const auto kNothing = [](int64_t, int) {};

}  // namespace

void descriptor_forward(const Descriptor& d, const FrameBatch& b, double* G) {
    d.check(b);
    const int64_t D = d.size();
    run_batch(
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
    run_batch(
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
    run_batch(
        b, d.cutoff(),
        [&](int64_t f, const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, int) {
            const int64_t a = b.first_atom(f);
            d.tangent(fv, nl, a0, a1, v + 3 * a, dG + D * a);
        },
        kNothing, kNothing);
}

}  // namespace ldrx
