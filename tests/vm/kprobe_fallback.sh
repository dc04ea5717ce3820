#!/usr/bin/env bash
# Records bind_low_port with capcheck inside a VM whose kernel has kprobes
# but no capability:cap_capable tracepoint (Debian's Linux 6.1 cloud kernel),
# so that the kprobe fallback is exercised on a real kernel. Prints what the
# VM printed; tests/record_kprobe.rs reads it.
# Usage: tests/vm/kprobe_fallback.sh CAPCHECK BIND_LOW_PORT WORKDIR KERNEL_CACHE
# Needs qemu-system-x86_64, busybox (static) and apt-get (for the kernel).
set -euo pipefail
capcheck=$1 program=$2 work=$3 cache=$4

# The kernel: downloaded once into the cache directory.
mkdir -p "$cache"
kernel=$(find "$cache" -path '*/boot/vmlinuz-*' | head -n 1)
if [ -z "$kernel" ]; then
    pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')
    (cd "$cache" && apt-get download -q "$pkg" && dpkg-deb -x ./*.deb . && rm -f ./*.deb) >&2
    kernel=$(find "$cache" -path '*/boot/vmlinuz-*' | head -n 1)
fi

# The initramfs: busybox, capcheck and the program with their libraries.
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc,root}
cp "$(command -v busybox)" "$root/bin/busybox"
cp "$capcheck" "$root/bin/capcheck"
cp "$program" "$root/bin/bind_low_port"
for binary in "$capcheck" "$program"; do
    ldd "$binary" | grep -o '/[^ ]*' | while read -r lib; do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
# A service that keeps its state in /var/lib/statekeeper, as root.
mkdir -p "$root/etc/systemd/system" "$root/var/lib"
cat > "$root/etc/systemd/system/statekeeper.service" <<'UNIT'
[Service]
ExecStart=/bin/sh -c 'mkdir -p /var/lib/statekeeper && date > /var/lib/statekeeper/state && exec sleep 1000'
UNIT
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
# In the VM: a probe of someone else's, a recording, a recording killed
# with SIGKILL, and the next recording cleaning up after it.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
T=/sys/kernel/tracing
mount -t tracefs nodev $T
echo "== kernel $(uname -r)"
[ -d $T/events/capability ] && echo "== has the cap_capable tracepoint"
echo 'p:other/openat do_sys_openat2' >> $T/kprobe_events
echo "== kprobe_events before: [$(cat $T/kprobe_events)]"
/bin/capcheck record -o /tmp/profile.toml -- /bin/bind_low_port 2>&1
echo "== record exit $?"
cat /tmp/profile.toml
echo "== kprobe_events after: [$(cat $T/kprobe_events)]"
echo "== instances after: [$(ls $T/instances)]"
/bin/capcheck record -o /tmp/tail.toml -- /bin/tail -f /dev/null >/dev/null 2>&1 &
for i in $(seq 60); do pidof tail >/dev/null && break; sleep 0.5; done
echo "== recorded program before kill: [$(pidof tail)]"
kill -9 $!
sleep 1
echo "== kprobe_events after kill: [$(cat $T/kprobe_events)]"
echo "== recorded program after kill: [$(pidof tail)]"
/bin/capcheck record -o /tmp/true.toml -- /bin/true >/dev/null 2>&1
echo "== kprobe_events after next record: [$(cat $T/kprobe_events)]"
echo "== instances after next record: [$(ls $T/instances)]"
# What root was needed for: the state directory, and the plan from it.
/bin/capcheck record --unit statekeeper.service --timeout 3s -o /tmp/state.toml 2>&1
echo "== statekeeper record exit $?"
echo "== statekeeper profile"
cat /tmp/state.toml
echo "== state owner after: [$(echo $(stat -c %u:%g /var/lib/statekeeper /var/lib/statekeeper/state))]"
echo "== statekeeper fix"
/bin/capcheck fix --systemd 252 --profile /tmp/state.toml /etc/systemd/system/statekeeper.service 2>&1
echo "== statekeeper fix end"
echo "== done"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initramfs.gz"

accel=(-cpu max)
[ -w /dev/kvm ] && [ "${CAPCHECK_VM_KVM:-0}" = 1 ] && accel=(-enable-kvm)
timeout 600 qemu-system-x86_64 "${accel[@]}" -m 512 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initramfs.gz" \
    -append "console=ttyS0 quiet panic=-1 rdinit=/init" </dev/null | tr -d '\r'
