// Bindings of the atomic neural networks and their trainer.
#include <memory>
#include <mutex>

#include "bindings/common.hpp"
#include "models/ann.hpp"

namespace ldrx {

namespace {

// The trainer with the Python objects whose memory it reads kept alive. Calls from several Python
// threads are serialised (the trainer fills its neighbour-list cache on first use).
struct PyANNTrainer {
    int64_t impl_params = 0;
    std::vector<py::object> keep;
    std::unique_ptr<ANNTrainer> impl;
    std::mutex busy;
};

}  // namespace

void register_ann(py::module_& m) {
    py::class_<AtomicNetworks>(m, "AtomicNetworks", "One feed-forward network per species (aenet parameter layout)")
        .def(py::init([](std::vector<std::vector<int>> nodes, std::vector<std::vector<int>> acts) {
                 if (nodes.size() != acts.size()) throw std::invalid_argument("one activation list per network");
                 std::vector<NetworkSpec> specs(nodes.size());
                 for (size_t s = 0; s < nodes.size(); ++s) {
                     specs[s].nodes = nodes[s];
                     for (int a : acts[s]) {
                         if (a < 0 || a > 4) throw std::invalid_argument("activation codes are 0..4 (linear, tanh, sigmoid, mtanh, twist)");
                         specs[s].act.push_back(static_cast<Activation>(a));
                     }
                 }
                 return AtomicNetworks(std::move(specs));
             }),
             py::arg("nodes"), py::arg("activations"))
        .def_property_readonly("n_params", &AtomicNetworks::n_params)
        .def_property_readonly("n_inputs", &AtomicNetworks::n_inputs)
        .def("offset", &AtomicNetworks::offset, py::arg("species"))
        .def("evaluate", [](const AtomicNetworks& nets, const py::object& theta_, const py::object& x_, const py::object& species_, bool grad) {
            const auto species = input_array<int32_t>(species_, "species", {kAny}, "[n_atoms]");
            const int64_t n = species.size();
            const auto theta = input_array<double>(theta_, "theta", {nets.n_params()}, "[n_params]");
            const auto x = input_array<double>(x_, "x", {n, nets.n_inputs()}, "[n_atoms, n_inputs]");
            py::array_t<double> out(n);
            py::object dnn = py::none();
            double* dptr = nullptr;
            if (grad) {
                py::array_t<double> d({n, int64_t(nets.n_inputs())});
                dptr = d.mutable_data();
                dnn = d;
            }
            {
                py::gil_scoped_release nogil;
                nets.evaluate(theta.data(), x.data(), species.data(), n, out.mutable_data(), dptr);
            }
            return py::make_tuple(out, dnn);
        }, py::arg("theta"), py::arg("x"), py::arg("species"), py::arg("grad") = false,
           "atomic outputs [n] and, with grad, their input gradients [n, n_inputs]");

    m.def("ann_energy_forces", [](const Descriptor& d, const AtomicNetworks& nets, const py::object& theta_,
                                  std::vector<int> species, const py::object& mean_, const py::object& inv_sigma_,
                                  double scale, double shift, const py::object& e_ref_, const PyBatch& b, bool forces) {
        ANNPotential p;
        const int64_t S = static_cast<int64_t>(species.size()), n_in = nets.n_inputs();
        if (S != nets.n_species()) throw std::invalid_argument("one network per species is needed");
        if (d.size() != n_in)
            throw std::invalid_argument("the descriptor has " + std::to_string(d.size()) + " features, the networks " +
                                        std::to_string(n_in) + " inputs");
        const auto theta = input_array<double>(theta_, "theta", {nets.n_params()}, "[n_params]");
        const auto mean = input_array<double>(mean_, "mean", {S, n_in}, "[n_species, n_inputs]");
        const auto inv_sigma = input_array<double>(inv_sigma_, "inv_sigma", {S, n_in}, "[n_species, n_inputs]");
        const auto e_ref = input_array<double>(e_ref_, "e_ref", {S}, "[n_species]");
        p.descriptor = &d;
        p.networks = &nets;
        p.theta = theta.data();
        p.species = SpeciesMap(species);
        p.mean = mean.data();
        p.inv_sigma = inv_sigma.data();
        p.scale = scale;
        p.shift = shift;
        p.e_ref = e_ref.data();
        return energy_forces_call(b.view(), forces, [&](double* e, double* f, double* w) {
            ann_energy_forces(p, b.view(), e, f, w);
        });
    }, py::arg("descriptor"), py::arg("networks"), py::arg("theta"), py::arg("species"), py::arg("mean"),
       py::arg("inv_sigma"), py::arg("scale"), py::arg("shift"), py::arg("e_ref"), py::arg("batch"), py::arg("forces"),
       "per-atom energies [n_atoms] and, with forces, forces [n_atoms, 3] and virial [n_frames, 6] of an ANN potential");

    py::class_<PyANNTrainer>(m, "ANNTrainer", "Loss and gradient of atomic networks over a data set (energies, optionally forces)")
        .def(py::init([](const AtomicNetworks& nets, const py::object& x_, const py::object& species_,
                         const py::object& offsets_, const py::object& energy_, const py::object& energy_weight_,
                         double force_weight, py::object descriptor, py::object batch, py::object inv_sigma,
                         py::object forces, py::object force_frames, bool cache_neighbours,
                         std::vector<int64_t> chunk_bounds, double energy_weight_total,
                         int64_t force_components_total) {
                 auto t = std::make_unique<PyANNTrainer>();
                 ANNTrainingData d;
                 const auto offsets = input_array<int64_t>(offsets_, "offsets", {kAny}, "[n_frames + 1]");
                 const int64_t na = check_offsets(offsets);
                 const int64_t nf = offsets.size() - 1;
                 if (nf < 1) throw std::invalid_argument("no frames");
                 const auto x = input_array<double>(x_, "x", {na, nets.n_inputs()}, "[n_atoms, n_inputs]");
                 const auto species = input_array<int32_t>(species_, "species", {na}, "[n_atoms]");
                 const auto energy = input_array<double>(energy_, "energy", {nf}, "[n_frames]");
                 const auto energy_weight = input_array<double>(energy_weight_, "energy_weight", {nf}, "[n_frames]");
                 if (!(force_weight >= 0.0)) throw std::invalid_argument("force_weight must be >= 0");
                 d.x = x.data();
                 d.species = species.data();
                 d.offsets = offsets.data();
                 d.n_frames = nf;
                 d.energy = energy.data();
                 d.energy_weight = energy_weight.data();
                 t->keep = {x, species, offsets, energy, energy_weight};
                 d.force_weight = force_weight;
                 d.cache_neighbours = cache_neighbours;
                 d.chunk_bounds = std::move(chunk_bounds);
                 d.energy_weight_total = energy_weight_total;
                 d.force_components_total = force_components_total;
                 if (force_weight > 0.0) {
                     const int64_t S = nets.n_species(), n_in = nets.n_inputs();
                     auto is = input_array<double>(inv_sigma, "inv_sigma", {S, n_in}, "[n_species, n_inputs]");
                     auto fr = input_array<double>(forces, "forces", {na, 3}, "[n_atoms, 3]");
                     auto ff = input_array<uint8_t>(force_frames, "force_frames", {nf}, "[n_frames]");
                     if (batch.is_none() || descriptor.is_none())
                         throw std::invalid_argument("force training needs the descriptor and the batch");
                     const PyBatch& pb = batch.cast<const PyBatch&>();
                     if (pb.view().n_frames != nf || pb.view().n_atoms() != na) throw std::invalid_argument("batch does not match offsets");
                     const int64_t* bo = pb.view().offsets;
                     for (int64_t f = 0; f <= nf; ++f)
                         if (bo[f] != offsets.data()[f]) throw std::invalid_argument("batch offsets differ from offsets at frame " + std::to_string(f));
                     d.descriptor = descriptor.cast<const Descriptor*>();
                     d.batch = pb.view();
                     d.inv_sigma = is.data();
                     d.forces = fr.data();
                     d.force_frames = ff.data();
                     t->keep.insert(t->keep.end(), {descriptor, batch, is, fr, ff});
                 }
                 t->impl = std::make_unique<ANNTrainer>(nets, d);
                 t->impl_params = nets.n_params();
                 return t;
             }),
             py::arg("networks"), py::arg("x"), py::arg("species"), py::arg("offsets"), py::arg("energy"),
             py::arg("energy_weight"), py::arg("force_weight") = 0.0, py::arg("descriptor") = py::none(),
             py::arg("batch") = py::none(), py::arg("inv_sigma") = py::none(), py::arg("forces") = py::none(),
             py::arg("force_frames") = py::none(), py::arg("cache_neighbours") = true,
             py::arg("chunk_bounds") = std::vector<int64_t>(), py::arg("energy_weight_total") = -1.0,
             py::arg("force_components_total") = int64_t(-1),
             py::keep_alive<1, 2>())
        .def("loss_grad", [](PyANNTrainer& t, const py::object& theta_, bool with_grad) {
            const auto theta = input_array<double>(theta_, "theta", {t.impl_params}, "[n_params]");
            py::object g = py::none();
            double* gp = nullptr;
            if (with_grad) {
                py::array_t<double> grad(theta.size());
                gp = grad.mutable_data();
                g = grad;
            }
            ANNLoss L;
            {
                py::gil_scoped_release nogil;
                std::lock_guard<std::mutex> lock(t.busy);
                L = t.impl->loss_grad(theta.data(), gp);
            }
            py::dict info;
            info["loss"] = L.loss;
            info["loss_energy"] = L.loss_energy;
            info["loss_forces"] = L.loss_forces;
            info["energy_sse"] = L.energy_sse;
            info["energy_count"] = L.energy_count;
            info["force_sse"] = L.force_sse;
            info["force_count"] = L.force_count;
            return py::make_tuple(L.loss, g, info);
        }, py::arg("theta"), py::arg("with_grad") = true,
           "(loss, gradient or None, info); safe to call from several Python threads (calls run one at a time)")
        .def_property_readonly("n_chunks", [](const PyANNTrainer& t) { return t.impl->n_chunks(); })
        .def("chunk_partials", [](PyANNTrainer& t, const py::object& theta_, bool with_grad) {
            const auto theta = input_array<double>(theta_, "theta", {t.impl_params}, "[n_params]");
            py::array_t<double> out({t.impl->n_chunks(), 6 + t.impl_params});
            {
                py::gil_scoped_release nogil;
                std::lock_guard<std::mutex> lock(t.busy);
                t.impl->chunk_partials(theta.data(), with_grad, out.mutable_data());
            }
            return out;
        }, py::arg("theta"), py::arg("with_grad") = true,
           "per chunk [n_chunks, 6 + n_params]: loss_energy, loss_forces, energy_sse, energy_count, force_sse, "
           "force_count, gradient; to be summed in chunk order (ldrx.parallel.ordered_sum)")
        .def("frame_energies", [](PyANNTrainer& t, const py::object& theta_) {
            const auto theta = input_array<double>(theta_, "theta", {t.impl_params}, "[n_params]");
            py::array_t<double> out(t.keep[2].cast<py::array>().size() - 1);
            {
                py::gil_scoped_release nogil;
                t.impl->frame_energies(theta.data(), out.mutable_data());
            }
            return out;
        }, py::arg("theta"));
}

}  // namespace ldrx
