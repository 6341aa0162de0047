// The descriptor contract of DESIGN.md: forward, backward (vector-Jacobian product) and tangent
// (Jacobian-vector product), never the stored Jacobian.
//
// A descriptor implements three per-frame kernels that work on a range of centre atoms [a0, a1) of one
// frame, given that frame's neighbour list (built with the descriptor's cut-off). The batch drivers
// below run them over a whole FrameBatch with OpenMP: over frames when there are many, over the atoms
// of each frame when there are few large frames.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/frames.hpp"
#include "core/neighbours.hpp"
#include "core/parallel.hpp"

namespace ldrx {

class Descriptor {
public:
    virtual ~Descriptor() = default;
    virtual int64_t size() const = 0;     // features per atom, d
    virtual double cutoff() const = 0;    // neighbour-list cut-off
    // Throws std::invalid_argument naming the frame and atom when the batch cannot be described
    // (unknown species, ...). Called once by the drivers before any kernel runs.
    virtual void check(const FrameBatch& batch) const = 0;

    // G[i * d + k] = G_k(i) for i in [a0, a1); G points at the frame's first row.
    virtual void forward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                         double* G) const = 0;
    // For i in [a0, a1): forces[a] -= sum_k dEdG[i, k] dG_k(i)/dr_a (accumulated into the frame's
    // force rows, every atom a that i sees) and virial (Voigt, eV) += the pair terms -d (x) dE/dd.
    virtual void backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                          const double* dEdG, double* forces, double* virial) const = 0;
    // dG[i, k] = sum_a dG_k(i)/dr_a . v[a] for i in [a0, a1) (written, not accumulated).
    virtual void tangent(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                         const double* v, double* dG) const = 0;

    // Forward and backward of a model whose atomic energy depends on the atom's own features only: for
    // each centre i, fn(i, G_i, dEdG_i) receives G_i and fills dE/dG_i, then (if forces is not null) the
    // forces and virial of E = sum_i dEdG_i . G_i are accumulated as in backward. The default runs the
    // two passes; descriptors override it to expand each neighbourhood once.
    using AdjointFn = std::function<void(int64_t i, const double* G, double* dEdG)>;
    virtual void forward_backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                  const AdjointFn& fn, double* forces, double* virial) const;

    // Per-centre Jacobian rows (the hook the streamed linear fits use, see models/linear_rows.hpp): for
    // centre i, G [d] = G(i) and J [(nl.end(i) - nl.begin(i)) * 3 * d] with
    //   J[(p * 3 + x) * d + k] = dG_k(i) / d(vec_p)_x,
    // p running over i's neighbour-list entries nl.begin(i) .. nl.end(i)-1 in order, vec_p = r_j + shift - r_i
    // the pair vector of entry p. Since G(i) depends on the positions only through these pair vectors,
    // dG_k(i)/dr_a = sum over entries p with neighbour a of J_p - (a == i) sum over all p of J_p, and the
    // virial rows are -sum_p vec_p (x) J_p. A descriptor that can afford it (memory n_neighbours x 3 x d per
    // centre, for one centre at a time) overrides has_jacobian() and jacobian(); the default has none.
    virtual bool has_jacobian() const { return false; }
    virtual void jacobian(const FrameView& f, const NeighbourList& nl, int64_t i, double* G, double* J) const {
        throw std::logic_error("this descriptor does not provide per-centre Jacobian rows");
    }
    // The same rows summed by neighbour atom, which is what the linear fits consume (models/linear_rows.hpp):
    // G [d] = G(i); atoms = the distinct frame atoms among i's entries (i's own images included);
    //   J[(q * 3 + x) * d + k] = sum over the entries p whose neighbour is atoms[q] of dG_k(i)/d(vec_p)_x;
    // with `virial`, virial[v * d + k] = sum_p (vec_p)_a dG_k(i)/d(vec_p)_b, (a, b) = kVoigt[v].
    // The default sums jacobian(); a descriptor overrides it when it can build the sums directly.
    struct AtomJacobian {
        std::vector<int32_t> atoms;
        std::vector<double> J, virial;
    };
    virtual void jacobian_by_atom(const FrameView& f, const NeighbourList& nl, int64_t i, bool virial, double* G,
                                  AtomJacobian& out) const;
};

// Whole-batch drivers. G, dEdG, v, dG are [n_atoms, d] / [n_atoms, 3] over the batch; forces is
// [n_atoms, 3] and virial [n_frames, 6], both overwritten.
void descriptor_forward(const Descriptor& d, const FrameBatch& b, double* G);
void descriptor_backward(const Descriptor& d, const FrameBatch& b, const double* dEdG, double* forces,
                         double* virial);
void descriptor_tangent(const Descriptor& d, const FrameBatch& b, const double* v, double* dG);

// Parallel strategy shared by all batch loops: frames in parallel when there are at least two frames per
// thread, else the atoms of each frame in parallel.
inline bool parallel_over_frames(int64_t n_frames, int threads) { return threads <= 1 || n_frames >= 2 * threads; }

// Runs kernel(f, frame, nl, a0, a1, slot) over every atom of the batch with the frame's neighbour list
// (cut-off `cutoff`): over frames in parallel (slot = -1: the call covers the whole frame and may write
// the frame's outputs directly), or, when frames are few, over one contiguous block of atoms of each
// frame per thread (slot = thread number, for thread-local sums that end_frame(f, threads) adds in thread
// order after begin_frame(f, threads) prepared them). Both are deterministic for a given thread count.
// An invalid_argument is re-thrown as "frame f: ...".
template <class Kernel, class Begin, class End>
void for_each_atom_block(const FrameBatch& b, double cutoff, Kernel&& kernel, Begin&& begin_frame, End&& end_frame) {
    const int nt = max_threads();
    ExceptionSlot err;
    if (parallel_over_frames(b.n_frames, nt)) {
#pragma omp parallel num_threads(nt)
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
#pragma omp parallel for schedule(static, 1) num_threads(nt)
        for (int t = 0; t < nt; ++t) {
            const int64_t a0 = fv.n_atoms * t / nt, a1 = fv.n_atoms * (t + 1) / nt;
            if (a0 < a1) err.run_frame(f, [&] { kernel(f, fv, nl, a0, a1, t); });
        }
        err.rethrow();
        end_frame(f, nt);
    }
}

// for_each_atom_block for kernels that add to forces [n_atoms, 3] and virial [n_frames, 6] (both zeroed
// here): kernel(f, frame, nl, a0, a1, F, W) gets the frame's force rows F and virial W, or, when the atoms
// of a frame are split over threads, thread-local ones that are added in thread order after the frame
// (deterministic for a given thread count). With forces == nullptr there is nothing to sum: F and W are
// nullptr (virial is then ignored).
template <class Kernel>
void for_each_atom_block_with_forces(const FrameBatch& b, double cutoff, double* forces, double* virial,
                                     Kernel&& kernel) {
    if (forces) {
        std::fill(forces, forces + 3 * b.n_atoms(), 0.0);
        std::fill(virial, virial + 6 * b.n_frames, 0.0);
    }
    std::vector<std::vector<double>> tf, tv;  // per thread, atom-parallel mode
    for_each_atom_block(
        b, cutoff,
        [&](int64_t f, const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, int slot) {
            if (!forces)
                kernel(f, fv, nl, a0, a1, nullptr, nullptr);
            else if (slot < 0)
                kernel(f, fv, nl, a0, a1, forces + 3 * b.first_atom(f), virial + 6 * f);
            else
                kernel(f, fv, nl, a0, a1, tf[slot].data(), tv[slot].data());
        },
        [&](int64_t f, int nt) {
            if (!forces) return;
            tf.assign(nt, std::vector<double>(3 * b.frame_size(f), 0.0));
            tv.assign(nt, std::vector<double>(6, 0.0));
        },
        [&](int64_t f, int nt) {
            if (!forces) return;
            const int64_t a = b.first_atom(f);
            for (int t = 0; t < nt; ++t) {
                for (int64_t k = 0; k < 3 * b.frame_size(f); ++k) forces[3 * a + k] += tf[t][k];
                for (int k = 0; k < 6; ++k) virial[6 * f + k] += tv[t][k];
            }
        });
}

}  // namespace ldrx
