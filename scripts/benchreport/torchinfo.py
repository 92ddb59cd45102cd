#!/usr/bin/python3
"""Print, as one JSON object, the BLAS and CPU kernels PyTorch uses in this process: its
version, build configuration (torch.__config__.show()), CPU capability, oneDNN availability,
thread count, and, when the BLAS it loaded is OpenBLAS, the core type OpenBLAS chose
(openblas_get_corename, which OPENBLAS_CORETYPE overrides). make bench runs it with the same
environment as the peer."""
import ctypes, json, re
import torch

torch.set_num_threads(2)
torch.mm(torch.rand(64, 64), torch.rand(64, 64))  # load the BLAS before reading the maps
cfg = torch.__config__.show()
info = {
    "version": torch.__version__,
    "threads": torch.get_num_threads(),
    # torch.backends.cpu.get_cpu_capability() is newer than Debian's torch 1.13.
    "cpu_capability": (re.search(r"CPU capability usage: (\S+)", cfg) or [None, "?"])[1],
    "mkldnn": torch.backends.mkldnn.is_available(),
    "mkldnn_version": (re.search(r"MKL-DNN v(\S+)", cfg) or [None, "?"])[1],
    "mkl": torch.backends.mkl.is_available(),
    "blas_info": (re.search(r"BLAS_INFO=([^,\s]+)", cfg) or [None, "?"])[1],
}
libs = set()
with open("/proc/self/maps") as f:
    for line in f:
        path = line.split()[-1]
        if re.search(r"lib(open)?blas[^/]*\.so|libblis[^/]*\.so|libmkl", path):
            libs.add(path)
info["blas_libs"] = sorted(libs)
for path in sorted(libs):
    try:
        lib = ctypes.CDLL(path)
        fn = lib.openblas_get_corename
    except (OSError, AttributeError):
        continue
    fn.restype = ctypes.c_char_p
    info["openblas_core"] = fn().decode()
    cfgfn = lib.openblas_get_config
    cfgfn.restype = ctypes.c_char_p
    info["openblas_config"] = cfgfn().decode()
    break
print(json.dumps(info))
