// Bindings of the SNAP family: the bispectrum descriptor, the per-species force rows, energies and forces
// of a fitted model, and the streaming normal equations of the linear / quadratic fits.
#include <optional>

#include "bindings/common.hpp"
#include "descriptors/bispectrum.hpp"
#include "models/snap.hpp"

namespace ldrx {
namespace {

using InOut = py::array_t<double, py::array::c_style>;  // written in place: no conversion allowed

struct FitArrays {
    CArray<double> shift, scale, energy, forces, w_energy, w_force;
    std::optional<CArray<double>> virial, w_virial;
    SnapBasis basis;
    SnapTargets targets;

    FitArrays(const BispectrumDescriptor& d, const FrameBatch& b, CArray<double> shift_, CArray<double> scale_,
              bool quadratic, CArray<double> energy_, CArray<double> forces_, CArray<double> w_energy_,
              CArray<double> w_force_, std::optional<CArray<double>> virial_, std::optional<CArray<double>> w_virial_)
        : shift(std::move(shift_)), scale(std::move(scale_)), energy(std::move(energy_)), forces(std::move(forces_)),
          w_energy(std::move(w_energy_)), w_force(std::move(w_force_)), virial(std::move(virial_)),
          w_virial(std::move(w_virial_)) {
        const int64_t nc = d.size(), ns = d.n_species(), nf = b.n_frames;
        if (shift.size() != ns * nc || scale.size() != ns * nc) throw std::invalid_argument("shift and scale must be [n_species, ncoeff]");
        if (energy.size() != nf || w_energy.size() != nf || w_force.size() != nf)
            throw std::invalid_argument("energy, w_energy and w_force need one value per frame");
        if (forces.size() != 3 * b.n_atoms()) throw std::invalid_argument("forces must be [n_atoms, 3]");
        if (virial.has_value() != w_virial.has_value()) throw std::invalid_argument("give both virial and w_virial, or neither");
        if (virial && (virial->size() != 6 * nf || w_virial->size() != nf))
            throw std::invalid_argument("virial must be [n_frames, 6] and w_virial [n_frames]");
        basis.ncoeff = nc;
        basis.quadratic = quadratic;
        basis.shift = shift.data();
        basis.scale = scale.data();
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
    m.def("bispectrum_ncoeff", &bispectrum_ncoeff, py::arg("twojmax"), "number of kept (j1, j2, j) triples");
    m.attr("BISPECTRUM_MAX_CUTOFF") = kBispectrumMaxCutoff;
    m.attr("BISPECTRUM_MAX_TWOJMAX") = kBispectrumMaxTwojmax;

    py::class_<BispectrumDescriptor, Descriptor> cls(m, "BispectrumDescriptor");
    cls.def(py::init([](int twojmax, double rcutfac, double rfac0, double rmin0, std::vector<int> species,
                        std::vector<double> radelem, std::vector<double> wj, bool bzeroflag, bool switchflag) {
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
                return BispectrumDescriptor(p);
            }),
            py::arg("twojmax"), py::arg("rcutfac"), py::arg("rfac0"), py::arg("rmin0"), py::arg("species"),
            py::arg("radelem"), py::arg("wj"), py::arg("bzeroflag"), py::arg("switchflag"))
        .def_property_readonly("triples", [](const BispectrumDescriptor& d) {
            std::vector<std::tuple<int, int, int>> out;
            for (const auto& t : d.triples()) out.emplace_back(t.j1, t.j2, t.j);
            return out;
        }, "kept (j1, j2, j) in LAMMPS order, doubled labels")
        .def("pair_cutoff", &BispectrumDescriptor::pair_cutoff, py::arg("species_i"), py::arg("species_k"))
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

    m.def("snap_energy_forces", [](const BispectrumDescriptor& d, const PyBatch& pb, CArray<double> coefficients,
                                   bool quadratic, bool forces) {
        const FrameBatch b = pb.view();
        const int64_t P = SnapBasis{d.size(), quadratic}.per_species();
        if (coefficients.ndim() != 2 || coefficients.shape(0) != d.n_species() || coefficients.shape(1) != P)
            throw std::invalid_argument("coefficients must be [" + std::to_string(d.n_species()) + ", " +
                                        std::to_string(P) + "] (beta0, beta" + (quadratic ? ", alpha" : "") +
                                        " per species)");
        return energy_forces_call(b, forces, [&](double* e, double* f, double* w) {
            snap_energy_forces(d, b, coefficients.data(), quadratic, e, f, w);
        });
    }, py::arg("descriptor"), py::arg("batch"), py::arg("coefficients"), py::arg("quadratic"), py::arg("forces"),
       "(per-atom energies [n_atoms], forces [n_atoms, 3], virial [n_frames, 6] (Voigt, eV)) of a fitted SNAP "
       "(coefficients [n_species, per_species] as in a LAMMPS .snapcoeff), forces and virial None unless "
       "`forces`; U and Z are computed once per atom.");

    m.def("snap_normal_equations", [](const BispectrumDescriptor& d, const PyBatch& pb, CArray<double> shift,
                                      CArray<double> scale, bool quadratic, CArray<double> energy, CArray<double> forces,
                                      CArray<double> w_energy, CArray<double> w_force,
                                      std::optional<CArray<double>> virial, std::optional<CArray<double>> w_virial,
                                      InOut ata, InOut atb) {
        const FrameBatch b = pb.view();
        FitArrays in(d, b, std::move(shift), std::move(scale), quadratic, std::move(energy), std::move(forces),
                     std::move(w_energy), std::move(w_force), std::move(virial), std::move(w_virial));
        const int64_t n = d.n_species() * in.basis.per_species();
        if (ata.ndim() != 2 || ata.shape(0) != n || ata.shape(1) != n || atb.size() != n)
            throw std::invalid_argument("ata must be a C-contiguous float64 [" + std::to_string(n) + ", " +
                                        std::to_string(n) + "] array and atb [" + std::to_string(n) + "]");
        double btb = 0.0;
        int64_t rows = 0;
        {
            py::gil_scoped_release nogil;
            snap_normal_equations(d, b, in.basis, in.targets, ata.mutable_data(), atb.mutable_data(), &btb, &rows);
        }
        return py::make_tuple(btb, rows);
    }, py::arg("descriptor"), py::arg("batch"), py::arg("shift"), py::arg("scale"), py::arg("quadratic"),
       py::arg("energy"), py::arg("forces"), py::arg("w_energy"), py::arg("w_force"), py::arg("virial"),
       py::arg("w_virial"), py::arg("ata"), py::arg("atb"),
       "Adds the frames' weighted rows to the normal equations ata, atb (in place; ata kept symmetric); "
       "returns (b^T W b, rows). See cpp/models/snap.hpp for the columns and rows.");

    m.def("snap_design_matrix", [](const BispectrumDescriptor& d, const PyBatch& pb, CArray<double> shift,
                                   CArray<double> scale, bool quadratic, CArray<double> energy, CArray<double> forces,
                                   CArray<double> w_energy, CArray<double> w_force,
                                   std::optional<CArray<double>> virial, std::optional<CArray<double>> w_virial) {
        const FrameBatch b = pb.view();
        FitArrays in(d, b, std::move(shift), std::move(scale), quadratic, std::move(energy), std::move(forces),
                     std::move(w_energy), std::move(w_force), std::move(virial), std::move(w_virial));
        const int64_t n = d.n_species() * in.basis.per_species();
        const int64_t rows = snap_count_rows(b, in.targets);
        py::array_t<double> A({rows, n}), rhs(rows);
        {
            py::gil_scoped_release nogil;
            snap_design_matrix(d, b, in.basis, in.targets, A.mutable_data(), rhs.mutable_data());
        }
        return py::make_tuple(A, rhs);
    }, py::arg("descriptor"), py::arg("batch"), py::arg("shift"), py::arg("scale"), py::arg("quadratic"),
       py::arg("energy"), py::arg("forces"), py::arg("w_energy"), py::arg("w_force"), py::arg("virial"),
       py::arg("w_virial"),
       "The weighted rows themselves (A [rows, n], b [rows]), for small problems solved by SVD.");
}

}  // namespace ldrx
