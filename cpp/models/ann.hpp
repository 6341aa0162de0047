// Atomic neural networks (Behler-Parrinello / aenet): one feed-forward network per species, total
// energy = sum of atomic outputs. Artrith & Urban, Comput. Mater. Sci. 114, 135 (2016).
//
// Parameter layout is aenet's, so .nn files map one to one: for each species its layers in order;
// layer l is a column-major (n_out, n_in + 1) matrix whose last column is the bias.
//
// The training kernel computes, over a data set with cached normalised features G~ = (G - mu) / sigma,
//   L = 1/sum_s w_s  sum_s w_s 1/2 ((sum_{i in s} NN(G~_i) - E~_s) / N_s)^2                 (energies)
//     + force_weight / N_F  sum_{a, c} 1/2 (F~_ac - F~ref_ac)^2                              (forces)
// with E~ and F~ in normalised units (energy scale applied). Predicted forces come from the descriptor's
// adjoint, F~ = -sum_i (dNN/dG~_i / sigma) dG_i/dr; their weight gradient uses the tangent
// t = (dG/dr) dF~ and a forward-over-reverse pass through the small networks, so nothing of size
// n_pairs x 3 x d is ever stored (DESIGN.md).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/frames.hpp"
#include "core/neighbours.hpp"
#include "core/species.hpp"
#include "descriptors/descriptor.hpp"

namespace ldrx {

enum class Activation : int { Linear = 0, Tanh = 1, Sigmoid = 2, MTanh = 3, Twist = 4 };

struct NetworkSpec {
    std::vector<int> nodes;             // [n_in, hidden..., 1]
    std::vector<Activation> act;        // one per non-input layer (output usually Linear)
    int64_t n_params() const;
};

class AtomicNetworks {
public:
    explicit AtomicNetworks(std::vector<NetworkSpec> specs);
    int n_species() const { return static_cast<int>(specs_.size()); }
    int n_inputs() const { return n_in_; }
    int64_t n_params() const { return n_params_; }
    int64_t offset(int s) const { return offset_[s]; }
    const NetworkSpec& spec(int s) const { return specs_[s]; }

    // Atomic outputs NN(x_i) [n] and, if dNN != nullptr, dNN/dx_i [n, n_in], for atoms with species
    // index species[i] and inputs x [n, n_in] (row-major). Parallel over atom blocks.
    void evaluate(const double* theta, const double* x, const int32_t* species, int64_t n, double* out,
                  double* dNN) const;
    // One atom of species s: NN(x) and, if dx is not null, dNN/dx [n_in].
    double evaluate_one(const double* theta, int s, const double* x, double* dx) const;

    // Per species block work: forward, input gradient and the combined reverse pass. Public so the
    // trainer can use it; `cols` are atoms (column-major n_in x m inputs).
    struct Block;
    void forward(const double* theta, int s, Block& b) const;
    void input_gradient(const double* theta, int s, Block& b) const;            // b.dx = dNN/dx
    void tangent_forward(const double* theta, int s, Block& b) const;           // needs b.tau
    // grad += sum_i kappa_i dNN_i/dtheta + rho_i d(dNN_i/dx . tau_i)/dtheta
    void reverse(const double* theta, int s, Block& b, double* grad) const;

private:
    std::vector<NetworkSpec> specs_;
    std::vector<int64_t> offset_;
    int64_t n_params_ = 0;
    int n_in_ = 0;
};

// An ANN potential for prediction: E_i = NN_s((G_i - mean_s) inv_sigma_s) / scale + shift + e_ref_s.
struct ANNPotential {
    const Descriptor* descriptor = nullptr;
    const AtomicNetworks* networks = nullptr;
    const double* theta = nullptr;
    SpeciesMap species;
    const double* mean = nullptr;       // [n_species, n_in]
    const double* inv_sigma = nullptr;  // [n_species, n_in] (0 for constant features)
    double scale = 1.0, shift = 0.0;
    const double* e_ref = nullptr;      // [n_species]
};

// Per-atom energies [n_atoms] and, if forces is not null, forces [n_atoms, 3] and virial [n_frames, 6],
// with one neighbourhood expansion per atom (Descriptor::forward_backward).
void ann_energy_forces(const ANNPotential& p, const FrameBatch& b, double* atom_energy, double* forces,
                       double* virial);

struct ANNTrainingData {
    // features (normalised) and layout
    const double* x = nullptr;           // [n_atoms, n_in]
    const int32_t* species = nullptr;    // [n_atoms] species index
    const int64_t* offsets = nullptr;    // [n_frames + 1]
    int64_t n_frames = 0;
    const double* energy = nullptr;      // [n_frames] normalised targets E~
    const double* energy_weight = nullptr;  // [n_frames] (0 = no energy label)
    // forces (optional)
    double force_weight = 0.0;
    const Descriptor* descriptor = nullptr;
    FrameBatch batch;                    // geometry of the same frames
    const double* inv_sigma = nullptr;   // [n_species, n_in] 1/sigma (0 for constant features)
    const double* forces = nullptr;      // [n_atoms, 3] normalised F~ref (NaN = unknown)
    const uint8_t* force_frames = nullptr;  // [n_frames] 1 = use this frame's forces
    bool cache_neighbours = true;
    // Data parallelism (MPI): the frames may be one rank's shard of a larger set. The chunks (the leaves of the
    // reduction, see ldrx/parallel.py) are then given as frame bounds, and the loss is normalised by the totals of
    // the whole set, not of the shard. Empty bounds / negative totals: the fixed rule and this shard's totals.
    std::vector<int64_t> chunk_bounds;       // [K + 1] local frame indices, 0 .. n_frames
    double energy_weight_total = -1.0;       // sum of energy weights over all frames of all ranks
    int64_t force_components_total = -1;     // known force components over all force frames of all ranks
};

struct ANNLoss {
    double loss = 0.0, loss_energy = 0.0, loss_forces = 0.0;
    double energy_sse = 0.0, energy_count = 0.0;  // sum of squared per-atom errors (normalised), count
    double force_sse = 0.0, force_count = 0.0;    // sum of squared component errors (normalised), count
};

class ANNTrainer {
public:
    ANNTrainer(const AtomicNetworks& nets, const ANNTrainingData& data);
    // Loss and gradient [n_params] at theta (loss only if grad is null). Deterministic: frames are split into a fixed number of
    // chunks whatever the thread count, and chunk gradients are summed in order.
    ANNLoss loss_grad(const double* theta, double* grad);
    // The same per chunk, unsummed: out [n_chunks, 6 + n_params] holds per chunk (loss_energy, loss_forces,
    // energy_sse, energy_count, force_sse, force_count) and, with grad, its gradient (else zeros).
    void chunk_partials(const double* theta, bool grad, double* out);
    int64_t n_chunks() const { return static_cast<int64_t>(bounds_.size()) - 1; }
    // Normalised total energies per frame (sum of atomic outputs) at theta.
    void frame_energies(const double* theta, double* out) const;

private:
    void run_chunk(const double* theta, int64_t f0, int64_t f1, double* grad, ANNLoss& acc);
    // runs every chunk (threads over chunks); sums.grads[k] and sums.parts[k] hold chunk k's sums
    struct ChunkSums;
    void run_chunks(const double* theta, bool grad, ChunkSums& sums);
    std::vector<int64_t> bounds_;

    const AtomicNetworks& nets_;
    ANNTrainingData d_;
    int64_t n_force_components_ = 0;
    double energy_weight_sum_ = 0.0;
    NeighbourListCache nl_cache_;
};

}  // namespace ldrx
