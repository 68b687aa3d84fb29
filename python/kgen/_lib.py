"""Loading libkgen and calling it through ctypes.

The library is, in order: $KGEN_LIBRARY when set (an explicit choice, e.g. a
libkgen built from source, wins over the copy in the wheel: then nothing
else is tried); the copy installed with this package (kgen/lib/libkgen.so,
inside the wheel, with the packs in kgen/share/kgen/packs, which that copy
finds by itself); when running from a source checkout (PYTHONPATH=python),
its build tree (build/libkgen.so); the install prefixes ($KGEN_PREFIX,
sys.prefix, /usr/local, /usr), and the dynamic linker's own search
(ctypes.util.find_library). It is loaded on first use, so `import kgen`
works on a machine without it.

libkgen compiles the kernels of problems no pack holds with NVRTC, which
it loads by itself (libnvrtc.so.13, .12 on the loader's path, or
$KGEN_NVRTC_LIBRARY). A pip-installed torch brings NVRTC in its NVIDIA
wheels (site-packages/nvidia/cu13/lib, nvidia/cuda_nvrtc/lib), off the
loader's path: when $KGEN_NVRTC_LIBRARY is unset and the loader finds none,
the first of those is named to libkgen through $KGEN_NVRTC_LIBRARY
(nvrtc_candidates()).
"""
import ctypes
import ctypes.util
import os
import sys
import threading

__all__ = ["KgenError", "library", "handle", "check", "XentOptions", "library_candidates", "nvrtc_candidates"]

_I64, _P, _INT = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int

# Codes of kgen.h, for callers that want to branch on them.
EINVAL, ENOMEM, ENODRIVER, ENODEVICE, ENONVRTC = -1, -2, -3, -4, -5
ECOMPILE, ECUDA, ECACHE, ENOTFOUND, ETEMPLATE = -6, -7, -8, -9, -10
EMISMATCH, EALIGN, EARCH, EUNSUPPORTED = -11, -12, -13, -14


# The enums of kgen.h by name (kgen.ops maps torch's dtypes onto DTYPES
# and ITYPES); python/tests/test_lib.py checks them against the header.
DTYPES = {"f32": 0, "f16": 1, "bf16": 2}                                   # kgen_dtype
ITYPES = {"int32": 0, "int64": 1}                                          # kgen_itype
REDUCTIONS = {"none": 0, "sum": 1, "mean": 2, "sum_over": 3}               # kgen_reduction
OPS = {"softmax_fwd": 0, "softmax_bwd": 1, "log_softmax_fwd": 2, "log_softmax_bwd": 3,  # kgen_op
       "cross_entropy_fwd": 4, "cross_entropy_bwd": 5, "cross_entropy_fused": 6}


class KgenError(RuntimeError):
    """A libkgen call failed: `code` is the KGEN_E* code, the message is
    libkgen's own ("KGEN_EINVAL: invalid argument: vocab must be >= 1 (got 0)")."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class KgenValueError(KgenError, ValueError):
    """KGEN_EINVAL and KGEN_EALIGN: the arguments were rejected."""


class XentOptions(ctypes.Structure):
    """kgen_xent_options of kgen.h (56 bytes on LP64)."""
    _fields_ = [("ignore_index", ctypes.c_int64), ("reduction", ctypes.c_int), ("denominator", ctypes.c_float),
                ("label_smoothing", ctypes.c_float), ("z_loss", ctypes.c_float), ("softcap", ctypes.c_float),
                ("weight", ctypes.c_void_p), ("bad_targets", ctypes.c_void_p), ("workspace", ctypes.c_void_p)]


XENT_WORKSPACE_BYTES = 16512  # KGEN_XENT_WORKSPACE_BYTES of kgen.h


def library_candidates():
    """The paths tried for libkgen, in order (existing or not)."""
    env = os.environ.get("KGEN_LIBRARY")
    if env:
        return [env]  # named explicitly: nothing else is tried
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.join(here, "lib", "libkgen.so")]  # the wheel's copy
    tree = os.path.dirname(os.path.dirname(here))
    if os.path.isdir(os.path.join(tree, "python", "kgen")):  # running from a source tree
        out.append(os.path.join(tree, "build", "libkgen.so"))
    prefixes = [os.environ.get("KGEN_PREFIX"), sys.prefix, "/usr/local", "/usr"]
    for p in prefixes:
        if p:
            for lib in ("lib", "lib64", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu"):
                out.append(os.path.join(p, lib, "libkgen.so"))
    found = ctypes.util.find_library("kgen")
    if found:
        out.append(found)
    seen, uniq = set(), []
    for c in out:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    return uniq


_lock = threading.Lock()
_lib = None
_handles = {}


def _declare(lib):
    lib.kgen_strerror.restype = ctypes.c_char_p
    lib.kgen_strerror.argtypes = [_INT]
    lib.kgen_last_error.restype = ctypes.c_char_p
    lib.kgen_last_error.argtypes = []
    lib.kgen_open.argtypes = [ctypes.POINTER(_P), ctypes.c_char_p]
    lib.kgen_close.argtypes = [_P]
    lib.kgen_last_kernel.argtypes = [_P, ctypes.c_char_p, ctypes.c_size_t]
    for fn in ("kgen_softmax_fwd", "kgen_log_softmax_fwd"):
        getattr(lib, fn).argtypes = [_P, _P, _P, _I64, _I64, _I64, _I64, _INT, _P]
    for fn in ("kgen_softmax_bwd", "kgen_log_softmax_bwd"):
        getattr(lib, fn).argtypes = [_P, _P, _P, _P, _I64, _I64, _I64, _I64, _I64, _INT, _P]
    lib.kgen_xent_fwd.argtypes = [_P, _P, _P, _P, _P, _I64, _I64, _I64, _INT, _INT, _P, _P]
    lib.kgen_xent_bwd.argtypes = [_P, _P, _P, _P, _P, _P, _I64, _I64, _I64, _I64, _INT, _INT, _P, _P]
    lib.kgen_xent_fused.argtypes = [_P, _P, _P, _P, _P, _P, _P, _I64, _I64, _I64, _I64, _INT, _INT, _P, _P]
    lib.kgen_xent_workspace_size.restype = ctypes.c_size_t
    lib.kgen_xent_workspace_size.argtypes = []
    lib.kgen_prepare.argtypes = [_P, _INT, _INT, _I64, _I64, _I64, _INT, _P, _P]
    for fn in ("kgen_softmax_fwd", "kgen_log_softmax_fwd", "kgen_softmax_bwd", "kgen_log_softmax_bwd",
               "kgen_xent_fwd", "kgen_xent_bwd", "kgen_xent_fused", "kgen_open", "kgen_last_kernel",
               "kgen_prepare"):
        getattr(lib, fn).restype = _INT


_NVRTC_NAMES = ("libnvrtc.so.13", "libnvrtc.so.12")
_NVRTC_LOADER = _NVRTC_NAMES + ("libnvrtc.so",)  # what libkgen tries (base/dl.c)
_NVRTC_DIRS = (("nvidia", "cu13", "lib"), ("nvidia", "cuda_nvrtc", "lib"))


def nvrtc_candidates(paths=None):
    """The NVRTC libraries of NVIDIA's Python wheels under the directories
    of paths (default sys.path), in order (existing ones only)."""
    out = []
    for d in (sys.path if paths is None else paths):
        if not d:
            continue  # '' is the working directory: not a place to load libraries from
        for sub in _NVRTC_DIRS:
            for name in _NVRTC_NAMES:
                f = os.path.join(d, *sub, name)
                if os.path.isfile(f) and f not in out:
                    out.append(f)
    return out


def _name_nvrtc():
    """Point libkgen at a wheel's NVRTC when the loader finds none."""
    if os.environ.get("KGEN_NVRTC_LIBRARY"):
        return
    for name in _NVRTC_LOADER:
        try:
            ctypes.CDLL(name)
            return  # on the loader's path (or loaded already, e.g. by torch)
        except OSError:
            pass
    found = nvrtc_candidates()
    # the one of torch's CUDA when torch is loaded (its wheels match the
    # driver it runs on), else the first
    torch = sys.modules.get("torch")
    cuda = getattr(getattr(torch, "version", None), "cuda", None) if torch else None
    same = [f for f in found if cuda and f.endswith(".so." + str(cuda).split(".")[0])]
    if same or found:
        os.environ["KGEN_NVRTC_LIBRARY"] = (same or found)[0]


def library():
    """The loaded libkgen (a ctypes.CDLL); KgenError when none is found."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            tried = []
            for path in library_candidates():
                if os.path.sep in path and not os.path.exists(path):
                    tried.append(f"{path} (absent)")
                    continue
                try:
                    lib = ctypes.CDLL(path)
                except OSError as e:
                    tried.append(f"{path} ({e})")
                    continue
                _declare(lib)
                _name_nvrtc()
                _lib = lib
                break
            else:
                raise KgenError(ENOTFOUND, "kgen: cannot find libkgen.so; set KGEN_LIBRARY to its path, "
                                "or build it (cmake --build build) or install it. Tried: " + "; ".join(tried))
    return _lib


def check(rc):
    """Raise KgenError carrying libkgen's message when rc is not 0."""
    if rc:
        lib = library()
        msg = f"{lib.kgen_strerror(rc).decode()}: {lib.kgen_last_error().decode()}"
        raise (KgenValueError if rc in (EINVAL, EALIGN) else KgenError)(rc, msg)


def handle():
    """The process's kgen_ctx, opened on first use (the default tuning cache,
    $KGEN_CACHE_DIR or ~/.cache/kgen). One handle serves every thread,
    device and context of the process."""
    pid = os.getpid()
    h = _handles.get(pid)
    if h is not None:
        return h
    lib = library()
    with _lock:
        h = _handles.get(pid)
        if h is None:
            h = _P()
            check(lib.kgen_open(ctypes.byref(h), None))
            _handles.clear()  # a handle inherited through fork() belongs to the parent
            _handles[pid] = h
    return h


def last_kernel():
    """Where the calling thread's last kernel came from and its configuration,
    e.g. "cache strategy=reg,threads=256,tpr=256,vec=8"."""
    buf = ctypes.create_string_buffer(512)
    check(library().kgen_last_kernel(handle(), buf, len(buf)))
    return buf.value.decode()
