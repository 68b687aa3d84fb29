"""kgen._lib without torch or a GPU: finding libkgen, its error strings, the
options struct, and the error a machine without a driver gets."""
import ctypes
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from kgen import _lib  # noqa: E402


def test_finds_and_declares_the_library():
    lib = _lib.library()
    assert lib.kgen_strerror(-1).decode().startswith("KGEN_EINVAL")
    assert lib.kgen_strerror(-14).decode().startswith("KGEN_EUNSUPPORTED")


def test_options_struct_matches_kgen_h():
    # kgen_xent_options: int64, enum, 4 floats, three pointers
    assert ctypes.sizeof(_lib.XentOptions) == 56
    assert _lib.XentOptions.weight.offset == 32 and _lib.XentOptions.bad_targets.offset == 40
    assert _lib.XentOptions.workspace.offset == 48
    assert _lib.library().kgen_xent_workspace_size() == _lib.XENT_WORKSPACE_BYTES


def test_codes_match_kgen_h():
    # every KGEN_E* of kgen.h, by name and value, and libkgen's name for each
    import re
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "include", "kgen.h")) as f:
        header = f.read()
    codes = dict((m.group(1), int(m.group(2)))
                 for m in re.finditer(r"#define KGEN_(E[A-Z]+)\s+\((-\d+)\)", header))
    assert len(codes) >= 14 and codes["EINVAL"] == -1, codes
    for name, value in codes.items():
        assert getattr(_lib, name) == value, name
        assert _lib.library().kgen_strerror(value).decode().startswith("KGEN_" + name)
    m = re.search(r"#define KGEN_XENT_WORKSPACE_BYTES (\d+)", header)
    assert m and int(m.group(1)) == _lib.XENT_WORKSPACE_BYTES


def test_missing_library_names_every_place_tried(tmp_path):
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from kgen import _lib\n"
            "try:\n    _lib.library()\nexcept _lib.KgenError as e:\n    print('ERR', e)\n") % os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KGEN_LIBRARY=str(tmp_path / "nowhere" / "libkgen.so"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "ERR kgen: cannot find libkgen.so" in r.stdout, r.stdout + r.stderr
    assert str(tmp_path / "nowhere" / "libkgen.so") + " (absent)" in r.stdout


def test_kgen_library_wins(tmp_path):
    real = _lib.library_candidates()
    env = dict(os.environ, KGEN_LIBRARY="/x/libkgen.so")
    code = "import sys; sys.path.insert(0, %r); from kgen import _lib; print(_lib.library_candidates()[0])" % (
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.stdout.strip() == "/x/libkgen.so"
    assert real  # the search order is never empty


def test_open_without_driver_is_a_clear_error():
    try:
        h = _lib.handle()
    except _lib.KgenError as e:
        assert e.code in (_lib.ENODRIVER, _lib.ENODEVICE), e
        assert str(e).startswith(("KGEN_ENODRIVER", "KGEN_ENODEVICE"))
    else:
        assert h.value  # a GPU machine: a real handle


def test_nvrtc_of_the_nvidia_wheels_is_found(tmp_path):
    # site-packages/nvidia/cu13/lib (CUDA 13 wheels) before nvidia/cuda_nvrtc/lib
    a = tmp_path / "a" / "nvidia" / "cuda_nvrtc" / "lib"
    b = tmp_path / "b" / "nvidia" / "cu13" / "lib"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    (a / "libnvrtc.so.12").write_bytes(b"")
    (b / "libnvrtc.so.13").write_bytes(b"")
    (tmp_path / "c").mkdir()
    found = _lib.nvrtc_candidates([str(tmp_path / "c"), str(tmp_path / "a"), str(tmp_path / "b")])
    assert found == [str(a / "libnvrtc.so.12"), str(b / "libnvrtc.so.13")]
    assert _lib.nvrtc_candidates([str(tmp_path / "c")]) == []


def test_enums_match_kgen_h():
    # kgen_dtype, kgen_itype, kgen_reduction and kgen_op: every enumerator
    # of the header, by value, in the package's tables (and no other)
    import re
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "include", "kgen.h")) as f:
        header = f.read()

    def enum(name):
        body = re.search(r"typedef enum %s \{(.*?)\}" % name, header, re.S).group(1)
        return dict((m.group(1), int(m.group(2))) for m in re.finditer(r"(KGEN_\w+)\s*=\s*(\d+)", body))

    assert enum("kgen_dtype") == {"KGEN_" + k.upper(): v for k, v in _lib.DTYPES.items()}
    assert enum("kgen_itype") == {"KGEN_" + k.upper(): v for k, v in _lib.ITYPES.items()}
    assert enum("kgen_reduction") == {"KGEN_REDUCTION_" + k.upper(): v for k, v in _lib.REDUCTIONS.items()}
    names = {"softmax_fwd": "SOFTMAX_FWD", "softmax_bwd": "SOFTMAX_BWD", "log_softmax_fwd": "LOG_SOFTMAX_FWD",
             "log_softmax_bwd": "LOG_SOFTMAX_BWD", "cross_entropy_fwd": "XENT_FWD",
             "cross_entropy_bwd": "XENT_BWD", "cross_entropy_fused": "XENT_FUSED"}
    assert enum("kgen_op") == {"KGEN_OP_" + names[k]: v for k, v in _lib.OPS.items()}
