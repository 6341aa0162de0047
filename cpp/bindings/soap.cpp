#include "bindings/common.hpp"
#include "descriptors/soap.hpp"

namespace ldrx {

void register_soap(py::module_& m) {
    m.attr("SOAP_MAX_NMAX") = kSoapMaxNmax;
    m.attr("SOAP_MAX_LMAX") = kSoapMaxLmax;
    py::class_<SoapDescriptor, Descriptor> cls(m, "SoapDescriptor");
    cls.def(py::init([](std::vector<int> species, std::vector<int> channel, int n_max, int l_max, double r_cut,
                        double atom_sigma, double cutoff_width, bool normalize, const std::string& radial_basis, int nu_R,
                        int nu_S) {
                SoapParams p;
                p.species = std::move(species);
                p.channel = std::move(channel);
                p.n_max = n_max;
                p.l_max = l_max;
                p.r_cut = r_cut;
                p.atom_sigma = atom_sigma;
                p.cutoff_width = cutoff_width;
                p.normalize = normalize;
                p.nu_R = nu_R;
                p.nu_S = nu_S;
                if (radial_basis == "gto")
                    p.radial_basis = SoapRadialBasis::Gto;
                else if (radial_basis == "equispaced")
                    p.radial_basis = SoapRadialBasis::Equispaced;
                else
                    throw std::invalid_argument("radial_basis must be 'gto' or 'equispaced', got '" + radial_basis + "'");
                return SoapDescriptor(p);
            }),
            py::arg("species"), py::arg("channel"), py::arg("n_max"), py::arg("l_max"), py::arg("r_cut"),
            py::arg("atom_sigma"), py::arg("cutoff_width"), py::arg("normalize"),
            py::arg("radial_basis") = "gto", py::arg("nu_R") = 2, py::arg("nu_S") = 2)
        .def_property_readonly("n_channels", &SoapDescriptor::n_channels)
        .def_property_readonly("n_pairs", &SoapDescriptor::n_pairs, "features per l")
        .def_property_readonly("spline_error", &SoapDescriptor::spline_error,
                               "largest midpoint error of the radial spline relative to max |R_nl|")
        .def_property_readonly("spline_intervals", &SoapDescriptor::spline_intervals)
        .def("radial", [](const SoapDescriptor& d, double r, bool exact) {
            const auto& p = d.params();
            py::array_t<double> R({p.l_max + 1, p.n_max}), dR({p.l_max + 1, p.n_max});
            if (exact) d.radial_exact(r, R.mutable_data(), dR.mutable_data());
            else d.radial_spline(r, R.mutable_data(), dR.mutable_data());
            return py::make_tuple(R, dR);
        }, py::arg("r"), py::arg("exact") = false, "(R [l, n], dR/dr) of the orthonormal radial functions");
    bind_descriptor_methods<SoapDescriptor>(cls);
}

}  // namespace ldrx
