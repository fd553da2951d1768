#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make-guest.sh OUTDIR: builds the tiny e2e test guest from the Debian kernel
# in /boot and busybox-static.
#
#   OUTDIR/vmlinuz          the kernel
#   OUTDIR/initrd-acpi.img  /init loads evdev.ko and button.ko, prints
#                           WINVM-GUEST-READY on the console and powers off
#                           when the ACPI power button fires
#   OUTDIR/initrd-noacpi.img  the same without button.ko: ignores ACPI
#
# Needs busybox-static, cpio, gzip and xz; the images are reproducible.
set -eu

out=${1:?usage: make-guest.sh OUTDIR}
busybox=/bin/busybox

kernel=$(ls /boot/vmlinuz-* | sort -V | tail -n 1)
kver=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$kver

[ -x "$busybox" ] && "$busybox" --list | grep -qx insmod ||
    { echo "make-guest.sh: needs busybox-static" >&2; exit 1; }

# Prints the files of module $1 (relative to $moddir) and its dependencies,
# dependencies first, as modprobe would load them.
module_chain() {
    deps=$(sed -n "s|^kernel/$1\.ko[.a-z]*:||p" "$moddir/modules.dep")
    [ -n "$(ls "$moddir/kernel/$1".ko* 2>/dev/null)" ] ||
        { echo "make-guest.sh: no module $1 for $kver" >&2; exit 1; }
    for d in $deps; do echo "$d"; done | tac
    ls "$moddir/kernel/$1".ko* | sed "s|^$moddir/||"
}

# build_initrd IMAGE MODULE...
build_initrd() {
    image=$1
    shift
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/lib/modules"
    cp "$busybox" "$root/bin/busybox"

    loads=
    for m in "$@"; do
        chain=$(module_chain "$m")
        for f in $chain; do
            name=$(basename "$f")
            name=${name%%.ko*}.ko
            case $loads in *" $name"*) continue ;; esac
            case $f in
            *.ko.xz) xz -dc "$moddir/$f" >"$root/lib/modules/$name" ;;
            *.ko.zst) zstd -qdc "$moddir/$f" >"$root/lib/modules/$name" ;;
            *.ko.gz) gzip -dc "$moddir/$f" >"$root/lib/modules/$name" ;;
            *) cp "$moddir/$f" "$root/lib/modules/$name" ;;
            esac
            loads="$loads $name"
        done
    done

    cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
for m in$loads; do insmod /lib/modules/\$m; done
EOF
    if [ -e "$root/lib/modules/button.ko" ]; then
        cat >>"$root/init" <<'EOF'
# the ACPI power button is an input device named "Power Button"; any event
# from it (one struct input_event is 24 bytes) powers the guest off
watched=
while [ -z "$watched" ]; do
    for n in /sys/class/input/input*/name; do
        grep -qx "Power Button" "$n" || continue
        for e in "${n%/name}"/event*; do
            dev=/dev/input/${e##*/}
            [ -c "$dev" ] || continue
            (dd if="$dev" of=/dev/null bs=24 count=1 2>/dev/null; poweroff -f) &
            watched="$watched $dev"
        done
    done
    [ -n "$watched" ] || sleep 0.1
done
EOF
    fi
    cat >>"$root/init" <<'EOF'
echo WINVM-GUEST-READY
while :; do sleep 3600; done
EOF
    chmod 755 "$root/init"

    find "$root" -exec touch -h -d @0 {} +
    (cd "$root" && find . | LC_ALL=C sort |
        cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9n >"$image.tmp"
    mv "$image.tmp" "$image"
    rm -rf "$root"
    trap - EXIT
}

mkdir -p "$out"
cp "$kernel" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
build_initrd "$out/initrd-acpi.img" drivers/input/evdev drivers/acpi/button
build_initrd "$out/initrd-noacpi.img" drivers/input/evdev
chmod 644 "$out/vmlinuz" "$out"/initrd-*.img
