# Debian unstable trees for the py3.14, py3.15 and arm64 stages (sourced, not run). Each tree is
# made once per CI run under $CI_WORK and shared by the stages that need it.
#
# Debian's own python3-* packages, not pip: unstable builds numpy, scipy, scikit-learn, Cython,
# pytest (and the rest of the test extra but dask-ml) for both of its Pythons, 3.14 and 3.15,
# and for amd64 and arm64 alike, from one archive the host's apt already trusts; pip inside
# such a tree failed PyPI's certificate checks on these machines, and PyPI has no 3.15 wheels
# of scipy or scikit-learn to fetch anyway.

DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What building and testing cmlp needs, and the arm64 cross compiler: debootstrap installs
# these, and the tree fails without them.
SID_PACKAGES=python3.14,python3.14-dev,python3.15,python3.15-dev,gcc,python3-pip,python3-setuptools,cython3,python3-numpy,python3-scipy,python3-pandas,python3-threadpoolctl,python3-joblib,python3-pytest,python3-pytest-run-parallel,python3-hypothesis,python3-sklearn,gcc-aarch64-linux-gnu
# The rest of the test extra, installed afterwards one by one: unstable is often half-way
# through a library transition that leaves one of them uninstallable for days (onnxruntime
# waited on a new libre2), and their tests skip, saying so, where the package is missing.
# dask-ml is not packaged; onnxruntime is built for the default Python (3.14) only.
SID_OPTIONAL_PACKAGES="python3-matplotlib python3-dask python3-onnx python3-onnxruntime"
# What running the tests on arm64 needs, and what cross-compiling against it needs (Python and
# numpy headers, libc's for the sysroot).
ARM64_PACKAGES="python3.14 libpython3.14-dev libc6-dev libgomp1 python3-numpy python3-scipy
    python3-pandas python3-threadpoolctl python3-joblib python3-pytest"

# sid_tree: $CI_WORK/sid, an amd64 Debian unstable tree (debootstrap, run natively).
sid_tree() {
    local root=$CI_WORK/sid
    [ -e "$root/.ready" ] && return
    apt_install debootstrap
    rm -rf --one-file-system "$root"
    debootstrap --variant=minbase --include="$SID_PACKAGES" sid "$root" "$DEBIAN_MIRROR" \
        > "$CI_WORK/debootstrap.log" 2>&1 || { tail -30 "$CI_WORK/debootstrap.log"; return 1; }
    mkdir -p "$root/ci"
    # The mirror's Release file can outlive its Valid-Until on a machine whose clock runs ahead
    # of the archive it is served (as arm64_tree's apt, below, allows too).
    in_tree "$root" "apt-get -o Acquire::Check-Valid-Until=false update -qq"
    local package
    for package in $SID_OPTIONAL_PACKAGES; do
        in_tree "$root" "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends $package > /ci/apt-$package.log 2>&1" \
            || echo "sid tree: $package is not installable today; its tests skip" \
                "($(grep -m1 -e 'Depends:' -e '^E:' "$root/ci/apt-$package.log"))"
    done
    touch "$root/.ready"
}

# arm64_tree: $CI_WORK/arm64, an arm64 Debian unstable tree made without emulation: the host's
# apt (a private configuration: arm64 only, an empty dpkg status) downloads the packages and
# their dependencies, dpkg-deb -x unpacks them. No maintainer script runs, so what they would
# do and the tests need is done here: the /lib and /bin links, the BLAS/LAPACK alternatives.
# The binaries run under qemu-user through binfmt_misc; qemu is copied into the tree, where
# the kernel looks for the interpreter (the binfmt entry lacks the F flag).
arm64_tree() {
    local root=$CI_WORK/arm64 apt_dir=$CI_WORK/arm64-apt
    [ -e "$root/.ready" ] && return
    apt_install qemu-user-static binfmt-support
    mountpoint -q /proc/sys/fs/binfmt_misc \
        || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    rm -rf --one-file-system "$root" "$apt_dir"
    mkdir -p "$root" "$apt_dir"/{lists/partial,archives/partial,sources.d,preferences.d}
    : > "$apt_dir/status"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DEBIAN_MIRROR sid main" \
        > "$apt_dir/sources.list"
    cat > "$apt_dir/apt.conf" <<CONF
Dir::State::Lists "$apt_dir/lists";
Dir::State::status "$apt_dir/status";
Dir::Cache "$apt_dir";
Dir::Cache::Archives "$apt_dir/archives";
Dir::Etc::SourceList "$apt_dir/sources.list";
Dir::Etc::SourceParts "$apt_dir/sources.d";
Dir::Etc::PreferencesParts "$apt_dir/preferences.d";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Install-Recommends "false";
Acquire::Check-Valid-Until "false";
Debug::NoLocking "true";
CONF
    APT_CONFIG=$apt_dir/apt.conf apt-get update -qq
    # shellcheck disable=SC2086
    APT_CONFIG=$apt_dir/apt.conf apt-get install -y -qq --download-only $ARM64_PACKAGES \
        > /dev/null
    local deb
    for deb in "$apt_dir"/archives/*.deb; do dpkg-deb -x "$deb" "$root"; done
    echo "arm64 tree: $(ls "$apt_dir"/archives/*.deb | wc -l) packages unpacked"
    for link in bin sbin lib; do [ -e "$root/$link" ] || ln -s "usr/$link" "$root/$link"; done
    local libs=$root/usr/lib/aarch64-linux-gnu
    ln -sf blas/libblas.so.3 "$libs/libblas.so.3"
    ln -sf lapack/liblapack.so.3 "$libs/liblapack.so.3"
    local interpreter
    interpreter=$(sed -n 's/^interpreter //p' /proc/sys/fs/binfmt_misc/qemu-aarch64)
    mkdir -p "$root$(dirname "$interpreter")" "$root/proc" "$root/tmp" "$root/ci" "$root/dev"
    chmod 1777 "$root/tmp"
    mknod -m 666 "$root/dev/null" c 1 3
    mknod -m 666 "$root/dev/zero" c 1 5
    mknod -m 666 "$root/dev/urandom" c 1 9
    cp /usr/bin/qemu-aarch64-static "$root$interpreter"
    touch "$root/.ready"
}

# in_tree ROOT COMMAND...: COMMAND run by bash -c, chrooted into ROOT, with /proc and the full
# MNIST (read-only, at /ci/mnist, when $CMLP_DATA names it) bind-mounted for the run only.
# Trees without a shell (the arm64 one) take a program and its arguments: in_tree_exec.
in_tree() {
    local root=$1
    shift
    in_tree_exec "$root" /bin/bash -c "$*"
}

in_tree_exec() {
    local root=$1 status=0 data=()
    shift
    mount --bind /proc "$root/proc"
    if [ -n "${CMLP_DATA:-}" ] && [ -d "$CMLP_DATA" ]; then
        mkdir -p "$root/ci/mnist"
        mount --bind "$CMLP_DATA" "$root/ci/mnist"
        mount -o remount,bind,ro "$root/ci/mnist"
        data=(CMLP_DATA=/ci/mnist)
    fi
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "${data[@]}" \
        ${TREE_ENV:-} chroot "$root" "$@" || status=$?
    [ ${#data[@]} -eq 0 ] || umount "$root/ci/mnist"
    umount "$root/proc"
    return $status
}

# sid_cmlp VERSION: cmlp built by pip from the sdist on Python VERSION of the sid tree (no
# build isolation: Debian's Cython, numpy and scipy), installed into /ci/site-VERSION there,
# with the sdist unpacked at /ci/sdist-VERSION for its tests. Done once per run.
sid_cmlp() {
    local version=$1 root=$CI_WORK/sid
    [ -e "$root/ci/site-$version/cmlp" ] && return
    sid_tree
    rm -rf "$root/ci/sdist-$version" "$root/ci/wheels-$version"
    mkdir -p "$root/ci/sdist-$version"
    cp "$CI_WORK"/dist/cmlp-*.tar.gz "$root/ci/"
    tar -xzf "$CI_WORK"/dist/cmlp-*.tar.gz -C "$root/ci/sdist-$version" --strip-components=1
    in_tree "$root" "python$version -m pip wheel -q --no-build-isolation --no-deps --no-index \
        -w /ci/wheels-$version /ci/cmlp-*.tar.gz \
        && python$version -m pip install -q --no-deps --no-index --break-system-packages \
        --root-user-action=ignore --target /ci/site-$version /ci/wheels-$version/cmlp-*.whl"
}
