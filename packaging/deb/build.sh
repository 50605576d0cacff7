#!/usr/bin/env bash
# Builds hareconcile's Debian package, and its debug symbols package when
# the binary's debug info was split off, with plain dpkg-deb (no network,
# no debhelper): every file and maintainer script is in packaging/.
#
#   packaging/deb/build.sh                  release build (packaging/release.sh)
#   packaging/deb/build.sh --binary FILE    package FILE instead, stripped of
#                                           its debug info (what tests do with
#                                           the binary they were built with)
#   --out DIR                               where the .deb files go
#                                           (default target/debian)
#
# Prints the path of each package built, the main one first.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)

binary=
out=$repo/target/debian
while [[ $# -gt 0 ]]; do
    case "$1" in
    --binary) binary=$(realpath "${2:?--binary needs a file}"); shift 2 ;;
    --out) out=$(realpath -m "${2:?--out needs a directory}"); shift 2 ;;
    *) echo "usage: $0 [--binary FILE] [--out DIR]" >&2; exit 2 ;;
    esac
done

debug=
if [[ -z "$binary" ]]; then
    "$repo/packaging/release.sh" "$repo/target/dist" >&2
    binary=$repo/target/dist/hareconcile
    debug=$repo/target/dist/hareconcile.debug
fi

version=$("$binary" --version | awk 'NR == 1 { print $2 }')
arch=$(dpkg --print-architecture)
glibc=$("$repo/packaging/check-glibc.sh" "$binary")
depends="libc6 (>= $glibc), passwd"
if readelf -d "$binary" | grep -q 'NEEDED.*libgcc_s'; then
    depends="$depends, libgcc-s1"
fi

mkdir -p "$out"
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/hareconcile

# The files. Paths follow the unit's defaults: settings in /etc/default,
# manifests in /etc/hareconcile/manifests, state under /var/lib (made by
# systemd's StateDirectory=), the socket under /run (RuntimeDirectory=).
install -d -m 0755 "$stage/usr/bin"
if [[ -n "$debug" ]]; then
    install -m 0755 "$binary" "$stage/usr/bin/hareconcile"
else
    objcopy --strip-debug "$binary" "$stage/usr/bin/hareconcile"
    chmod 0755 "$stage/usr/bin/hareconcile"
fi
install -D -m 0644 "$repo/packaging/systemd/hareconcile.service" \
    "$stage/usr/lib/systemd/system/hareconcile.service"
install -D -m 0644 "$repo/packaging/systemd/hareconcile.default" "$stage/etc/default/hareconcile"
install -d -m 0755 "$stage/etc/hareconcile/manifests"
install -d -m 0755 "$stage/usr/share/doc/hareconcile"
install -m 0644 "$repo/docs/install.md" "$repo/docs/upgrade.md" "$repo/packaging/deb/copyright" \
    "$stage/usr/share/doc/hareconcile/"
gzip -9n <"$repo/CHANGELOG.md" >"$stage/usr/share/doc/hareconcile/changelog.gz"

# The control area.
install -d -m 0755 "$stage/DEBIAN"
install -m 0755 "$repo/packaging/deb/postinst" "$repo/packaging/deb/prerm" \
    "$repo/packaging/deb/postrm" "$stage/DEBIAN/"
echo /etc/default/hareconcile >"$stage/DEBIAN/conffiles"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
cat >"$stage/DEBIAN/control" <<CONTROL
Package: hareconcile
Version: $version
Architecture: $arch
Maintainer: ${DEB_MAINTAINER:-hareconcile maintainers <maintainers@hareconcile.invalid>}
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends
Recommends: docker.io | docker-ce, rsync, openssh-client, nftables
Suggests: sshfs, nfs-common, btrfs-progs, zfsutils-linux
Section: admin
Priority: optional
Description: declarative high availability for small Linux clusters
 One agent per node replaces keepalived, its notify scripts,
 docker-compose and rsync cron jobs on two or three hosts: Cluster,
 VirtualIP, Service (a Compose stack) and Replication objects in YAML,
 reconciled by independent controllers, with drift reported per node.
CONTROL

# A package built for tests favours speed over size.
compress=(-Zxz)
[[ -n "$debug" ]] || compress=(-Zgzip -z1)
deb=$out/hareconcile_${version}_${arch}.deb
dpkg-deb --root-owner-group "${compress[@]}" --build "$stage" "$deb" >/dev/null
echo "$deb"

[[ -n "$debug" ]] || exit 0

# Debug symbols, where gdb and debuginfod clients look them up: by the
# binary's build id.
build_id=$(readelf -n "$binary" | awk '/Build ID:/ { print $3 }')
dbg=$work/hareconcile-dbgsym
install -D -m 0644 "$debug" "$dbg/usr/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug"
install -d -m 0755 "$dbg/DEBIAN"
cat >"$dbg/DEBIAN/control" <<CONTROL
Package: hareconcile-dbgsym
Version: $version
Architecture: $arch
Maintainer: ${DEB_MAINTAINER:-hareconcile maintainers <maintainers@hareconcile.invalid>}
Installed-Size: $(du -sk --exclude=DEBIAN "$dbg" | cut -f1)
Depends: hareconcile (= $version)
Section: debug
Priority: optional
Auto-Built-Package: debug-symbols
Build-Ids: $build_id
Description: debug symbols for hareconcile
CONTROL
dbgsym=$out/hareconcile-dbgsym_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$dbg" "$dbgsym" >/dev/null
echo "$dbgsym"
