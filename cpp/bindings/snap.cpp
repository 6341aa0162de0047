// Bindings of the SNAP family: the bispectrum descriptor, the per-species force rows, energies and forces
// of a fitted model, and the streaming normal equations of the linear / quadratic fits.
#include <optional>

#include "bindings/common.hpp"
#include "descriptors/bispectrum.hpp"
#include "models/snap.hpp"

namespace ldrx {
namespace {

struct FitArrays {
    CArray<double> shift, scale, energy, forces, w_energy, w_force;
    std::optional<CArray<double>> virial, w_virial;
    LinearBasis basis;
    LinearTargets targets;

    FitArrays(const BispectrumDescriptor& d, const FrameBatch& b, const py::object& shift_, const py::object& scale_,
              bool quadratic, const py::object& energy_, const py::object& forces_, const py::object& w_energy_,
              const py::object& w_force_, const py::object& virial_, const py::object& w_virial_) {
        const int64_t nc = d.size(), ns = d.n_species(), nf = b.n_frames;
        shift = input_array<double>(shift_, "shift", {ns, nc}, "[n_species, ncoeff]");
        scale = input_array<double>(scale_, "scale", {ns, nc}, "[n_species, ncoeff]");
        energy = input_array<double>(energy_, "energy", {nf}, "[n_frames]");
        forces = input_array<double>(forces_, "forces", {b.n_atoms(), 3}, "[n_atoms, 3]");
        w_energy = input_array<double>(w_energy_, "w_energy", {nf}, "[n_frames]");
        w_force = input_array<double>(w_force_, "w_force", {nf}, "[n_frames]");
        if (virial_.is_none() != w_virial_.is_none()) throw std::invalid_argument("give both virial and w_virial, or neither");
        if (!virial_.is_none()) {
            virial = input_array<double>(virial_, "virial", {nf, 6}, "[n_frames, 6]");
            w_virial = input_array<double>(w_virial_, "w_virial", {nf}, "[n_frames]");
        }
        basis = snap_basis(quadratic, shift.data(), scale.data());
        targets.energy = energy.data();
        targets.forces = forces.data();
        targets.w_energy = w_energy.data();
        targets.w_force = w_force.data();
        targets.virial = virial ? virial->data() : nullptr;
        targets.w_virial = w_virial ? w_virial->data() : nullptr;
    }
};

}  // namespace

void register_snap(py::module_& m) {
    m.def("bispectrum_ncoeff", &bispectrum_ncoeff, py::arg("twojmax"), py::arg("n_groups") = 0,
          "number of kept (j1, j2, j) triples, times n_groups^3 with n_groups chemical groups (chem)");
    m.attr("BISPECTRUM_MAX_CUTOFF") = kBispectrumMaxCutoff;
    m.attr("BISPECTRUM_MAX_TWOJMAX") = kBispectrumMaxTwojmax;

    py::class_<BispectrumDescriptor, Descriptor> cls(m, "BispectrumDescriptor");
    cls.def(py::init([](int twojmax, double rcutfac, double rfac0, double rmin0, std::vector<int> species,
                        std::vector<double> radelem, std::vector<double> wj, bool bzeroflag, bool switchflag,
                        std::vector<int> chem, bool bnormflag, bool wselfallflag) {
                BispectrumParams p;
                p.twojmax = twojmax;
                p.rcutfac = rcutfac;
                p.rfac0 = rfac0;
                p.rmin0 = rmin0;
                p.species = std::move(species);
                p.radelem = std::move(radelem);
                p.wj = std::move(wj);
                p.bzeroflag = bzeroflag;
                p.switchflag = switchflag;
                p.chem = std::move(chem);
                p.bnormflag = bnormflag;
                p.wselfallflag = wselfallflag;
                return BispectrumDescriptor(p);
            }),
            py::arg("twojmax"), py::arg("rcutfac"), py::arg("rfac0"), py::arg("rmin0"), py::arg("species"),
            py::arg("radelem"), py::arg("wj"), py::arg("bzeroflag"), py::arg("switchflag"),
            py::arg("chem") = std::vector<int>(), py::arg("bnormflag") = false, py::arg("wselfallflag") = false)
        .def_property_readonly("n_groups", &BispectrumDescriptor::n_groups, "chemical groups (1 without chem)")
        .def_property_readonly("triples", [](const BispectrumDescriptor& d) {
            std::vector<std::tuple<int, int, int>> out;
            for (const auto& t : d.triples()) out.emplace_back(t.j1, t.j2, t.j);
            return out;
        }, "kept (j1, j2, j) in LAMMPS order, doubled labels")
        .def("force_rows", [](const BispectrumDescriptor& d, const PyBatch& b) {
            const FrameBatch v = b.view();
            const int64_t ns = d.n_species(), nc = d.size();
            py::array_t<double> rows({v.n_atoms(), ns, int64_t(3), nc});
            py::array_t<double> vir({v.n_frames, ns, int64_t(6), nc});
            {
                py::gil_scoped_release nogil;
                d.force_rows(v, rows.mutable_data(), vir.mutable_data());
            }
            return py::make_tuple(rows, vir);
        }, py::arg("batch"),
           "(rows [n_atoms, n_species, 3, ncoeff] = -d(sum_{i of species t} B(i))/dr_a (snad/atom), "
           "virial [n_frames, n_species, 6, ncoeff])");
    bind_descriptor_methods<BispectrumDescriptor>(cls);

    m.def("snap_energy_forces", [](const BispectrumDescriptor& d, const PyBatch& pb, const py::object& coefficients_,
                                   bool quadratic, bool forces) {
        const FrameBatch b = pb.view();
        const int64_t P = snap_per_species(d.size(), quadratic);
        const auto coefficients = input_array<double>(coefficients_, "coefficients", {d.n_species(), P},
                                                      std::string("[n_species, beta0 + beta") + (quadratic ? " + alpha" : "") + "]");
        return energy_forces_call(b, forces, [&](double* e, double* f, double* w) {
            snap_energy_forces(d, b, coefficients.data(), quadratic, e, f, w);
        });
    }, py::arg("descriptor"), py::arg("batch"), py::arg("coefficients"), py::arg("quadratic"), py::arg("forces"),
       "(per-atom energies [n_atoms], forces [n_atoms, 3], virial [n_frames, 6] (Voigt, eV)) of a fitted SNAP "
       "(coefficients [n_species, per_species] as in a LAMMPS .snapcoeff), forces and virial None unless "
       "`forces`; U and Z are computed once per atom.");

    m.def("snap_normal_equations", [](const BispectrumDescriptor& d, const PyBatch& pb, const py::object& shift,
                                      const py::object& scale, bool quadratic, const py::object& energy,
                                      const py::object& forces, const py::object& w_energy, const py::object& w_force,
                                      const py::object& virial, const py::object& w_virial, py::array ata, py::array atb) {
        const FrameBatch b = pb.view();
        FitArrays in(d, b, shift, scale, quadratic, energy, forces, w_energy, w_force, virial, w_virial);
        const int64_t n = in.basis.columns(d.n_species(), d.size());
        double* ata_p = inout_array(ata, "ata", {n, n}, "[n_columns, n_columns]");
        double* atb_p = inout_array(atb, "atb", {n}, "[n_columns]");
        if (ata_p == atb_p) throw std::invalid_argument("ata and atb must be different arrays");
        double btb = 0.0;
        int64_t rows = 0;
        {
            py::gil_scoped_release nogil;
            linear_normal_equations(d, d.species(), b, in.basis, in.targets, ata_p, atb_p, &btb, &rows);
        }
        return py::make_tuple(btb, rows);
    }, py::arg("descriptor"), py::arg("batch"), py::arg("shift"), py::arg("scale"), py::arg("quadratic"),
       py::arg("energy"), py::arg("forces"), py::arg("w_energy"), py::arg("w_force"), py::arg("virial"),
       py::arg("w_virial"), py::arg("ata").noconvert(), py::arg("atb").noconvert(),
       "Adds the frames' weighted rows to the normal equations ata, atb (in place; ata kept symmetric); "
       "returns (b^T W b, rows). See cpp/models/snap.hpp and linear_rows.hpp for the columns and rows.");

    m.def("snap_design_matrix", [](const BispectrumDescriptor& d, const PyBatch& pb, const py::object& shift,
                                   const py::object& scale, bool quadratic, const py::object& energy,
                                   const py::object& forces, const py::object& w_energy, const py::object& w_force,
                                   const py::object& virial, const py::object& w_virial) {
        const FrameBatch b = pb.view();
        FitArrays in(d, b, shift, scale, quadratic, energy, forces, w_energy, w_force, virial, w_virial);
        const int64_t n = in.basis.columns(d.n_species(), d.size());
        const int64_t rows = linear_count_rows(b, in.targets);
        py::array_t<double> A({rows, n}), rhs(rows);
        {
            py::gil_scoped_release nogil;
            linear_design_matrix(d, d.species(), b, in.basis, in.targets, A.mutable_data(), rhs.mutable_data());
        }
        return py::make_tuple(A, rhs);
    }, py::arg("descriptor"), py::arg("batch"), py::arg("shift"), py::arg("scale"), py::arg("quadratic"),
       py::arg("energy"), py::arg("forces"), py::arg("w_energy"), py::arg("w_force"), py::arg("virial"),
       py::arg("w_virial"),
       "The weighted rows themselves (A [rows, n], b [rows]), for small problems solved by SVD.");
}

}  // namespace ldrx
