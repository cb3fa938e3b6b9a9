#!/bin/sh
# Installs the Debian packages skiff and its tests need, if any is missing.
# Idempotent and quick when everything is there. Needs root (PID 1 need
# not be systemd: nothing here starts a service).
set -eu

packages="containerd runc containernetworking-plugins clang llvm libbpf-dev bpftool
iproute2 iptables nftables conntrack wrk busybox-static ca-certificates"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "missing Debian packages:$missing; run as root (or: sudo $0)" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
