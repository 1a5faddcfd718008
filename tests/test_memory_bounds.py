"""Memory stays bounded by what is kept, not by what the input claims or holds: a CSV line
of a gigabyte is refused having read a bounded part of it, and a memory-mapped X is checked
without a temporary of its size."""
import gzip
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

from cmlp import Network, datasets

HEADER = "label," + ",".join(f"pixel{i}" for i in range(784)) + "\n"
ROW = "3," + ",".join(["0"] * 784) + "\n"
GIB = 1 << 30


def _gzip_with_a_long_line(path, before, line_bytes, after="0\n"):
    """A .csv.gz whose text is ``before``, then one line of line_bytes bytes ("0,0,..."),
    then ``after``. Made of gzip members (readers join them), the line's from one 1 MiB
    member repeated, so a gigabyte line takes a megabyte and a moment to write."""
    member = gzip.compress(b"0," * (1 << 19), compresslevel=9)
    with open(path, "wb") as f:
        f.write(gzip.compress(before.encode()))
        for _ in range(line_bytes >> 20):
            f.write(member)
        f.write(gzip.compress(after.encode()))


# The child reads a small valid file first, so that the baseline holds pandas' first-use
# allocations; its address space is capped, so that a regression fails with MemoryError
# instead of taking the machine's memory.
_MEASURE = textwrap.dedent("""
    import os, resource, sys
    from cmlp import datasets
    small, path = sys.argv[1], sys.argv[2]
    datasets.load_csv(small)
    pages = int(open("/proc/self/statm").read().split()[0])
    limit = pages * os.sysconf("SC_PAGE_SIZE") + (1 << 31)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        datasets.load_csv(path)
        outcome = "accepted"
    except datasets.DatasetError as error:
        outcome = str(error)
    except MemoryError:
        outcome = "MemoryError"
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) // 1024)  # MiB (ru_maxrss is in KiB on Linux)
    print(outcome)
""")


def _refusal_peak(tmp_path, path):
    small = tmp_path / "small.csv"
    small.write_text(HEADER + ROW)
    result = subprocess.run([sys.executable, "-c", _MEASURE, str(small), str(path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    peak, outcome = result.stdout.split("\n", 1)
    return int(peak), outcome.strip()


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="measures the address space through /proc (Linux)")


@pytest.mark.subprocess
@needs_proc
@pytest.mark.parametrize("rows_before", [0, 4])
def test_a_gigabyte_line_after_the_first_is_refused_in_bounded_memory(tmp_path, rows_before):
    path = tmp_path / "long.csv.gz"
    _gzip_with_a_long_line(path, HEADER + ROW * rows_before, GIB)
    peak, outcome = _refusal_peak(tmp_path, path)
    print(f"peak {peak} MiB above the baseline")
    assert peak < 100, f"refusing the line took {peak} MiB above the baseline ({outcome})"
    row = rows_before + 1
    assert f"row {row} (line {row + 1}) is longer than" in outcome, outcome
    assert str(path) in outcome


@pytest.mark.subprocess
@needs_proc
def test_a_gigabyte_first_line_is_refused_in_bounded_memory(tmp_path):
    path = tmp_path / "long.csv.gz"
    _gzip_with_a_long_line(path, "", GIB)
    peak, outcome = _refusal_peak(tmp_path, path)
    print(f"peak {peak} MiB above the baseline")
    assert peak < 100, f"refusing the line took {peak} MiB above the baseline ({outcome})"
    assert "line 1 is longer than" in outcome, outcome


def test_every_line_is_capped_by_the_column_count(tmp_path):
    long_row = "3," + ",".join(["0" * 60] * 784) + "," + "0" * 5000 + "\n"
    path = tmp_path / "rows.csv"
    path.write_text(HEADER + ROW * 2 + long_row + ROW)
    with pytest.raises(datasets.DatasetError,
                       match=r"row 3 \(line 4\) is longer than 50,240 characters"):
        datasets.load_csv(path)
    # A row at the cap's edge but of valid numbers is read: the cap is not a tight one.
    wide = "3," + ",".join(["0.00392156862745098"] * 784) + "\n"
    path.write_text(HEADER + wide + "\r\n".join([ROW.rstrip("\n")] * 3) + "\r\n")
    X, y = datasets.load_csv(path)
    assert X.shape == (4, 784) and list(y) == [3] * 4


def test_lines_ending_in_carriage_returns_only_are_lines(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes((HEADER + ROW * 30).replace("\n", "\r").encode())
    X, y = datasets.load_csv(path)
    assert X.shape == (30, 784)


def test_predicting_a_memory_map_allocates_no_temporary_of_its_size(tmp_path):
    n, d = 20000, 784
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32,
                                  shape=(n, d))
    X[:] = 0.5
    X.flush()
    X = np.load(tmp_path / "X.npy", mmap_mode="r")
    net = Network([d, 16, 10], seed=0, n_threads=1)
    out = np.empty((n, 10), np.float32)
    net.predict_proba(X[:10], out=out[:10])  # caches made before measuring
    tracemalloc.start()
    try:
        net.predict_proba(X, out=out)
        net.predict(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * d // 8, f"peak {peak} bytes for an X of {X.nbytes}"
    X_bad = np.array(X[:50])
    X_bad[37, 5] = np.nan
    with pytest.raises(ValueError, match="row 37, column 5"):
        net.predict_proba(X_bad.view(np.memmap))
