"""Every file cmlp writes is written like Network.save writes (cmlp._files.write_atomically):
all or nothing, with the permissions, refusals and errors of open(path, "w")."""
import errno
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cmlp import Network

ROWS = 40


def _net():
    return Network([16, 8, 10], seed=0)


def _save(path):
    _net().save(path)


def _onnx(path):
    pytest.importorskip("onnx")
    _net().to_onnx(path)


def _plot(path):
    pytest.importorskip("matplotlib")
    from cmlp import plots
    plots.plot_confusion_matrix(np.eye(10, dtype=np.int64), path)


def _predict_out(path):
    """cmlp predict MODEL IMAGES --out path, in this process."""
    from cmlp import cli
    model, images = _INPUTS["model"], _INPUTS["images"]
    debug = os.environ.get("CMLP_DEBUG")
    os.environ["CMLP_DEBUG"] = "1"  # raise the error rather than print it
    try:
        assert cli.main(["predict", model, images, "--out", os.fsdecode(path)]) == 0
    finally:
        if debug is None:
            del os.environ["CMLP_DEBUG"]
        else:
            os.environ["CMLP_DEBUG"] = debug


_INPUTS = {}


@pytest.fixture(scope="module", autouse=True)
def _predict_inputs(tmp_path_factory):
    """The model and images of _predict_out, made once, away from the files tested."""
    work = tmp_path_factory.mktemp("predict-inputs")
    _INPUTS["model"], _INPUTS["images"] = str(work / "model.npz"), str(work / "images.csv")
    _net().save(_INPUTS["model"])
    rows = np.random.default_rng(0).integers(0, 256, (ROWS, 16))
    np.savetxt(_INPUTS["images"], rows, fmt="%d", delimiter=",",
               header=",".join(f"pixel{i}" for i in range(16)), comments="")


WRITERS = {"save": _save, "to_onnx": _onnx, "plot": _plot, "predict --out": _predict_out}


def _leftovers(directory):
    return [name for name in os.listdir(directory) if name.endswith(".cmlp-save")
            or name.endswith(".tmp")]


@pytest.fixture(params=WRITERS)
def write(request):
    return WRITERS[request.param]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_a_new_file_gets_open_s_permissions(tmp_path, write, umask):
    old = os.umask(umask)
    try:
        write(tmp_path / "out")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "out").st_mode) == 0o666 & ~umask
    assert not _leftovers(tmp_path)


def test_a_replaced_file_keeps_its_mode(tmp_path, write):
    path = tmp_path / "out"
    path.write_bytes(b"old")
    path.chmod(0o640)
    write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_bytes() != b"old"


def test_a_symlink_is_followed_and_kept(tmp_path, write):
    target = tmp_path / "real"
    target.write_bytes(b"old")
    link = tmp_path / "link"
    link.symlink_to(target)
    write(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() != b"old"
    assert not _leftovers(tmp_path)


def test_errors_name_the_users_path_and_leave_nothing(tmp_path, write):
    from cmlp.cli import UserError  # the CLI checks --out before predicting, in its words

    missing = tmp_path / "no" / "such" / "out"
    with pytest.raises((FileNotFoundError, UserError)) as excinfo:
        write(missing)
    assert getattr(excinfo.value, "filename", None) == str(missing) \
        or str(missing) in str(excinfo.value)
    directory = tmp_path / "a-directory"
    directory.mkdir()
    with pytest.raises((IsADirectoryError, UserError)) as excinfo:
        write(directory)
    assert getattr(excinfo.value, "filename", None) == str(directory) \
        or str(directory) in str(excinfo.value)
    assert not _leftovers(tmp_path) and not _leftovers(directory)


def test_trailing_slash_and_bytes_paths_behave_like_open(tmp_path, write):
    for name, exists in (("new", False), ("old", True)):
        path = tmp_path / name
        if exists:
            path.write_bytes(b"old")
        with pytest.raises(OSError) as expected:
            open(str(path) + "/", "w")
        with pytest.raises(OSError) as got:
            write(str(path) + "/")
        assert type(got.value) is type(expected.value)
        assert got.value.errno == expected.value.errno
        assert got.value.filename == str(path) + "/"
        assert not os.path.exists(path) or path.read_bytes() == b"old"
    write(os.fsencode(tmp_path / "bytes"))
    assert (tmp_path / "bytes").stat().st_size > 0
    assert not _leftovers(tmp_path)


def test_a_failure_while_writing_keeps_the_old_file(tmp_path, write, monkeypatch):
    path = tmp_path / "out"
    path.write_bytes(b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as excinfo:
        write(path)
    assert excinfo.value.errno == errno.ENOSPC and excinfo.value.filename == str(path)
    assert path.read_bytes() == b"old"
    assert not _leftovers(tmp_path)


_FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    # cmlp and its OpenMP runtime start before the limit, which is meant for the output
    # file only (libomp writes a file in /dev/shm when its first parallel region starts).
    import numpy as np
    from cmlp import Network, cli
    Network([4, 64, 2], n_threads=2, seed=0).fit(
        np.zeros((512, 4), np.float32), np.zeros(512, np.int64), epochs=1, batch_size=32,
        learning_rate=0.1)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
    sys.exit(cli.main(sys.argv[1:]))
""")


@pytest.mark.subprocess
def test_cmlp_predict_out_on_a_full_disk_keeps_the_previous_file(tmp_path):
    net = _net()
    net.save(tmp_path / "model.npz")
    rows = np.random.default_rng(0).integers(0, 256, (ROWS, 16))
    np.savetxt(tmp_path / "images.csv", rows, fmt="%d", delimiter=",",
               header=",".join(f"pixel{i}" for i in range(16)), comments="")
    out = tmp_path / "submission.csv"
    out.write_text("ImageId,Label\n1,7\n")
    result = subprocess.run(
        [sys.executable, "-B", "-c", _FULL_DISK, "predict", str(tmp_path / "model.npz"),
         str(tmp_path / "images.csv"), "--out", str(out)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert str(out) in result.stderr and "File too large" in result.stderr, result.stderr
    assert out.read_text() == "ImageId,Label\n1,7\n"
    assert not _leftovers(tmp_path)


_READ_ONLY = textwrap.dedent("""
    import os, sys
    import numpy as np
    from cmlp import Network
    path = sys.argv[1]
    with open(path, "wb") as f:
        f.write(b"protected")
    os.chmod(path, 0o444)
    try:
        open(path, "w")
    except PermissionError:
        pass
    else:
        sys.exit("open() wrote a write-protected file: cannot compare")
    net = Network([4, 3, 2], seed=0)
    for name, write in (("save", net.save), ("to_onnx", net.to_onnx)):
        if name == "to_onnx":
            try:
                import onnx
            except ImportError:
                continue
        try:
            write(path)
        except PermissionError as error:
            assert error.filename == path, error
        else:
            sys.exit(f"{name} replaced a write-protected file")
        assert open(path, "rb").read() == b"protected"
    print("refused")
""")


@pytest.mark.subprocess
def test_a_write_protected_file_is_refused_like_open_refuses_it(tmp_path):
    command = [sys.executable, "-c", _READ_ONLY, str(tmp_path / "m.npz")]
    if os.geteuid() == 0:  # root writes anything: drop that capability for the child
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
                   "--inh-caps", "-dac_override,-dac_read_search"] + command
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "refused" in result.stdout, result.stderr


def test_save_refuses_what_load_refuses(tmp_path):
    from cmlp import _serialization
    sizes = [2] * (_serialization.MAX_LAYERS + 2)  # one layer of weights too many
    net = Network(sizes, seed=0, activation="tanh", init="glorot")
    path = tmp_path / "deep.npz"
    with pytest.raises(ValueError, match="layers"):
        net.save(path)
    assert not path.exists() and not _leftovers(tmp_path)
    ok = Network(sizes[:-1], seed=0, activation="tanh", init="glorot")
    ok.save(path)
    assert Network.load(path).layer_sizes == sizes[:-1]


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_a_device_is_written_into_not_replaced(write):
    write("/dev/null")  # as open("/dev/null", "w") would; no temp file in /dev
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not _leftovers("/dev")
