#!/bin/bash
# README command 1: install what is missing, build, and run the main job on
# the embedded default: winvmd on a private D-Bus bus against libvirt's
# built-in test:///default driver, with the shipped example profiles, driven
# by winvmctl. Plans are made for a Ryzen 7 1800X host description that ships
# with the tests (8 cores, two L3 groups, a GPU in its own IOMMU group, 1G
# pages), so the pinning shown is the same on any machine.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

demo=$PWD/build/demo
rm -rf "$demo"
mkdir -p "$demo/vms"
cp -a tests/data/hosts/ryzen "$demo/host" # winvmd grows hugepage pools in it
cp examples/*.conf "$demo/vms/"
cat >"$demo/bus.conf" <<CONF
<busconfig><type>system</type><listen>unix:dir=$demo</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>
<allow receive_sender="*"/></policy></busconfig>
CONF

dbus-daemon --config-file="$demo/bus.conf" --fork --print-address=3 --print-pid=4 \
  3>"$demo/bus.address" 4>"$demo/bus.pid"
export DBUS_SYSTEM_BUS_ADDRESS=$(cat "$demo/bus.address")
export WINVM_TEMPLATE_DIR=$PWD/xml-templates
build/daemon/winvmd --libvirt-uri test:///default --config-dir "$demo/vms" \
  --runtime-dir "$demo/run" --state-dir "$demo/state" \
  --sysfs-root "$demo/host/sys" --proc-root "$demo/host/proc" 2>"$demo/winvmd.log" &
daemon=$!
trap 'kill $daemon $(cat "$demo/bus.pid") 2>/dev/null || true' EXIT

winvmctl() {
  echo "\$ winvmctl $*"
  build/client/winvmctl "$@" || echo "(exit status $?)"
  echo
}
for _ in $(seq 50); do build/client/winvmctl version >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.5 # boot autostart: gaming, then work after its 10 s delay

winvmctl version
winvmctl list
winvmctl check gaming
winvmctl status gaming
winvmctl pin gaming vcpu 0 2,10
winvmctl stop gaming --timeout 30
winvmctl start win11-install --wait
winvmctl list
winvmctl shutdown-all --timeout 60
winvmctl list --json

echo "winvmd's log: $demo/winvmd.log; domain XML: build/client/winvmctl render NAME"
