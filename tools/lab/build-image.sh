#!/usr/bin/env bash
# Build the lab's Debian 12 systemd base image from Debian's archive (no registry needed).
# Reused when it already exists; pass --force to rebuild.
set -euo pipefail
IMAGE=${KEEL_IMAGE:-keel/debian12-systemd:bookworm}
MIRROR=${KEEL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${KEEL_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

if [[ "${1:-}" != "--force" ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "image $IMAGE present, reused"
  exit 0
fi

root=$(mktemp -d /var/tmp/keel-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "building $IMAGE with debootstrap (about a minute)"
debootstrap --variant=minbase \
  --include=python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,procps,sudo,ca-certificates,gnupg,locales \
  bookworm "$root" "$MIRROR" >"$root.log" 2>&1 || { tail -20 "$root.log"; echo "debootstrap failed: see $root.log" >&2; exit 1; }
rm -f "$root.log"
cat >"$root/etc/apt/sources.list" <<SRC
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY_MIRROR bookworm-security main
SRC
# A container has no console: do not wait on getty, and keep machine-id per container.
rm -f "$root/etc/machine-id" && touch "$root/etc/machine-id"
ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
ln -sf /dev/null "$root/etc/systemd/system/console-getty.service"
apt-get -o RootDir="$root" clean >/dev/null 2>&1 || true
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' - "$IMAGE" >/dev/null
echo "image $IMAGE built"
