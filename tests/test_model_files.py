"""Network.load treats model files as untrusted; Network.save is atomic and behaves like open().

Bombs and absurd sizes are checked with tracemalloc (numpy reports its allocations to it):
load must refuse them before allocating more than a few megabytes.
"""
import errno
import io
import os
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from cmlp import Network
from cmlp import _serialization
from fifo import unblock_fifo_later

SMALL_PEAK = 8 << 20  # bytes load may allocate while refusing a file that declares gigabytes


def model_arrays(net):
    """The arrays Network.save writes, as a dict to tamper with."""
    arrays = {
        "format": np.array("cmlp-network"),
        "format_version": np.array(1),
        "layer_sizes": np.array(net.layer_sizes, dtype=np.int64),
        "dtype": np.array(net.dtype.name),
        "activation": np.array(net.activation),
    }
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"weight_{l}"] = W.copy()
        arrays[f"bias_{l}"] = b.copy()
    return arrays


def write_npz(path, arrays, compress=False):
    (np.savez_compressed if compress else np.savez)(path, **arrays)
    return path


def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=True)
    return buffer.getvalue()


def write_members(path, members, compression=zipfile.ZIP_STORED):
    """A zip of raw .npy bytes per name, for members numpy would not write itself."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name + ".npy", data)
    return path


def load_peak(path):
    """(exception raised by Network.load, peak bytes traced while loading)."""
    tracemalloc.start()
    try:
        with pytest.raises((ValueError, OSError)) as excinfo:
            Network.load(path)
        return excinfo.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def net():
    return Network([6, 5, 3], seed=0)


# ---------------------------------------------------------------------------------------
# sizes declared by the archive


def test_member_declaring_gigabytes_in_npy_header(tmp_path, net):
    """A .npy header may claim any shape; the claim is checked before anything is allocated."""
    arrays = {k: npy_bytes(v) for k, v in model_arrays(net).items()}
    header = npy_bytes(np.zeros((6, 5), np.float32))
    arrays["weight_0"] = header.replace(b"(6, 5)", b"(60000, 50000)")  # 12 GB of float32
    error, peak = load_peak(write_members(tmp_path / "m.npz", arrays))
    assert isinstance(error, ValueError) and "weight_0" in str(error)
    assert peak < SMALL_PEAK


def test_zip_bomb_member_is_refused_before_decompression(tmp_path, net):
    """400 MB of zeros deflate to ~400 kB: the member's declared size gives it away."""
    arrays = model_arrays(net)
    arrays["weight_0"] = np.zeros((10_000, 10_000), np.float32)
    path = write_npz(tmp_path / "bomb.npz", arrays, compress=True)
    assert path.stat().st_size < 1 << 20
    start = time.perf_counter()
    error, peak = load_peak(path)
    assert time.perf_counter() - start < 2
    assert isinstance(error, ValueError) and "weight_0" in str(error)
    assert peak < SMALL_PEAK


def test_zip_member_lying_about_its_size(tmp_path, net):
    """A central directory may under- or over-state a member's size; neither is trusted."""
    path = write_npz(tmp_path / "m.npz", model_arrays(net), compress=True)
    data = bytearray(path.read_bytes())
    at = data.index(b"PK\x01\x02")
    # Every central directory entry: claim a size no deflate stream of its length can reach.
    while at >= 0:
        struct.pack_into("<L", data, at + 24, 0xFFFFFF00)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    error, peak = load_peak(path)
    assert isinstance(error, ValueError) and "zip bomb" in str(error)
    assert peak < SMALL_PEAK


def test_too_many_members_refused_from_the_zip_directory(tmp_path, net):
    arrays = model_arrays(net)
    for i in range(3000):
        arrays[f"x{i}"] = np.zeros(1)
    with pytest.raises(ValueError, match="3009 members"):
        Network.load(write_npz(tmp_path / "m.npz", arrays))


@pytest.mark.parametrize("sizes, match", [
    ([100_000, 100_000, 10], "parameters, above the limit"),
    ([10**12, 10], "within 1 to"),
    ([6], "2 to"),
    ([6, 0, 3], "within 1 to"),
])
def test_absurd_layer_sizes(tmp_path, net, sizes, match):
    arrays = model_arrays(net)
    arrays["layer_sizes"] = np.array(sizes, dtype=np.int64)
    error, peak = load_peak(write_npz(tmp_path / "m.npz", arrays))
    assert isinstance(error, ValueError) and error.args and match in str(error)
    assert peak < SMALL_PEAK


def test_layer_sizes_larger_than_the_arrays_stored(tmp_path, net):
    """layer_sizes promising 400 MB of weights that the file does not hold: no allocation."""
    arrays = model_arrays(net)
    arrays["layer_sizes"] = np.array([10_000, 10_000, 3], dtype=np.int64)
    error, peak = load_peak(write_npz(tmp_path / "m.npz", arrays))
    assert isinstance(error, ValueError) and "weight_0" in str(error)
    assert peak < SMALL_PEAK


# ---------------------------------------------------------------------------------------
# contents


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.complex64, np.float64, object])
def test_weights_of_the_wrong_dtype(tmp_path, net, dtype):
    arrays = model_arrays(net)
    if dtype is object:
        members = {k: npy_bytes(v) for k, v in arrays.items()}
        members["weight_0"] = npy_bytes(arrays["weight_0"].astype(object))
        path = write_members(tmp_path / "m.npz", members)
    else:
        arrays["weight_0"] = arrays["weight_0"].astype(dtype)
        path = write_npz(tmp_path / "m.npz", arrays)
    with pytest.raises(ValueError, match="weight_0.*dtype"):
        Network.load(path)


def test_metadata_of_the_wrong_kind(tmp_path, net):
    for name, value, match in [
        ("layer_sizes", np.array([6.0, 5.0, 3.0]), "layer_sizes"),
        ("dtype", np.array("float16"), "dtype"),
        ("activation", np.array("softplus"), "activation"),
        ("format_version", np.array([1, 1]), "format_version"),
        ("format", np.array(b"cmlp-network"), "format"),
    ]:
        arrays = model_arrays(net)
        arrays[name] = value
        with pytest.raises(ValueError, match=match):
            Network.load(write_npz(tmp_path / f"{name}.npz", arrays))


def test_missing_and_extra_arrays(tmp_path, net):
    arrays = model_arrays(net)
    del arrays["bias_1"]
    with pytest.raises(ValueError, match="'bias_1' is missing"):
        Network.load(write_npz(tmp_path / "missing.npz", arrays))
    arrays = model_arrays(net)
    arrays["weight_2"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="unexpected array 'weight_2'"):
        Network.load(write_npz(tmp_path / "extra.npz", arrays))


def test_nan_weights(tmp_path, net):
    arrays = model_arrays(net)
    arrays["bias_1"][1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        Network.load(write_npz(tmp_path / "m.npz", arrays))


def test_weights_that_overflow_are_refused_by_load_and_save(tmp_path):
    """Finite weights of a diverged run (|w| ~ 1e29) predict only NaN: neither written nor read."""
    net = Network([784, 50, 10], seed=0)
    for W in net.weights:
        W *= np.float32(1e29)
    path = tmp_path / "diverged.npz"
    with pytest.raises(ValueError, match="overflow"):
        net.save(path)
    assert not path.exists() and list(tmp_path.iterdir()) == []
    write_npz(path, model_arrays(net))
    with pytest.raises(ValueError, match="overflow"):
        Network.load(path)
    X = np.random.default_rng(0).uniform(0, 1, (4, 784)).astype(np.float32)
    with np.errstate(all="ignore"):  # what such a model would predict
        assert not np.isfinite(_logits(net, X)).all()


def _logits(net, X):
    A = X
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        Z = A @ W + b
        A = np.maximum(Z, 0) if l < len(net.weights) - 1 else Z
    return A


def test_save_refuses_nan_parameters(tmp_path, net):
    net.biases[0][0] = np.inf
    with pytest.raises(ValueError, match=r"cannot save the network to .*m\.npz"):
        net.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_round_trip_of_other_layouts(tmp_path, net):
    """Fortran-ordered, byte-swapped and compressed arrays are still the same weights."""
    arrays = model_arrays(net)
    arrays["weight_0"] = np.asfortranarray(arrays["weight_0"])
    arrays["weight_1"] = arrays["weight_1"].astype(">f4")
    loaded = Network.load(write_npz(tmp_path / "m.npz", arrays, compress=True))
    for a, b in zip(loaded.weights + loaded.biases, net.weights + net.biases):
        assert_array_equal(a, b)


def test_flipped_crc_is_refused(tmp_path, net):
    path = tmp_path / "m.npz"
    net.save(path)
    data = bytearray(path.read_bytes())
    offset = zipfile.ZipFile(path).getinfo("bias_1.npy").header_offset
    name_length, extra_length = struct.unpack_from("<HH", data, offset + 26)
    at = offset + 30 + name_length + extra_length + 128  # past the 128-byte .npy header
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        Network.load(path)


# ---------------------------------------------------------------------------------------
# what the path names


def test_directory(tmp_path):
    with pytest.raises(IsADirectoryError) as excinfo:
        Network.load(tmp_path)
    assert excinfo.value.filename == str(tmp_path)


def test_symlink_loop(tmp_path):
    loop = tmp_path / "loop.npz"
    os.symlink(loop, loop)
    with pytest.raises(OSError) as excinfo:
        Network.load(loop)
    assert excinfo.value.errno == errno.ELOOP and excinfo.value.filename == str(loop)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_devices_are_not_read(device):
    if not os.path.exists(device):
        pytest.skip(f"{device} not present")
    start = time.perf_counter()
    with pytest.raises(OSError, match="character device") as excinfo:
        Network.load(device)
    assert excinfo.value.filename == device
    assert time.perf_counter() - start < 1


def test_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    unblock_fifo_later(fifo)
    start = time.perf_counter()
    with pytest.raises(OSError, match="FIFO") as excinfo:
        Network.load(fifo)
    assert time.perf_counter() - start < 2
    assert excinfo.value.filename == str(fifo)


def test_no_read_permission(net):
    """Run as an unprivileged user if we are root (root reads anything)."""
    directory = Path(tempfile.mkdtemp())
    try:
        directory.chmod(0o755)
        path = directory / "secret.npz"
        net.save(path)
        path.chmod(0o000)
        code = f"from cmlp import Network; Network.load({str(path)!r})"
        kwargs = {}
        if os.geteuid() == 0:
            kwargs["user"] = 65534  # nobody
        try:
            result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                    text=True, timeout=120, **kwargs)
        except PermissionError:
            pytest.skip("cannot switch to an unprivileged user here")
        if "ModuleNotFoundError" in result.stderr or "cannot import" in result.stderr:
            pytest.skip("cmlp is not importable by the unprivileged user")
        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("PermissionError") and str(path) in last
    finally:
        for p in directory.iterdir():
            p.unlink()
        directory.rmdir()


def test_open_errors_name_the_path(tmp_path, net, monkeypatch):
    """Whatever os.open refuses (EACCES here, simulated: root reads anything) is reported
    with the requested path, as the same OSError subclass."""
    path = tmp_path / "m.npz"
    net.save(path)

    def refuse(name, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", name)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(PermissionError, match="cannot open model file") as excinfo:
        Network.load(path)
    assert excinfo.value.filename == str(path)


# ---------------------------------------------------------------------------------------
# save


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_save_mode_follows_the_umask(tmp_path, net, umask_027):
    path = tmp_path / "m.npz"
    net.save(path)
    assert path.stat().st_mode & 0o777 == 0o640
    path.chmod(0o604)  # an existing file keeps its mode, as open(path, "w") would
    net.save(path)
    assert path.stat().st_mode & 0o777 == 0o604


def test_save_through_a_symlink_writes_its_target(tmp_path, net):
    target = tmp_path / "models" / "real.npz"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "current.npz"
    link.symlink_to(target)
    net.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert_array_equal(Network.load(target).weights[0], net.weights[0])
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "models" / "new.npz")
    net.save(dangling)
    assert dangling.is_symlink() and (tmp_path / "models" / "new.npz").is_file()
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["new.npz", "real.npz"]


def test_save_errors_name_the_requested_path(tmp_path, net, monkeypatch):
    missing = tmp_path / "no" / "such" / "dir" / "m.npz"
    with pytest.raises(FileNotFoundError) as excinfo:
        net.save(missing)
    assert excinfo.value.filename == str(missing)
    with pytest.raises(IsADirectoryError) as excinfo:
        net.save(tmp_path)
    assert excinfo.value.filename == str(tmp_path)
    loop = tmp_path / "loop.npz"
    os.symlink(loop, loop)
    with pytest.raises(OSError) as excinfo:
        net.save(loop)
    assert excinfo.value.errno == errno.ELOOP and excinfo.value.filename == str(loop)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    path = tmp_path / "m.npz"
    with pytest.raises(OSError, match="No space left") as excinfo:
        net.save(path)
    assert excinfo.value.filename == str(path) and excinfo.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop.npz"]


_SLOW_SAVE = textwrap.dedent("""
    import sys, time
    import numpy as np
    from cmlp import Network
    real_savez = np.savez
    def slow_savez(f, **arrays):
        real_savez(f, **arrays)
        f.flush()
        print("writing", flush=True)
        time.sleep(600)
    np.savez = slow_savez
    Network([6, 5, 3], seed=0).save(sys.argv[1])
""")


def _start_slow_save(path):
    process = subprocess.Popen([sys.executable, "-c", _SLOW_SAVE, str(path)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    return process


def test_temp_files_of_killed_saves_are_removed(tmp_path, net):
    path = tmp_path / "m.npz"
    running = _start_slow_save(path)
    try:
        killed = _start_slow_save(path)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        temps = sorted(p.name for p in tmp_path.iterdir())
        assert len(temps) == 2 and all(t.startswith(".m.npz.") for t in temps), temps
        (tmp_path / "other.npz.tmp").write_bytes(b"not ours")
        net.save(path)
        left = sorted(p.name for p in tmp_path.iterdir())
        # The killed save's temp file is gone, the running one's stays, others untouched.
        assert len(left) == 3 and "m.npz" in left and "other.npz.tmp" in left, left
        (kept,) = [t for t in left if t.startswith(".")]
        assert kept in temps
    finally:
        running.kill()
        running.wait()
    assert Network.load(path).layer_sizes == [6, 5, 3]
    net.save(path)  # the running save was killed too: its temp file goes now
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "other.npz.tmp"]
