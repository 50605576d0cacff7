#!/usr/bin/env bash
# Live interop check against Debian's keepalived (root; not run in CI).
#
# keepalived runs every instance of keepalived.conf in one network namespace;
# once it is master everywhere, hareconcile's encoder (examples/encode_advert)
# sends higher-priority adverts of each form (v3 IPv4, v3 IPv6 at 50 ms, v2
# with and without PASS auth, owner 255) from a peer namespace. Pass when
# keepalived accepts every one of them, i.e. each instance enters BACKUP.
# keepalived's own adverts are captured to $OUT/keepalived.pcap: the source
# of tests/vectors/keepalived.json (checked by tests/keepalived_vectors.rs).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
OUT=${OUT:-$(mktemp -d /tmp/hareconcile-vrrp-interop.XXXXXX)}
KA_NS=hcvrrp-ka
US_NS=hcvrrp-us
INSTANCES=(V4 V6 V2P V2N V3M)

[[ $(id -u) == 0 ]] || { echo "needs root (network namespaces, raw sockets)" >&2; exit 2; }
for tool in keepalived tcpdump python3 cargo; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y keepalived tcpdump)" >&2; exit 2; }
done

KA_PID= DUMP_PID=
cleanup() {
    [[ -n $KA_PID ]] && kill "$KA_PID" 2>/dev/null && wait "$KA_PID" 2>/dev/null
    [[ -n $DUMP_PID ]] && kill "$DUMP_PID" 2>/dev/null && wait "$DUMP_PID" 2>/dev/null
    ip netns del "$KA_NS" 2>/dev/null || true
    ip netns del "$US_NS" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$KA_NS"
ip netns add "$US_NS"
ip link add vka0 netns "$KA_NS" type veth peer name vus0 netns "$US_NS"
ip -n "$KA_NS" addr add 10.77.0.1/24 dev vka0
ip -n "$US_NS" addr add 10.77.0.2/24 dev vus0
for ns in "$KA_NS" "$US_NS"; do ip -n "$ns" link set lo up; done
ip -n "$KA_NS" link set vka0 up
ip -n "$US_NS" link set vus0 up
# Wait for IPv6 duplicate address detection on the link-local addresses.
for _ in $(seq 50); do
    ip -n "$US_NS" -6 addr show dev vus0 scope link | grep -q tentative || break
    sleep 0.1
done
US_LL=$(ip -n "$US_NS" -6 addr show dev vus0 scope link | awk '/inet6/ {sub("/.*", "", $2); print $2}')

cd "$REPO"
encode() { CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target} cargo run -q -p hareconcile-vrrp --example encode_advert -- "$@"; }
{
    echo "v4 51 $(encode 3 51 200 1000 10.77.0.2 10.77.0.100)"
    echo "v6 52 $(encode 3 52 200 50 "$US_LL" fd00:77::100)"
    echo "v4 61 $(encode 2 61 200 1000 10.77.0.2 10.77.0.110 secret12)"
    echo "v4 62 $(encode 2 62 200 2000 10.77.0.2 10.77.0.120,10.77.0.121)"
    echo "v4 63 $(encode 3 63 255 1000 10.77.0.2 10.77.0.130,10.77.0.131)"
} > "$OUT/ours.hex"

ip netns exec "$US_NS" tcpdump -i vus0 -U -w "$OUT/keepalived.pcap" 'ip proto 112 or ip6 proto 112' 2>/dev/null &
DUMP_PID=$!
ip netns exec "$KA_NS" keepalived -n -l -D -f "$HERE/keepalived.conf" \
    -p "$OUT/ka.pid" -r "$OUT/vrrp.pid" -c "$OUT/check.pid" > "$OUT/keepalived.log" 2>&1 &
KA_PID=$!

masters() { grep -c "Entering MASTER STATE" "$OUT/keepalived.log" || true; }
for _ in $(seq 100); do [[ $(masters) -ge ${#INSTANCES[@]} ]] && break; sleep 0.1; done
[[ $(masters) -ge ${#INSTANCES[@]} ]] || { echo "keepalived did not become master everywhere" >&2; cat "$OUT/keepalived.log" >&2; exit 1; }

mark=$(wc -l < "$OUT/keepalived.log")
ip netns exec "$US_NS" python3 "$HERE/send_adverts.py" "$OUT/ours.hex" vus0 10.77.0.2 "$US_LL" 3

failed=0
for instance in "${INSTANCES[@]}"; do
    if tail -n +"$mark" "$OUT/keepalived.log" | grep -q "($instance) Entering BACKUP STATE"; then
        echo "ok   $instance: keepalived accepted our advert and went backup"
    else
        echo "FAIL $instance: keepalived did not yield to our advert"
        failed=1
    fi
done
echo "logs and capture in $OUT"
exit $failed
