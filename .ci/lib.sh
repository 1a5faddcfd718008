# Helpers shared by .ci/run and its stages (sourced, not run).

# fresh_venv DIR [PYTHON]: a new venv at DIR with a current pip, activated.
fresh_venv() {
    "${2:-python3}" -m venv "$1"
    . "$1/bin/activate"
    python -m pip install --quiet --upgrade pip
}

# python_version X.Y: the path of a python X.Y, from PATH or pyenv's versions, else nothing.
python_version() {
    local found
    found=$(command -v "python$1" 2>/dev/null) && "$found" --version >/dev/null 2>&1 \
        && { echo "$found"; return; }
    for found in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python"$1"; do
        [ -x "$found" ] && { echo "$found"; return; }
    done
}

# apt_install PACKAGE...: install Debian packages that are missing (CI runs as root on a
# fresh Debian machine); waits for another apt run to finish rather than failing.
apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return
    echo "apt-get install ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        "${missing[@]}" >/dev/null
}

# unpack_sdist DIR: the sdist built by the wheel stage, unpacked into DIR; prints its root.
unpack_sdist() {
    mkdir -p "$1"
    tar -xzf "$CI_WORK"/dist/cmlp-*.tar.gz -C "$1"
    echo "$1"/cmlp-*
}

# run_tests SOURCE_ROOT [PYTEST ARGS...]: the sdist's tests against the installed cmlp, run
# from outside the source tree so that `import cmlp` cannot find the uncompiled sources.
run_tests() {
    local root=$1
    shift
    (cd "$CI_WORK" && python -m pytest -q -p no:cacheprovider --rootdir "$root" \
        "${@:-$root/tests}")
}
