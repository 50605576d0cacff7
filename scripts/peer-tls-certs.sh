#!/usr/bin/env bash
# Makes what `spec.peer.tls` needs for a cluster: a CA, and for each node a
# key and a certificate the CA signed, naming the node's address (peers
# connect by address, so it must be an IP subjectAltName).
#
#   scripts/peer-tls-certs.sh /etc/hareconcile/tls n1=10.0.0.1 n2=10.0.0.2
#
# writes ca.crt and ca.key (keep ca.key off the nodes), n1.crt, n1.key,
# n2.crt, n2.key. Copy ca.crt and each node's pair to that node and point
# certFile, keyFile and caFile at them. An existing CA in the directory is
# reused, so a node can be added later. Certificates last DAYS (default 825).
set -euo pipefail

if [[ $# -lt 2 || "$1" == -h || "$1" == --help ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
dir=$1
shift
days=${DAYS:-825}
mkdir -p "$dir"
cd "$dir"
umask 077

if [[ ! -e ca.key ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout ca.key -out ca.crt -days "$days" -subj "/CN=hareconcile peer CA" 2>/dev/null
fi

for node in "$@"; do
    name=${node%%=*}
    address=${node#*=}
    if [[ "$name" == "$node" || -z "$name" || -z "$address" ]]; then
        echo "peer-tls-certs: '$node' is not NAME=ADDRESS" >&2
        exit 2
    fi
    printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' \
        "$address" >"$name.ext"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$name.key" -out "$name.csr" -subj "/CN=$name" 2>/dev/null
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
        -out "$name.crt" -days "$days" -extfile "$name.ext" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
    echo "peer-tls-certs: $dir/$name.crt for $address"
done
