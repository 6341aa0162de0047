#include "bindings/common.hpp"
#include "models/gap.hpp"

namespace ldrx {

namespace {
// Sparse points X [M, size] and their species offsets [n_species + 1] (0, non-decreasing, last = M), checked
// through the hardened input_array (lossless conversion only, exact shapes).
struct SparseArgs {
    CArray<double> X;
    CArray<int64_t> offsets;
    int64_t M = 0;
    SparseArgs(const SoapDescriptor& d, const py::object& X_, const py::object& m_offsets_) {
        const int64_t ns = d.params().species.size();
        offsets = input_array<int64_t>(m_offsets_, "m_offsets", {ns + 1}, "[n_species + 1]");
        const int64_t* o = offsets.data();
        if (o[0] != 0) throw std::invalid_argument("m_offsets must start at 0");
        for (int64_t s = 0; s < ns; ++s)
            if (o[s + 1] < o[s]) throw std::invalid_argument("m_offsets must not decrease");
        M = o[ns];
        X = input_array<double>(X_, "X", {M, d.size()}, "[M, descriptor size]");
    }
};
}  // namespace

void register_gap(py::module_& m) {
    m.def("gap_soap_rows", [](const SoapDescriptor& d, const PyBatch& pb, const py::object& X_, const py::object& m_offsets_,
                              double zeta, bool forces, bool batched) {
        const FrameBatch b = pb.view();
        const SparseArgs sp(d, X_, m_offsets_);
        const int64_t M = sp.M;
        const auto& X = sp.X;
        const auto& m_offsets = sp.offsets;
        py::array_t<double> KE({b.n_frames, M});
        py::object KF = py::none(), KV = py::none();
        double *fp = nullptr, *vp = nullptr;
        if (forces) {
            py::array_t<double> kf({3 * b.n_atoms(), M}), kv({6 * b.n_frames, M});
            fp = kf.mutable_data();
            vp = kv.mutable_data();
            KF = kf;
            KV = kv;
        }
        {
            py::gil_scoped_release nogil;
            gap_soap_rows(d, b, X.data(), m_offsets.data(), zeta, KE.mutable_data(), fp, vp, batched);
        }
        return py::make_tuple(KE, KF, KV);
    }, py::arg("descriptor"), py::arg("batch"), py::arg("X"), py::arg("m_offsets"), py::arg("zeta"), py::arg("forces"),
       py::arg("batched") = true,
       "(KE [n_frames, M], KF [3 n_atoms, M] = dKE/dr or None, KV [6 n_frames, M] virial or None) of the SOAP "
       "dot-product kernel (q . x_m)^zeta against sparse points X sorted by species (m_offsets)");

    m.def("gap_soap_predict", [](const SoapDescriptor& d, const PyBatch& pb, const py::object& X_,
                                 const py::object& m_offsets_, const py::object& w_, double zeta, bool forces) {
        const FrameBatch b = pb.view();
        const SparseArgs sp(d, X_, m_offsets_);
        const auto& X = sp.X;
        const auto& m_offsets = sp.offsets;
        const auto w = input_array<double>(w_, "w", {sp.M}, "[M]");
        return energy_forces_call(b, forces, [&](double* e, double* f, double* v) {
            gap_soap_predict(d, b, X.data(), m_offsets.data(), w.data(), zeta, e, f, v);
        });
    }, py::arg("descriptor"), py::arg("batch"), py::arg("X"), py::arg("m_offsets"), py::arg("w"), py::arg("zeta"),
       py::arg("forces"),
       "(GP atomic energies [n_atoms], forces [n_atoms, 3] or None, virial [n_frames, 6] or None) of sum_m w_m "
       "(q . x_m)^zeta in one forward+backward pass");
}

}  // namespace ldrx
