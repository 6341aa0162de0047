// ldrx._cpu: which instruction sets this CPU (and the operating system) can run, for python/ldrx/_dispatch.py.
// Plain CPython C API and baseline compile flags, so it imports on any CPU the wheel's tag allows. It asks the
// CPU (CPUID, and XGETBV for the operating system's support of AVX and AVX-512 registers, both done by
// libgcc's __builtin_cpu_supports), not /proc/cpuinfo: an emulator or a container may show the host's file.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

namespace {

PyObject* features(PyObject*, PyObject*) {
    PyObject* d = PyDict_New();
    if (!d) return nullptr;
    auto put = [d](const char* name, bool v) { PyDict_SetItemString(d, name, v ? Py_True : Py_False); };
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    const bool v3 = __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") &&
                    __builtin_cpu_supports("movbe") && __builtin_cpu_supports("popcnt");
    const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512vl");
    put("x86_64", true);
    put("avx2", v3);    // x86-64-v3: AVX, AVX2, FMA, BMI1/2, F16C, MOVBE (LZCNT comes with BMI on every such CPU)
    put("avx512", v4);  // x86-64-v4: AVX-512 F, BW, CD, DQ, VL
#else
    put("x86_64", false);
    put("avx2", false);
    put("avx512", false);
#endif
    return d;
}

PyMethodDef methods[] = {
    {"features", features, METH_NOARGS, "{'x86_64': bool, 'avx2': bool (x86-64-v3), 'avx512': bool (x86-64-v4)}"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cpu", "CPU features for choosing a build of ldrx._core", -1, methods,
                      nullptr, nullptr, nullptr, nullptr};

}  // namespace

extern "C" PyMODINIT_FUNC PyInit__cpu() { return PyModule_Create(&module); }
