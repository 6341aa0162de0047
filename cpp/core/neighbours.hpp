// Periodic neighbour list of one frame, built with a cell list so the cost is linear in atoms.
//
// Handles triclinic cells, cells thinner than the cut-off (then several periodic images of the same
// atom, the centre's own images included, appear as separate entries) and non-periodic directions
// (whose lattice rows may be zero). Full list: every pair appears once from each side. A pair costs
// 36 bytes (48 with shifts), so lists can be cached for small data and rebuilt per frame for large.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/frames.hpp"

namespace ldrx {

struct NeighbourList {
    double cutoff = 0.0;
    std::vector<int64_t> start;  // [n_atoms + 1]: entries of atom i are start[i] .. start[i+1]-1
    std::vector<int32_t> index;  // neighbour atom (frame-local index)
    std::vector<double> vec;     // [n_pairs * 3]: r_j + (lattice shift) - r_i
    std::vector<double> dist;    // [n_pairs]: |vec|
    std::vector<int32_t> shift;  // [n_pairs * 3]: integer lattice shift of the image (only if asked for)

    int64_t n_atoms() const { return start.empty() ? 0 : static_cast<int64_t>(start.size()) - 1; }
    int64_t n_pairs() const { return static_cast<int64_t>(index.size()); }
    int64_t begin(int64_t i) const { return start[i]; }
    int64_t end(int64_t i) const { return start[i + 1]; }
};

// Raised (as std::invalid_argument) for a cell that cannot be used: a periodic lattice row of zero
// length, periodic rows that are linearly dependent, or non-finite positions.
// Builds the full list of pairs with 0 < |r_ij| < cutoff. `threads` > 1 splits the atoms of the frame
// among OpenMP threads (for large single frames); 1 builds serially (for loops over many frames).
void build_neighbour_list(const FrameView& frame, double cutoff, NeighbourList& out, int threads = 1,
                          bool with_shifts = false);

// Shortest distance between two atoms (periodic images included) if it is below `cutoff`, with the
// pair; returns false when no pair is closer than `cutoff`.
bool closest_pair(const FrameView& frame, double cutoff, double& distance, int64_t& i, int64_t& j);

// Neighbour lists of a training set kept across loss evaluations (the ANN and MTP trainers): filled
// lazily, frame f by the thread that owns f's chunk (frames are never shared between threads). Bound to
// one batch (frame and atom counts, position storage, cutoff); binding another batch clears it. About
// 36 bytes per pair.
struct NeighbourListCache {
    std::vector<NeighbourList> lists;
    std::vector<uint8_t> ready;
    const double* positions = nullptr;
    int64_t n_frames = -1, n_atoms = -1;
    double cutoff = -1.0;
    // binds the cache to batch b (clearing it if it held another one)
    void bind(const FrameBatch& b, double r_cut);
    // the list of frame f (view fv of the bound batch), built the first time it is asked for
    const NeighbourList& get(const FrameView& fv, int64_t f);
    int64_t bytes() const;
};

}  // namespace ldrx
