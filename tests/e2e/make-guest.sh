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
#   OUTDIR/initrd-acpi2.img   ignores the first ACPI press, powers off on
#                           the second
#   OUTDIR/initrd-agent.img   no button.ko (ignores ACPI); runs Debian's
#                           qemu-ga on the org.qemu.guest_agent.0 port, so
#                           it powers off only through the guest agent
#
# Needs busybox-static, cpio, gzip, xz and qemu-guest-agent; the images are
# reproducible.
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

# Copies @1 and the libraries ldd names for it into the root @2, at their
# paths (the loader at /lib64).
copy_with_libs() {
    mkdir -p "$2$(dirname "$1")"
    cp -L "$1" "$2$1"
    for lib in $(ldd "$1" | sed -n 's|.*=> \(/[^ ]*\) .*|\1|p; s|^[[:space:]]*\(/[^ ]*\) .*|\1|p'); do
        mkdir -p "$2$(dirname "$lib")"
        cp -L "$lib" "$2$lib"
    done
}

# build_initrd IMAGE MODE MODULE...: MODE is acpi (power off on the first
# ACPI press), acpi2 (on the second), agent (qemu-ga) or none
build_initrd() {
    image=$1
    mode=$2
    shift 2
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
    if [ "$mode" = acpi ]; then
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
    if [ "$mode" = acpi2 ]; then
        cat >>"$root/init" <<'EOF'
# count presses: a press is an EV_KEY (type 1) event with value 1 (struct
# input_event: 16 bytes of time, u16 type, u16 code, s32 value); the first
# is ignored, the second powers the guest off
watched=
while [ -z "$watched" ]; do
    for n in /sys/class/input/input*/name; do
        grep -qx "Power Button" "$n" || continue
        for e in "${n%/name}"/event*; do
            dev=/dev/input/${e##*/}
            [ -c "$dev" ] || continue
            (
                exec 3<"$dev"
                presses=0
                while :; do
                    set -- $(dd bs=24 count=1 <&3 2>/dev/null | od -An -tu2 -j16)
                    [ "$1" = 1 ] && [ "$3" = 1 ] || continue
                    presses=$((presses + 1))
                    echo "WINVM-ACPI-PRESS $presses"
                    [ $presses -ge 2 ] && poweroff -f
                done
            ) &
            watched="$watched $dev"
        done
    done
    [ -n "$watched" ] || sleep 0.1
done
EOF
    fi
    if [ "$mode" = agent ]; then
        copy_with_libs "$qemu_ga" "$root"
        mkdir -p "$root/sbin" "$root/run"
        # qemu-ga's guest-shutdown runs /sbin/shutdown -P +0 ...
        printf '#!/bin/busybox sh\necho WINVM-AGENT-SHUTDOWN "$@" >/dev/console\nexec /bin/busybox poweroff -f\n' \
            >"$root/sbin/shutdown"
        chmod 755 "$root/sbin/shutdown"
        cat >>"$root/init" <<EOF
# the virtio-serial port named org.qemu.guest_agent.0 (no udev: no
# /dev/virtio-ports links, so look its vportNpM up in sysfs)
port=
while [ -z "\$port" ]; do
    for n in /sys/class/virtio-ports/*/name; do
        [ -e "\$n" ] && grep -qx org.qemu.guest_agent.0 "\$n" && port=\$(basename \$(dirname "\$n"))
    done
    [ -n "\$port" ] || sleep 0.1
done
while [ ! -c /dev/\$port ]; do sleep 0.1; done
$qemu_ga -m virtio-serial -p /dev/\$port -f /run/qemu-ga.pid -t /run &
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
qemu_ga=/usr/sbin/qemu-ga
[ -x "$qemu_ga" ] || { echo "make-guest.sh: needs qemu-guest-agent" >&2; exit 1; }
build_initrd "$out/initrd-acpi.img" acpi drivers/input/evdev drivers/acpi/button
build_initrd "$out/initrd-noacpi.img" none drivers/input/evdev
build_initrd "$out/initrd-acpi2.img" acpi2 drivers/input/evdev drivers/acpi/button
build_initrd "$out/initrd-agent.img" agent drivers/virtio/virtio_pci drivers/char/virtio_console
chmod 644 "$out/vmlinuz" "$out"/initrd-*.img
