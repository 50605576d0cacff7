#!/usr/bin/env bash
# Checks that a hareconcile binary starts on the oldest glibc the project
# supports, by reading what its dynamic linking needs (readelf -V -d), and
# prints the newest glibc version it needs (for the package's Depends).
#
#   packaging/check-glibc.sh BINARY [BASELINE]
#
# BASELINE defaults to 2.35: Ubuntu 22.04, the oldest distribution
# homelabs still commonly run (Debian 12 and Proxmox 8 have 2.36, Ubuntu
# 24.04 2.39, Debian 13 2.41). A binary linked on a newer glibc stays
# loadable on an older one as long as every symbol version it references
# existed there; the loader refuses it at start-up otherwise ("version
# `GLIBC_2.36' not found"). Two things have raised it by accident before:
# a newer symbol (the build machine's headers pick the newest version of
# each function) and link flags whose output only new loaders read
# (`-z pack-relative-relocs` adds GLIBC_ABI_DT_RELR, glibc 2.36+).
#
# It also fails on shared libraries beyond libc, the loader and libgcc_s:
# the Debian package depends on libc6 and libgcc-s1 only.
set -euo pipefail

binary=${1:?usage: $0 BINARY [BASELINE]}
baseline=${2:-2.35}

command -v readelf >/dev/null || {
    echo "check-glibc: readelf not found: install binutils" >&2
    exit 2
}

fail=0
newest=2.2.5
# Version needs: "File: libc.so.6" starts a library's list, then one
# "Name: VERSION" per version referenced from it.
while read -r library version; do
    case "$library" in
    libc.so.6 | ld-linux*.so.2) ;;
    *) continue ;;
    esac
    case "$version" in
    GLIBC_2.*)
        number=${version#GLIBC_}
        if [[ $(printf '%s\n%s\n' "$number" "$baseline" | sort -V | tail -1) != "$baseline" ]]; then
            echo "check-glibc: $binary needs $version from $library, newer than the baseline glibc $baseline" >&2
            fail=1
        fi
        newest=$(printf '%s\n%s\n' "$number" "$newest" | sort -V | tail -1)
        ;;
    *)
        # GLIBC_ABI_DT_RELR (packed relocations), GLIBC_PRIVATE...
        echo "check-glibc: $binary needs $version from $library, which glibc $baseline does not provide" >&2
        fail=1
        ;;
    esac
done < <(readelf -V --wide "$binary" | awk '
    /File:/ { for (i = 1; i < NF; i++) if ($i == "File:") library = $(i + 1) }
    /Name:/ && library != "" { for (i = 1; i < NF; i++) if ($i == "Name:") print library, $(i + 1) }
    /^Version (symbols|definition)/ { library = "" }')

while read -r needed; do
    case "$needed" in
    libc.so.6 | libgcc_s.so.1 | ld-linux*.so.2) ;;
    *)
        echo "check-glibc: $binary links $needed; the package depends on libc6 and libgcc-s1 only" >&2
        fail=1
        ;;
    esac
done < <(readelf -d --wide "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')

if [[ $fail -ne 0 ]]; then
    exit 1
fi
echo "$newest"
