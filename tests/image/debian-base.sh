#!/usr/bin/env bash
# Makes a local stand-in for the debian:bookworm-slim image, as a root filesystem tarball for
# `podman import`, where no registry is reachable (tests/image/test_image.py):
#   tests/image/debian-base.sh OUT.tar [MIRROR]
# debootstrap --variant=minbase bookworm, then what debuerreotype (the tool behind the official
# images) does for the slim variant: documentation, man pages and locales removed and kept out
# of later installs (dpkg path-exclude), apt told to keep no package cache and no indexes, the
# same APT sources, no caches or logs. It comes within a few MB of the real image (about
# 75 MB); the layers a Dockerfile adds are the same on either. Needs root and the mirror.
set -euo pipefail
out=${1:?usage: debian-base.sh OUT.tar [MIRROR]}
mirror=${2:-http://deb.debian.org/debian}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/debian-slim.XXXXXX")
root=$work/rootfs
cleanup() {
  # debootstrap mounts /proc and /sys in the target while it runs: never delete through them
  { grep -o " $root/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -20 "$work/debootstrap.log" >&2
  exit 1
fi

# debuerreotype-minimizing-config
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' \
  >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'force-unsafe-io' >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

# debuerreotype-slimify: the excludes for later installs, and the same files removed now
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$root/usr/share/doc" -mindepth 1 -depth -type d -empty -delete
rm -rf "$root"/usr/share/info/* "$root"/usr/share/linda/* "$root"/usr/share/lintian/overrides/* \
  "$root"/usr/share/locale/* "$root"/usr/share/man/*

# the official image's APT sources (deb822), no cached indexes, packages, logs or backups
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old "$root"/var/log/*.log "$root"/var/log/apt/* \
  "$root"/tmp/* "$root"/var/tmp/*
: >"$root/etc/machine-id"
rm -f "$root/etc/hostname" "$root/etc/resolv.conf"

tar --numeric-owner -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
