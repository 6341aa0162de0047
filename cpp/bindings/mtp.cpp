// Bindings of the MTP family: the moment tensor basis (a Descriptor), energies and forces of a potential,
// the training loss and gradient, and the descriptor-agnostic streamed normal equations (linear_rows).
#include <optional>
#include <string>

#include "bindings/common.hpp"
#include "descriptors/moment_tensor.hpp"
#include "models/linear_rows.hpp"
#include "models/mtp.hpp"

namespace ldrx {
namespace {


std::vector<int> int_rows(const py::handle& obj, const char* name, const Shape& shape, const char* dims) {
    const CArray<int32_t> a = input_array<int32_t>(obj, name, shape, dims);
    return std::vector<int>(a.data(), a.data() + a.size());
}

CArray<double> theta_array(const MomentTensorBasis& B, const py::handle& theta) {
    return input_array<double>(theta, "theta", {B.spec().n_params()}, "[n_params] (radial, species, moment coefficients)");
}

// Training targets through the hardened input_array (shape-checked, converted from other dtypes / layouts).
struct TargetArrays {
    CArray<double> energy, forces, virial, w_energy, w_force, w_virial;
    bool has_virial = false;
    TargetArrays(const FrameBatch& b, const py::handle& e, const py::handle& f, const py::handle& v, const py::handle& we,
                 const py::handle& wf, const py::handle& wv) {
        const int64_t nf = b.n_frames;
        energy = input_array<double>(e, "energy", {nf}, "[n_frames]");
        forces = input_array<double>(f, "forces", {b.n_atoms(), 3}, "[n_atoms, 3]");
        has_virial = !v.is_none();
        if (has_virial) virial = input_array<double>(v, "virial", {nf, 6}, "[n_frames, 6]");
        w_energy = input_array<double>(we, "w_energy", {nf}, "[n_frames]");
        w_force = input_array<double>(wf, "w_force", {nf}, "[n_frames]");
        w_virial = input_array<double>(wv, "w_virial", {nf}, "[n_frames]");
    }
    template <class T>
    void fill(T& t) const {
        t.energy = energy.data();
        t.forces = forces.data();
        t.virial = has_virial ? virial.data() : nullptr;
        t.w_energy = w_energy.data();
        t.w_force = w_force.data();
        t.w_virial = w_virial.data();
    }
};

}  // namespace

void register_mtp(py::module_& m) {
    py::class_<MomentTensorBasis, Descriptor> cls(m, "MomentTensorBasis",
        "MTP moment tensor basis in MLIP's encoding; as a Descriptor its features are the basis functions B_a "
        "at the given radial coefficients");
    cls.def(py::init([](std::vector<int> species, int n_mu, int n_q, double r_min, double r_cut, double scaling,
                        int n_nodes, py::object basic, py::object times, py::object mapping, py::object radial) {
                MTPBasisSpec s;
                s.species = std::move(species);
                s.n_mu = n_mu;
                s.n_q = n_q;
                s.r_min = r_min;
                s.r_cut = r_cut;
                s.scaling = scaling;
                s.n_nodes = n_nodes;
                s.basic = int_rows(basic, "alpha_index_basic", {kAny, 4}, "[n_basic, 4]");
                s.times = int_rows(times, "alpha_index_times", {kAny, 4}, "[n_times, 4]");
                s.mapping = int_rows(mapping, "alpha_moment_mapping", {kAny}, "[n_basis]");
                std::vector<double> r;
                if (!radial.is_none()) {
                    const int64_t nr = int64_t(s.species.size()) * s.species.size() * n_mu * n_q;
                    const CArray<double> a = input_array<double>(radial, "radial", {nr}, "[S * S * n_mu * n_q]");
                    r.assign(a.data(), a.data() + a.size());
                }
                return MomentTensorBasis(std::move(s), std::move(r));
            }),
            py::arg("species"), py::arg("n_mu"), py::arg("n_q"), py::arg("r_min"), py::arg("r_cut"), py::arg("scaling"),
            py::arg("n_nodes"), py::arg("basic"), py::arg("times"), py::arg("mapping"), py::arg("radial") = py::none())
        .def_property_readonly("n_params", [](const MomentTensorBasis& B) { return B.spec().n_params(); })
        .def_property_readonly("n_radial", [](const MomentTensorBasis& B) { return B.spec().n_radial(); });
    bind_descriptor_methods<MomentTensorBasis>(cls);

    m.def("mtp_energy_forces", [](const MomentTensorBasis& B, py::object theta_, const PyBatch& pb, bool forces) {
        const CArray<double> theta = theta_array(B, theta_);
        const FrameBatch b = pb.view();
        return energy_forces_call(b, forces, [&](double* e, double* f, double* w) {
            mtp_energy_forces(B, theta.data(), b, e, f, w);
        });
    }, py::arg("basis"), py::arg("theta"), py::arg("batch"), py::arg("forces"),
       "(site energies [n_atoms], forces [n_atoms, 3], virial [n_frames, 6] (Voigt, eV)); forces and virial None "
       "unless `forces`");

    m.def("mtp_loss_grad", [](const MomentTensorBasis& B, py::object theta_, const PyBatch& pb, py::object energy,
                              py::object forces, py::object virial, py::object w_energy, py::object w_force,
                              py::object w_virial, bool want_grad, NeighbourListCache* cache) {
        const CArray<double> theta = theta_array(B, theta_);
        const FrameBatch b = pb.view();
        const TargetArrays arrays(b, energy, forces, virial, w_energy, w_force, w_virial);
        MTPTargets t;
        arrays.fill(t);
        py::object g = py::none();
        double* gp = nullptr;
        if (want_grad) {
            py::array_t<double> ga(B.spec().n_params());
            gp = ga.mutable_data();
            g = ga;
        }
        MTPLoss L;
        {
            py::gil_scoped_release nogil;
            L = mtp_loss_grad(B, theta.data(), b, t, gp, cache);
        }
        py::dict info;
        info["loss_energy"] = L.loss_energy;
        info["loss_forces"] = L.loss_forces;
        info["loss_virial"] = L.loss_virial;
        info["energy_sse"] = L.energy_sse;
        info["energy_count"] = L.energy_count;
        info["force_sse"] = L.force_sse;
        info["force_count"] = L.force_count;
        info["virial_sse"] = L.virial_sse;
        info["virial_count"] = L.virial_count;
        return py::make_tuple(L.loss, g, info);
    }, py::arg("basis"), py::arg("theta"), py::arg("batch"), py::arg("energy"), py::arg("forces"), py::arg("virial"),
       py::arg("w_energy"), py::arg("w_force"), py::arg("w_virial"), py::arg("grad") = true,
       py::arg("cache") = nullptr,
       "(loss, gradient [n_params] or None, info) of sum_f w_E (E - E_ref)^2 + w_F |F - F_ref|^2 + w_W |W - W_ref|^2; "
       "with `cache` (a NeighbourListCache), neighbour lists are kept across calls on the same batch");

    py::class_<NeighbourListCache>(m, "NeighbourListCache",
                                   "Neighbour lists of one batch kept across mtp_loss_grad calls (bound to the batch "
                                   "of the first call; another batch clears it)")
        .def(py::init<>())
        .def_property_readonly("nbytes", &NeighbourListCache::bytes)
        .def_property_readonly("n_ready", [](const NeighbourListCache& c) {
            int64_t n = 0;
            for (uint8_t r : c.ready) n += r;
            return n;
        });

    m.def("linear_normal_equations", [](const Descriptor& d, std::vector<int> species, const PyBatch& pb, bool shared,
                                        py::object energy, py::object forces, py::object virial, py::object w_energy,
                                        py::object w_force, py::object w_virial, py::array ata, py::array atb) {
        const FrameBatch b = pb.view();
        const SpeciesMap sp(species);
        const int64_t n = linear_columns(sp.size(), d.size(), shared);
        const TargetArrays arrays(b, energy, forces, virial, w_energy, w_force, w_virial);
        double* ata_p = inout_array(ata, "ata", {n, n}, "[n_columns, n_columns]");
        double* atb_p = inout_array(atb, "atb", {n}, "[n_columns]");
        LinearTargets t;
        arrays.fill(t);
        double btb = 0.0;
        int64_t rows = 0;
        {
            py::gil_scoped_release nogil;
            linear_normal_equations(d, sp, b, shared, t, ata_p, atb_p, &btb, &rows);
        }
        return py::make_tuple(btb, rows);
    }, py::arg("descriptor"), py::arg("species"), py::arg("batch"), py::arg("shared"), py::arg("energy"),
       py::arg("forces"), py::arg("virial"), py::arg("w_energy"), py::arg("w_force"), py::arg("w_virial"),
       py::arg("ata").noconvert(), py::arg("atb").noconvert(),
       "Adds the weighted energy, force and virial rows of a model linear in the descriptor's features (per-species "
       "constants; coefficients shared by all species, or one block per species) to ata, atb in place; returns "
       "(b^T W b, rows). See cpp/models/linear_rows.hpp.");
}

}  // namespace ldrx
