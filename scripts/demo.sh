#!/bin/bash
# README command 1: install what is missing, build, and run the main job on
# the embedded default: every shipped example profile is checked and
# rendered, then defined into libvirt's built-in test:///default driver and
# read back, so you see what winvm would hand to libvirt.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

winvmd=build/daemon/winvmd
out=build/demo
mkdir -p "$out"
export WINVM_TEMPLATE_DIR="$PWD/xml-templates"
# A Ryzen 7 1800X host description ships with the tests: 8 cores, two L3
# groups, a GPU in its own IOMMU group, 1G pages. Plans are made against it
# so the demo shows the same thing on any machine; pass --host to use this one.
host_args=(--sysfs-root tests/data/hosts/ryzen/sys --proc-root tests/data/hosts/ryzen/proc)
[ "${1:-}" = "--host" ] && host_args=()

status=0
for profile in examples/*.conf; do
  name=$(basename "$profile" .conf)
  echo "== $profile"
  "$winvmd" --check "$profile" "${host_args[@]}" --libvirt-uri test:///default || true
  if ! "$winvmd" --render "$profile" "${host_args[@]}" >"$out/$name.xml"; then
    status=1
    continue
  fi
  xmllint --noout --relaxng /usr/share/libvirt/schemas/domain.rng "$out/$name.xml" 2>&1 | sed 's/^/   /'
  vm=$(xmllint --xpath 'string(/domain/name)' "$out/$name.xml")
  echo "   libvirt test:///default accepts it and reads back:"
  virsh -q -c test:///default "define $out/$name.xml; dominfo $vm; dumpxml --inactive $vm" 2>&1 |
    grep -E "^Name|^CPU\(s\)|^Max memory|pin |error" | sed 's/^ */   /'
  echo "   domain XML: $out/$name.xml"
  echo
done
exit $status
