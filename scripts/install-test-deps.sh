#!/usr/bin/env bash
# Installs the Debian packages the lab tests (tests/lab) and the integration
# tests built on it need: namespaces and bridges (iproute2), faults (nftables),
# probes (ping, curl), container images (busybox-static), Compose 1.29 to check
# what the compose controller creates (docker-compose), a registry to pull
# images from (docker-registry, run by hand in a lab node) and the bcrypt
# lines of its password file (apache2-utils' htpasswd), a reference VRRP peer
# (keepalived), network mounts (ssh, sshfs, fuse3), snapshots (btrfs-progs),
# replication (rsync), peer TLS certificates (openssl), process
# inspection (procps, psmisc), a real DNS server for the Pi-hole chart's
# stand-in image (dnsmasq-base), the Debian package's build (binutils'
# objcopy and readelf) and install test (debootstrap: a fresh Debian root
# to install it into), and the alert rules' unit tests (promtool, which
# Debian ships only in its prometheus package: about 20 MB with the web
# UI's JavaScript; the install does not start its server), and the quorum
# engine (etcd-server: the quorum client's tests and the lab's witness run
# it; the install does not start the Debian unit), and an independent JSON
# Schema validator for `hareconcile schema all` (python3-jsonschema, with
# python3-yaml to read the manifests; tests/schema_all.rs), and a wall
# clock of its own for a lab node's agent (faketime's libfaketime: the
# fault campaign's clock jumps).
#
# Idempotent: when every package is already installed it does not touch apt at
# all, so it costs well under a second on a warm machine. Never starts
# services: policy-rc.d forbids it for the duration of the install.
set -euo pipefail

PACKAGES=(
    iproute2
    nftables
    iputils-ping
    busybox-static
    keepalived
    openssh-server
    openssh-client
    rsync
    sshfs
    fuse3
    btrfs-progs
    curl
    docker-compose
    docker-registry
    apache2-utils
    procps
    psmisc
    util-linux
    openssl
    git
    dnsmasq-base
    binutils
    debootstrap
    prometheus
    etcd-server
    faketime
    python3-jsonschema
    python3-yaml
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-test-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-test-deps: missing ${missing[*]}; run as root to install them" >&2
    exit 1
fi

echo "install-test-deps: installing ${missing[*]}"

# Exit code 101 tells invoke-rc.d not to start or restart any service that a
# package's maintainer scripts would otherwise launch (sshd, keepalived).
policy=/usr/sbin/policy-rc.d
own_policy=false
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=true
fi
cleanup() {
    if $own_policy; then rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
