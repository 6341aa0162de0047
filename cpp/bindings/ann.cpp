// Bindings of the atomic neural networks and their trainer.
#include <memory>

#include "bindings/common.hpp"
#include "models/ann.hpp"

namespace ldrx {

namespace {

// The trainer with the Python objects whose memory it reads kept alive.
struct PyANNTrainer {
    int64_t impl_params = 0;
    std::vector<py::object> keep;
    std::unique_ptr<ANNTrainer> impl;
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
        .def("evaluate", [](const AtomicNetworks& nets, CArray<double> theta, CArray<double> x, CArray<int32_t> species, bool grad) {
            const int64_t n = species.size();
            if (theta.size() != nets.n_params()) throw std::invalid_argument("theta has the wrong size");
            if (x.size() != n * nets.n_inputs()) throw std::invalid_argument("x must be [n_atoms, n_inputs]");
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

    m.def("ann_energy_forces", [](const Descriptor& d, const AtomicNetworks& nets, CArray<double> theta,
                                  std::vector<int> species, CArray<double> mean, CArray<double> inv_sigma,
                                  double scale, double shift, CArray<double> e_ref, const PyBatch& b, bool forces) {
        ANNPotential p;
        const int64_t S = static_cast<int64_t>(species.size()), n_in = nets.n_inputs();
        if (theta.size() != nets.n_params()) throw std::invalid_argument("theta has the wrong size");
        if (S != nets.n_species()) throw std::invalid_argument("one network per species is needed");
        if (mean.size() != S * n_in || inv_sigma.size() != S * n_in) throw std::invalid_argument("mean / inv_sigma must be [n_species, n_inputs]");
        if (e_ref.size() != S) throw std::invalid_argument("e_ref needs one value per species");
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
        .def(py::init([](const AtomicNetworks& nets, CArray<double> x, CArray<int32_t> species, CArray<int64_t> offsets,
                         CArray<double> energy, CArray<double> energy_weight, double force_weight,
                         py::object descriptor, py::object batch, py::object inv_sigma, py::object forces,
                         py::object force_frames, bool cache_neighbours, std::vector<int64_t> chunk_bounds,
                         double energy_weight_total, int64_t force_components_total) {
                 auto t = std::make_unique<PyANNTrainer>();
                 ANNTrainingData d;
                 const int64_t nf = offsets.size() - 1;
                 if (nf < 1) throw std::invalid_argument("no frames");
                 const int64_t na = offsets.data()[nf];
                 if (x.size() != na * nets.n_inputs() || species.size() != na)
                     throw std::invalid_argument("x / species do not match offsets");
                 if (energy.size() != nf || energy_weight.size() != nf) throw std::invalid_argument("energy arrays need one entry per frame");
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
                     auto is = inv_sigma.cast<CArray<double>>();
                     auto fr = forces.cast<CArray<double>>();
                     auto ff = force_frames.cast<CArray<uint8_t>>();
                     if (is.size() != int64_t(nets.n_species()) * nets.n_inputs()) throw std::invalid_argument("inv_sigma must be [n_species, n_inputs]");
                     if (fr.size() != 3 * na) throw std::invalid_argument("forces must be [n_atoms, 3]");
                     if (ff.size() != nf) throw std::invalid_argument("force_frames needs one entry per frame");
                     const PyBatch& pb = batch.cast<const PyBatch&>();
                     if (pb.view().n_frames != nf || pb.view().n_atoms() != na) throw std::invalid_argument("batch does not match offsets");
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
        .def("loss_grad", [](PyANNTrainer& t, CArray<double> theta, bool with_grad) {
            if (theta.size() != t.impl_params) throw std::invalid_argument("theta has the wrong size");
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
        }, py::arg("theta"), py::arg("with_grad") = true)
        .def_property_readonly("n_chunks", [](const PyANNTrainer& t) { return t.impl->n_chunks(); })
        .def("chunk_partials", [](PyANNTrainer& t, CArray<double> theta, bool with_grad) {
            if (theta.size() != t.impl_params) throw std::invalid_argument("theta has the wrong size");
            py::array_t<double> out({t.impl->n_chunks(), 6 + t.impl_params});
            {
                py::gil_scoped_release nogil;
                t.impl->chunk_partials(theta.data(), with_grad, out.mutable_data());
            }
            return out;
        }, py::arg("theta"), py::arg("with_grad") = true,
           "per chunk [n_chunks, 6 + n_params]: loss_energy, loss_forces, energy_sse, energy_count, force_sse, "
           "force_count, gradient; to be summed in chunk order (ldrx.parallel.ordered_sum)")
        .def("frame_energies", [](const PyANNTrainer& t, CArray<double> theta) {
            if (theta.size() != t.impl_params) throw std::invalid_argument("theta has the wrong size");
            py::array_t<double> out(t.keep[2].cast<py::array>().size() - 1);
            {
                py::gil_scoped_release nogil;
                t.impl->frame_energies(theta.data(), out.mutable_data());
            }
            return out;
        }, py::arg("theta"));
}

}  // namespace ldrx
