#!/usr/bin/env bash
# Install everything the test suite needs: Debian packages for the real libvirt peers,
# Go toolchain and go-libvirt/go-qemu sources, avahi/dbus/iproute2 for the mDNS tests,
# then the project itself in editable mode with its dev extras.
#
# Python packages are installed with the versions pinned in .ci/constraints.txt (known to
# pass); with NETRPC_NEWEST=1 the newest releases are installed instead, unconstrained and
# upgraded (.ci/run does that in a separate virtual environment, see README).
#
# Idempotent: apt is skipped when every package is already installed, and pip is
# skipped when the same pyproject.toml and constraints were already installed into the same
# interpreter from this checkout (set NETRPC_FORCE_INSTALL=1 to reinstall anyway; never
# skipped with NETRPC_NEWEST=1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

APT_PACKAGES=(
    libvirt-clients                             # virsh, virt-admin
    libvirt-daemon                              # libvirtd with the built-in test driver
    python3-libvirt                             # libvirt-python for /usr/bin/python3
    virtinst                                    # virt-install (side by side with --disk size=N)
    golang-go                                   # go 1.19, GOPATH-mode builds
    golang-github-digitalocean-go-libvirt-dev   # go-libvirt sources under /usr/share/gocode
    golang-github-digitalocean-go-qemu-dev      # go-qemu sources
    golang-golang-x-sys-dev                     # go-qemu's qmp package imports x/sys/unix
    avahi-daemon                                # private avahi in a namespace (mDNS tests)
    avahi-utils                                 # avahi-browse, avahi-publish
    dbus                                        # dbus-daemon for the private avahi
    iproute2                                    # ip netns, veth
    util-linux                                  # unshare
    procps                                      # pgrep, ps
    sasl2-bin                                   # saslpasswd2 (libvirtd's SASL users)
    libsasl2-modules                            # Cyrus SCRAM for virsh and libvirtd
    libsasl2-modules-gssapi-mit                 # Cyrus GSSAPI for virsh and libvirtd
    krb5-kdc                                    # private KDC for the GSSAPI tests
    krb5-admin-server                           # kadmin.local
    krb5-user                                   # kinit, klist
    libkrb5-dev                                 # headers: the gssapi package builds from source
    gcc                                         # ... with a C compiler
    openssh-server                              # a private sshd for the ssh transport tests
    openssh-client                              # ssh
    netcat-openbsd                              # nc -U: libvirt's ssh netcat proxy mode
    ca-certificates
)

log() { printf '[install-deps] %s\n' "$*"; }

missing_packages() {
    local pkg status
    for pkg in "${APT_PACKAGES[@]}"; do
        status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
        if [[ "$status" != "install ok installed" ]]; then
            printf '%s\n' "$pkg"
        fi
    done
}

install_apt() {
    local missing
    mapfile -t missing < <(missing_packages)
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "apt: all ${#APT_PACKAGES[@]} packages already installed"
        return
    fi
    log "apt: installing ${missing[*]}"
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
    mapfile -t missing < <(missing_packages)
    if [[ ${#missing[@]} -ne 0 ]]; then
        log "apt: still missing after install: ${missing[*]}"
        exit 1
    fi
}

install_python() {
    "$PYTHON" - <<'EOF'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"netrpc needs Python >= 3.11, {sys.executable} is {sys.version.split()[0]}")
EOF
    local stamp_dir stamp key
    stamp_dir="${TMPDIR:-/tmp}/netrpc-install-stamps"
    key="$( { "$PYTHON" -c 'import sys; print(sys.executable, sys.version)'; echo "$ROOT";
              cat "$ROOT/pyproject.toml" "$ROOT/.ci/constraints.txt"; } | sha256sum | cut -c1-32)"
    stamp="$stamp_dir/$key"
    if [[ -n "${NETRPC_NEWEST:-}" ]]; then
        log "pip: installing the newest releases of -e '.[dev]' with $("$PYTHON" -c 'import sys; print(sys.executable)')"
        (cd "$ROOT" && PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
            "$PYTHON" -m pip install -q --upgrade --upgrade-strategy eager -e '.[dev]')
        "$PYTHON" -m pip list --format=freeze 2>/dev/null \
            | grep -iE '^(anyio|cryptography|zeroconf|ifaddr|sniffio|trio|pytest|hypothesis|trustme|mypy|ruff)==' \
            | sed 's/^/[install-deps]   /' || true
        return
    fi
    if [[ -z "${NETRPC_FORCE_INSTALL:-}" && "${CI:-}" != "true" && -f "$stamp" ]] \
        && (cd / && "$PYTHON" - "$ROOT" <<'EOF'
import importlib.util, pathlib, sys
root = pathlib.Path(sys.argv[1]).resolve()
spec = importlib.util.find_spec("netrpc")
locations = list(spec.submodule_search_locations or []) if spec is not None else []
ok = any(pathlib.Path(loc).resolve() == root / "netrpc" for loc in locations)
for mod in ("pytest", "xdist", "mypy", "ruff", "hypothesis", "trustme", "anyio", "trio",
            "zeroconf", "ifaddr", "sniffio", "cryptography", "scramp", "gssapi"):
    ok = ok and importlib.util.find_spec(mod) is not None
sys.exit(0 if ok else 1)
EOF
        ); then
        log "pip: netrpc[dev] already installed from $ROOT"
        return
    fi
    log "pip: installing -e '.[dev]' (.ci/constraints.txt) with $("$PYTHON" -c 'import sys; print(sys.executable)')"
    (cd "$ROOT" && PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$PYTHON" -m pip install -q -c .ci/constraints.txt -e '.[dev]')
    mkdir -p "$stamp_dir"
    touch "$stamp"
}

install_apt
install_python
log "done"
