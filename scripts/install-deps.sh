#!/bin/bash
# Installs the Debian 12 packages winvm needs, only those missing.
#   scripts/install-deps.sh          build + run (README command 1)
#   scripts/install-deps.sh --package  also what building the Debian package needs
#   scripts/install-deps.sh --tests  also what the full test suite needs (with --package)
set -euo pipefail

build=(
  meson ninja-build pkg-config gcc libc6-dev
  libglib2.0-dev libglib2.0-bin libxml2-dev libxml2-utils libvirt-dev libsystemd-dev libpolkit-gobject-1-dev
  libjson-glib-dev bash-completion libdbus-1-dev
  libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu
  systemd
  libgtk-4-dev libadwaita-1-dev gettext
)
package=(
  debhelper dpkg-dev fakeroot lintian
)
tests=(
  libvirt-daemon-system qemu-system-x86 qemu-utils ovmf swtpm swtpm-tools
  linux-image-amd64 busybox-static xz-utils cpio hyperfine libvirt-dbus qemu-guest-agent
  dbus polkitd adduser python3 python3-gi python3-dbus python3-dbusmock
  valgrind clang-format clang libclang-rt-14-dev llvm
  xvfb at-spi2-core python3-pyatspi x11-apps imagemagick appstream
)

want=("${build[@]}")
case "${1:-}" in
  --package) want+=("${package[@]}") ;;
  --tests) want+=("${package[@]}" "${tests[@]}") ;;
  "") ;;
  *)
    echo "usage: $0 [--package|--tests]" >&2
    exit 2
    ;;
esac

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "winvm: missing packages: ${missing[*]}" >&2
  echo "winvm: run this as root (or install them with apt-get) and try again" >&2
  exit 1
fi
echo "winvm: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
