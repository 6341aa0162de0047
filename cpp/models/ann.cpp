#include "models/ann.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/parallel.hpp"

namespace ldrx {

using Mat = Eigen::MatrixXd;
using ConstMap = Eigen::Map<const Mat>;
using MatMap = Eigen::Map<Mat>;

namespace {

// sigma(z), sigma'(z), sigma''(z) of aenet's activations (codes 0..4). mtanh is LeCun's scaled tanh
// 1.7159 tanh(2z/3); "twist" adds 0.1 z.
inline void activation(Activation f, double z, double& a, double& d1, double& d2) {
    switch (f) {
        case Activation::Linear:
            a = z;
            d1 = 1.0;
            d2 = 0.0;
            return;
        case Activation::Tanh: {
            const double t = std::tanh(z);
            a = t;
            d1 = 1.0 - t * t;
            d2 = -2.0 * t * (1.0 - t * t);
            return;
        }
        case Activation::Sigmoid: {
            const double g = 1.0 / (1.0 + std::exp(-z));
            a = g;
            d1 = g * (1.0 - g);
            d2 = g * (1.0 - g) * (1.0 - 2.0 * g);
            return;
        }
        case Activation::MTanh:
        case Activation::Twist: {
            const double A = 1.7159, B = 2.0 / 3.0, lin = (f == Activation::Twist) ? 0.1 : 0.0;
            const double t = std::tanh(B * z);
            a = A * t + lin * z;
            d1 = A * B * (1.0 - t * t) + lin;
            d2 = -2.0 * A * B * B * t * (1.0 - t * t);
            return;
        }
    }
    throw std::invalid_argument("unknown activation");
}

// Elementwise over a matrix: z -> a, d1, d2.
void activate(Activation f, const Mat& z, Mat& a, Mat& d1, Mat& d2) {
    a.resize(z.rows(), z.cols());
    d1.resize(z.rows(), z.cols());
    d2.resize(z.rows(), z.cols());
    const int64_t n = z.size();
    for (int64_t k = 0; k < n; ++k) activation(f, z.data()[k], a.data()[k], d1.data()[k], d2.data()[k]);
}

}  // namespace

int64_t NetworkSpec::n_params() const {
    int64_t n = 0;
    for (size_t l = 1; l < nodes.size(); ++l) n += static_cast<int64_t>(nodes[l]) * (nodes[l - 1] + 1);
    return n;
}

struct AtomicNetworks::Block {
    std::vector<int64_t> atoms;          // atoms (indices into the caller's arrays)
    std::vector<Mat> A, Z, D1, D2;       // per layer 0..L (A[0] = inputs, n_in x m)
    std::vector<Mat> Zdot, Adot;         // tangent pass
    Mat dx;                              // dNN/dx, n_in x m
    Mat tau;                             // tangent direction, n_in x m
    Eigen::RowVectorXd kappa, rho;       // output and tangent adjoints, 1 x m
    int64_t m() const { return static_cast<int64_t>(atoms.size()); }
};

AtomicNetworks::AtomicNetworks(std::vector<NetworkSpec> specs) : specs_(std::move(specs)) {
    if (specs_.empty()) throw std::invalid_argument("no networks");
    n_in_ = specs_[0].nodes.empty() ? 0 : specs_[0].nodes[0];
    for (size_t s = 0; s < specs_.size(); ++s) {
        const NetworkSpec& sp = specs_[s];
        if (sp.nodes.size() < 2 || sp.nodes.back() != 1)
            throw std::invalid_argument("network " + std::to_string(s) + ": needs at least an input and a single output node");
        if (sp.nodes[0] != n_in_) throw std::invalid_argument("all networks need the same number of inputs");
        if (sp.act.size() != sp.nodes.size() - 1)
            throw std::invalid_argument("network " + std::to_string(s) + ": one activation per non-input layer");
        for (int n : sp.nodes)
            if (n <= 0) throw std::invalid_argument("layer sizes must be positive");
        offset_.push_back(n_params_);
        n_params_ += sp.n_params();
    }
}

void AtomicNetworks::forward(const double* theta, int s, Block& b) const {
    const NetworkSpec& sp = specs_[s];
    const int L = static_cast<int>(sp.nodes.size()) - 1;
    b.Z.resize(L + 1);
    b.A.resize(L + 1);
    b.D1.resize(L + 1);
    b.D2.resize(L + 1);
    const double* w = theta + offset_[s];
    for (int l = 1; l <= L; ++l) {
        const int no = sp.nodes[l], ni = sp.nodes[l - 1];
        ConstMap W(w, no, ni);
        Eigen::Map<const Eigen::VectorXd> bias(w + int64_t(no) * ni, no);
        b.Z[l].noalias() = W * b.A[l - 1];
        b.Z[l].colwise() += bias;
        activate(sp.act[l - 1], b.Z[l], b.A[l], b.D1[l], b.D2[l]);
        w += int64_t(no) * (ni + 1);
    }
}

void AtomicNetworks::input_gradient(const double* theta, int s, Block& b) const {
    const NetworkSpec& sp = specs_[s];
    const int L = static_cast<int>(sp.nodes.size()) - 1;
    Mat delta = b.D1[L];  // dNN/dZ_L
    for (int l = L; l >= 1; --l) {
        const int no = sp.nodes[l], ni = sp.nodes[l - 1];
        const double* w = theta + offset_[s];
        for (int k = 1; k < l; ++k) w += int64_t(sp.nodes[k]) * (sp.nodes[k - 1] + 1);
        ConstMap W(w, no, ni);
        Mat prev = W.transpose() * delta;
        if (l > 1) prev.array() *= b.D1[l - 1].array();
        delta.swap(prev);
    }
    b.dx.swap(delta);
}

void AtomicNetworks::tangent_forward(const double* theta, int s, Block& b) const {
    const NetworkSpec& sp = specs_[s];
    const int L = static_cast<int>(sp.nodes.size()) - 1;
    b.Zdot.resize(L + 1);
    b.Adot.resize(L + 1);
    b.Adot[0] = b.tau;
    const double* w = theta + offset_[s];
    for (int l = 1; l <= L; ++l) {
        const int no = sp.nodes[l], ni = sp.nodes[l - 1];
        ConstMap W(w, no, ni);
        b.Zdot[l].noalias() = W * b.Adot[l - 1];
        b.Adot[l] = b.D1[l].cwiseProduct(b.Zdot[l]);
        w += int64_t(no) * (ni + 1);
    }
}

void AtomicNetworks::reverse(const double* theta, int s, Block& b, double* grad) const {
    const NetworkSpec& sp = specs_[s];
    const int L = static_cast<int>(sp.nodes.size()) - 1;
    const bool tangent = b.rho.size() > 0;
    // layer offsets
    std::vector<int64_t> off(L + 1, offset_[s]);
    for (int l = 2; l <= L; ++l) off[l] = off[l - 1] + int64_t(sp.nodes[l - 1]) * (sp.nodes[l - 2] + 1);
    // adjoints of Z_L and Zdot_L
    Mat kappa = b.D1[L].array().rowwise() * b.kappa.array();
    Mat rho;
    if (tangent) {
        kappa.array() += b.D2[L].array() * b.Zdot[L].array() * b.rho.replicate(b.D2[L].rows(), 1).array();
        rho = b.D1[L].array().rowwise() * b.rho.array();
    }
    for (int l = L; l >= 1; --l) {
        const int no = sp.nodes[l], ni = sp.nodes[l - 1];
        ConstMap W(theta + off[l], no, ni);
        MatMap gW(grad + off[l], no, ni);
        Eigen::Map<Eigen::VectorXd> gb(grad + off[l] + int64_t(no) * ni, no);
        gW.noalias() += kappa * b.A[l - 1].transpose();
        gb.noalias() += kappa.rowwise().sum();
        if (tangent) gW.noalias() += rho * b.Adot[l - 1].transpose();
        if (l == 1) break;
        Mat beta = W.transpose() * kappa;
        if (tangent) {
            Mat alpha = W.transpose() * rho;
            kappa = b.D1[l - 1].cwiseProduct(beta) +
                    b.D2[l - 1].cwiseProduct(b.Zdot[l - 1]).cwiseProduct(alpha);
            rho = b.D1[l - 1].cwiseProduct(alpha);
        } else {
            kappa = b.D1[l - 1].cwiseProduct(beta);
        }
    }
}

namespace {

// Gathers the inputs of `atoms` (rows of x) as the columns of b.A[0].
void gather(AtomicNetworks::Block& b, const double* x, int n_in);

}  // namespace

void AtomicNetworks::evaluate(const double* theta, const double* x, const int32_t* species, int64_t n, double* out,
                              double* dNN) const {
    constexpr int64_t kBlock = 2048;
    const int64_t nblocks = (n + kBlock - 1) / kBlock;
    const Eigen::VectorXd th = Eigen::Map<const Eigen::VectorXd>(theta, n_params_);  // aligned, see loss_grad
    theta = th.data();
    for (int64_t i = 0; i < n; ++i)
        if (species[i] < 0 || species[i] >= n_species())
            throw std::invalid_argument("atom " + std::to_string(i) + ": species index out of range");
    ExceptionSlot err;
#pragma omp parallel for schedule(dynamic, 1) num_threads(max_threads())
    for (int64_t k = 0; k < nblocks; ++k) {
        if (err.failed()) continue;
        err.run([&] {
        const int64_t a0 = k * kBlock, a1 = std::min(n, a0 + kBlock);
        for (int s = 0; s < n_species(); ++s) {
            Block b;
            for (int64_t i = a0; i < a1; ++i)
                if (species[i] == s) b.atoms.push_back(i);
            if (b.atoms.empty()) continue;
            b.A.resize(1);
            gather(b, x, n_in_);
            forward(theta, s, b);
            const Mat& y = b.A.back();
            for (int64_t c = 0; c < b.m(); ++c) out[b.atoms[c]] = y(0, c);
            if (dNN) {
                input_gradient(theta, s, b);
                for (int64_t c = 0; c < b.m(); ++c)
                    std::copy(b.dx.col(c).data(), b.dx.col(c).data() + n_in_, dNN + n_in_ * b.atoms[c]);
            }
        }
        });
    }
    err.rethrow();
}

namespace {

void gather(AtomicNetworks::Block& b, const double* x, int n_in) {
    b.A[0].resize(n_in, b.m());
    for (int64_t c = 0; c < b.m(); ++c) std::copy(x + n_in * b.atoms[c], x + n_in * (b.atoms[c] + 1), b.A[0].col(c).data());
}

}  // namespace

double AtomicNetworks::evaluate_one(const double* theta, int s, const double* x, double* dx) const {
    const NetworkSpec& sp = specs_[s];
    const int L = static_cast<int>(sp.nodes.size()) - 1;
    thread_local std::vector<std::vector<double>> a, d1;
    thread_local std::vector<const double*> W;
    a.resize(L + 1);
    d1.resize(L + 1);
    W.resize(L + 1);
    a[0].assign(x, x + n_in_);
    const double* w = theta + offset_[s];
    for (int l = 1; l <= L; ++l) {
        const int no = sp.nodes[l], ni = sp.nodes[l - 1];
        W[l] = w;
        a[l].resize(no);
        d1[l].resize(no);
        for (int o = 0; o < no; ++o) {
            double z = w[int64_t(no) * ni + o];  // bias: last column
            for (int k = 0; k < ni; ++k) z += w[o + int64_t(no) * k] * a[l - 1][k];
            double d2;
            activation(sp.act[l - 1], z, a[l][o], d1[l][o], d2);
        }
        w += int64_t(no) * (ni + 1);
    }
    if (dx) {
        thread_local std::vector<double> delta, prev;
        delta = d1[L];
        for (int l = L; l >= 1; --l) {
            const int no = sp.nodes[l], ni = sp.nodes[l - 1];
            prev.assign(ni, 0.0);
            for (int k = 0; k < ni; ++k) {
                double t = 0.0;
                for (int o = 0; o < no; ++o) t += W[l][o + int64_t(no) * k] * delta[o];
                prev[k] = l > 1 ? t * d1[l - 1][k] : t;
            }
            delta.swap(prev);
        }
        std::copy(delta.begin(), delta.end(), dx);
    }
    return a[L][0];
}

void ann_energy_forces(const ANNPotential& p, const FrameBatch& b, double* atom_energy, double* forces,
                       double* virial) {
    const Descriptor& d = *p.descriptor;
    d.check(b);
    const int n_in = p.networks->n_inputs();
    if (d.size() != n_in) throw std::invalid_argument("descriptor size does not match the networks' inputs");
    for_each_atom_block_with_forces(
        b, d.cutoff(), forces, virial,
        [&](int64_t f, const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, double* F, double* W) {
            double* e = atom_energy + b.first_atom(f);
            thread_local std::vector<double> x, dx;
            x.resize(n_in);
            dx.resize(n_in);
            d.forward_backward(
                fv, nl, a0, a1,
                [&](int64_t i, const double* G, double* dEdG) {
                    const int s = p.species(fv.numbers[i]);
                    const double* mu = p.mean + int64_t(n_in) * s;
                    const double* is = p.inv_sigma + int64_t(n_in) * s;
                    for (int k = 0; k < n_in; ++k) x[k] = (G[k] - mu[k]) * is[k];
                    const double nn = p.networks->evaluate_one(p.theta, s, x.data(), F ? dx.data() : nullptr);
                    e[i] = nn / p.scale + p.shift + p.e_ref[s];
                    if (F)
                        for (int k = 0; k < n_in; ++k) dEdG[k] = dx[k] * is[k] / p.scale;
                },
                F, W);
        });
}

// ------------------------------------------------------------------------------------------ trainer

ANNTrainer::ANNTrainer(const AtomicNetworks& nets, const ANNTrainingData& data) : nets_(nets), d_(data) {
    const int64_t na = d_.offsets[d_.n_frames];
    for (int64_t a = 0; a < na; ++a)
        if (d_.species[a] < 0 || d_.species[a] >= nets_.n_species())
            throw std::invalid_argument("atom " + std::to_string(a) + ": species index out of range");
    for (int64_t f = 0; f < d_.n_frames; ++f) energy_weight_sum_ += d_.energy_weight[f];
    if (d_.force_weight > 0.0) {
        if (!d_.descriptor || !d_.forces || !d_.inv_sigma || !d_.force_frames)
            throw std::invalid_argument("force training needs the descriptor, geometry, forces and scaling");
        if (d_.descriptor->size() != nets_.n_inputs())
            throw std::invalid_argument("descriptor size does not match the networks' inputs");
        for (int64_t f = 0; f < d_.n_frames; ++f) {
            if (!d_.force_frames[f]) continue;
            for (int64_t a = d_.offsets[f]; a < d_.offsets[f + 1]; ++a)
                for (int c = 0; c < 3; ++c) n_force_components_ += std::isfinite(d_.forces[3 * a + c]) ? 1 : 0;
        }
        if (d_.cache_neighbours) nl_cache_.bind(d_.batch, d_.descriptor->cutoff());
    }
    if (d_.energy_weight_total >= 0.0) energy_weight_sum_ = d_.energy_weight_total;
    if (d_.force_components_total >= 0) n_force_components_ = d_.force_components_total;
    const int64_t nf = d_.n_frames;
    if (!d_.chunk_bounds.empty()) {
        bounds_ = d_.chunk_bounds;
        if (bounds_.front() != 0 || bounds_.back() != nf)
            throw std::invalid_argument("chunk bounds must run from 0 to the number of frames");
        for (size_t k = 1; k < bounds_.size(); ++k)
            if (bounds_[k] < bounds_[k - 1]) throw std::invalid_argument("chunk bounds must not decrease");
    } else {
        // fixed chunking (about 512 atoms each): results do not depend on the number of threads
        bounds_ = frame_chunk_bounds(nf, d_.offsets[nf], 512);
    }
}

void ANNTrainer::run_chunk(const double* theta, int64_t f0, int64_t f1, double* grad, ANNLoss& acc) {
    using Block = AtomicNetworks::Block;
    const int ns = nets_.n_species();
    const int n_in = nets_.n_inputs();
    const int64_t a0 = d_.offsets[f0], a1 = d_.offsets[f1];
    const int64_t n = a1 - a0;
    const bool forces = d_.force_weight > 0.0 && n_force_components_ > 0;
    const bool want_grad = grad != nullptr;
    std::vector<Block> blocks(ns);
    std::vector<int64_t> slot(n);  // position of each atom in its species block
    for (int64_t i = 0; i < n; ++i) {
        Block& b = blocks[d_.species[a0 + i]];
        slot[i] = b.m();
        b.atoms.push_back(a0 + i);
    }
    std::vector<double> nn(n), dnn;
    if (forces) dnn.assign(n * n_in, 0.0);
    for (int s = 0; s < ns; ++s) {
        Block& b = blocks[s];
        if (b.atoms.empty()) continue;
        b.A.resize(1);
        gather(b, d_.x, n_in);
        nets_.forward(theta, s, b);
        for (int64_t c = 0; c < b.m(); ++c) nn[b.atoms[c] - a0] = b.A.back()(0, c);
        if (forces) {
            nets_.input_gradient(theta, s, b);
            for (int64_t c = 0; c < b.m(); ++c)
                std::copy(b.dx.col(c).data(), b.dx.col(c).data() + n_in, &dnn[(b.atoms[c] - a0) * n_in]);
        }
        b.kappa = Eigen::RowVectorXd::Zero(b.m());
        if (forces) {
            b.rho = Eigen::RowVectorXd::Zero(b.m());
            b.tau = Mat::Zero(n_in, b.m());
        }
    }
    const double W = energy_weight_sum_ > 0 ? energy_weight_sum_ : 1.0;
    const double cF = forces ? d_.force_weight / static_cast<double>(n_force_components_) : 0.0;
    NeighbourList local_nl;
    std::vector<double> g, fpred, dF, t;
    for (int64_t f = f0; f < f1; ++f) {
        const int64_t b0 = d_.offsets[f] - a0, b1 = d_.offsets[f + 1] - a0;
        const double N = static_cast<double>(b1 - b0);
        // energy
        const double w = d_.energy_weight[f];
        if (w > 0.0) {
            double E = 0.0;
            for (int64_t i = b0; i < b1; ++i) E += nn[i];
            const double err = (E - d_.energy[f]) / N;
            acc.loss_energy += 0.5 * w * err * err / W;
            acc.energy_sse += err * err;
            acc.energy_count += 1.0;
            for (int64_t i = b0; i < b1; ++i) blocks[d_.species[a0 + i]].kappa(slot[i]) = w * err / (N * W);
        }
        if (!forces || !d_.force_frames[f]) continue;
        // forces: F~ = -d/dr sum_i g_i . G_i with g_i = dNN/dG~_i / sigma
        const FrameView fv = d_.batch.frame(f);
        if (!d_.cache_neighbours) build_neighbour_list(fv, d_.descriptor->cutoff(), local_nl, 1);
        const NeighbourList* nl = d_.cache_neighbours ? &nl_cache_.get(fv, f) : &local_nl;
        const int64_t m = b1 - b0;
        g.assign(m * n_in, 0.0);
        for (int64_t i = 0; i < m; ++i) {
            const double* is = d_.inv_sigma + int64_t(n_in) * d_.species[a0 + b0 + i];
            for (int k = 0; k < n_in; ++k) g[i * n_in + k] = dnn[(b0 + i) * n_in + k] * is[k];
        }
        fpred.assign(3 * m, 0.0);
        double virial[6] = {0, 0, 0, 0, 0, 0};
        d_.descriptor->backward(fv, *nl, 0, m, g.data(), fpred.data(), virial);
        dF.assign(3 * m, 0.0);
        const double* Fref = d_.forces + 3 * (a0 + b0);
        for (int64_t k = 0; k < 3 * m; ++k) {
            if (!std::isfinite(Fref[k])) continue;
            dF[k] = fpred[k] - Fref[k];
            acc.loss_forces += 0.5 * cF * dF[k] * dF[k];
            acc.force_sse += dF[k] * dF[k];
            acc.force_count += 1.0;
        }
        if (!want_grad) continue;
        t.assign(m * n_in, 0.0);
        d_.descriptor->tangent(fv, *nl, 0, m, dF.data(), t.data());
        for (int64_t i = 0; i < m; ++i) {
            const int s = d_.species[a0 + b0 + i];
            const double* is = d_.inv_sigma + int64_t(n_in) * s;
            Block& b = blocks[s];
            for (int k = 0; k < n_in; ++k) b.tau(k, slot[b0 + i]) = is[k] * t[i * n_in + k];
            b.rho(slot[b0 + i]) = -cF;
        }
    }
    if (!want_grad) return;
    for (int s = 0; s < ns; ++s) {
        Block& b = blocks[s];
        if (b.atoms.empty()) continue;
        if (forces) nets_.tangent_forward(theta, s, b);
        nets_.reverse(theta, s, b, grad);
    }
}

struct ANNTrainer::ChunkSums {
    std::vector<Eigen::VectorXd> grads;
    std::vector<ANNLoss> parts;
};

// Every chunk of the fixed bounds_ (explicit global chunk bounds under MPI, else about 512 atoms each) is
// computed independently; callers add them in chunk order, so results depend neither on the thread count nor
// on the rank count.
void ANNTrainer::run_chunks(const double* theta, bool grad, ChunkSums& sums) {
    auto& grads = sums.grads;
    auto& parts = sums.parts;
    const int64_t K = n_chunks();
    const int64_t P = nets_.n_params();
    // aligned copies: Eigen's vectorised loops peel differently for differently aligned data, which
    // would change rounding from call to call
    const Eigen::VectorXd th = Eigen::Map<const Eigen::VectorXd>(theta, P);
    grads.assign(grad ? K : 0, Eigen::VectorXd());
    parts.assign(K, ANNLoss());
    // the callers combine the chunks in order
    for_each_chunk_ordered(
        bounds_,
        [&](int64_t k, int64_t f0, int64_t f1) {
            if (grad) grads[k] = Eigen::VectorXd::Zero(P);
            if (f1 > f0) run_chunk(th.data(), f0, f1, grad ? grads[k].data() : nullptr, parts[k]);
        },
        [](int64_t) {});
}

ANNLoss ANNTrainer::loss_grad(const double* theta, double* grad) {
    const int64_t K = n_chunks();
    const int64_t P = nets_.n_params();
    ChunkSums sums;
    run_chunks(theta, grad != nullptr, sums);
    const auto& grads = sums.grads;
    const auto& parts = sums.parts;
    if (grad) std::fill(grad, grad + P, 0.0);
    ANNLoss total;
    for (int64_t k = 0; k < K; ++k) {
        if (grad)
            for (int64_t p = 0; p < P; ++p) grad[p] += grads[k][p];
        total.loss_energy += parts[k].loss_energy;
        total.loss_forces += parts[k].loss_forces;
        total.energy_sse += parts[k].energy_sse;
        total.energy_count += parts[k].energy_count;
        total.force_sse += parts[k].force_sse;
        total.force_count += parts[k].force_count;
    }
    total.loss = total.loss_energy + total.loss_forces;
    return total;
}

void ANNTrainer::chunk_partials(const double* theta, bool grad, double* out) {
    const int64_t K = n_chunks();
    const int64_t P = nets_.n_params();
    ChunkSums sums;
    run_chunks(theta, grad, sums);
    const auto& grads = sums.grads;
    const auto& parts = sums.parts;
    for (int64_t k = 0; k < K; ++k) {
        double* row = out + k * (6 + P);
        const ANNLoss& L = parts[k];
        row[0] = L.loss_energy;
        row[1] = L.loss_forces;
        row[2] = L.energy_sse;
        row[3] = L.energy_count;
        row[4] = L.force_sse;
        row[5] = L.force_count;
        if (grad)
            std::copy(grads[k].data(), grads[k].data() + P, row + 6);
        else
            std::fill(row + 6, row + 6 + P, 0.0);
    }
}

void ANNTrainer::frame_energies(const double* theta, double* out) const {
    const int64_t na = d_.offsets[d_.n_frames];
    std::vector<double> nn(na);
    nets_.evaluate(theta, d_.x, d_.species, na, nn.data(), nullptr);
    for (int64_t f = 0; f < d_.n_frames; ++f) {
        double e = 0.0;
        for (int64_t a = d_.offsets[f]; a < d_.offsets[f + 1]; ++a) e += nn[a];
        out[f] = e;
    }
}

}  // namespace ldrx
