// Non-owning views of the ldrx frame layout (see DESIGN.md, "The frame layout").
//
// A batch of N frames is held as concatenated arrays:
//   numbers   int32   [n_atoms]
//   positions float64 [n_atoms, 3]   Cartesian, Angstrom
//   cells     float64 [N, 3, 3]      rows are lattice vectors
//   pbc       uint8   [N, 3]
//   offsets   int64   [N + 1]        atoms of frame f are offsets[f] .. offsets[f+1]-1
// The views never own memory: Python hands its arrays over without copies.
#pragma once

#include <cstdint>

namespace ldrx {

struct FrameView {
    int64_t n_atoms = 0;
    const int32_t* numbers = nullptr;   // [n_atoms]
    const double* positions = nullptr;  // [n_atoms * 3]
    const double* cell = nullptr;       // [9], rows are lattice vectors
    const uint8_t* pbc = nullptr;       // [3]
};

struct FrameBatch {
    int64_t n_frames = 0;
    const int32_t* numbers = nullptr;
    const double* positions = nullptr;
    const double* cells = nullptr;
    const uint8_t* pbc = nullptr;
    const int64_t* offsets = nullptr;

    int64_t n_atoms() const { return n_frames > 0 ? offsets[n_frames] : 0; }
    int64_t first_atom(int64_t f) const { return offsets[f]; }
    int64_t frame_size(int64_t f) const { return offsets[f + 1] - offsets[f]; }

    FrameView frame(int64_t f) const {
        FrameView v;
        const int64_t a0 = offsets[f];
        v.n_atoms = offsets[f + 1] - a0;
        v.numbers = numbers + a0;
        v.positions = positions + 3 * a0;
        v.cell = cells + 9 * f;
        v.pbc = pbc + 3 * f;
        return v;
    }
};

// Virial components in Voigt order (xx, yy, zz, yz, xz, xy), the order ASE uses for stress.
constexpr int kVoigt[6][2] = {{0, 0}, {1, 1}, {2, 2}, {1, 2}, {0, 2}, {0, 1}};

// virial += -(d (x) g) for a pair vector d whose energy gradient is g = dE/dd.
// With forces F_j = -g on the neighbour and +g on the centre, W = sum over pairs of d (x) F_j.
inline void add_pair_virial(double* virial, const double* d, const double* g) {
    for (int v = 0; v < 6; ++v) virial[v] -= d[kVoigt[v][0]] * g[kVoigt[v][1]];
}

}  // namespace ldrx
