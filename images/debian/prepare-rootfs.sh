#!/usr/bin/env bash
# Turn a fresh `debootstrap --variant=minbase` root into the base of webstack's local
# images (webstack-local/debian:bookworm), the way Debian's own slim container images are
# made: apt sources with the point release, -updates and -security; security updates
# applied; no recommends; no docs, man pages or locales installed by later apt runs; apt
# caches, lists and logs emptied; nothing that belongs to the machine it was built on.
#
# usage: prepare-rootfs.sh ROOT SUITE MIRROR SECURITY_MIRROR    (as root; run by images/build.sh)
set -euo pipefail

if (($# != 4)); then
  echo "usage: $0 ROOT SUITE MIRROR SECURITY_MIRROR" >&2
  exit 2
fi
root=$1 suite=$2 mirror=$3 security=$4
[[ -x "$root/usr/bin/apt-get" ]] || { echo "prepare-rootfs: $root is not a Debian root" >&2; exit 1; }

rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

cat >"$root/etc/apt/apt.conf.d/90webstack-container" <<'EOF'
// A container image: no recommends or suggests, no .deb cache, no translations.
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT::AutoRemove::RecommendsImportant "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF

cat >"$root/etc/dpkg/dpkg.cfg.d/90webstack-slim" <<'EOF'
# Leave out what a container never reads (as Debian's slim images do); keep licences.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF

# Packages never start services while an image is built.
cat >"$root/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
exit 101
EOF
chmod 0755 "$root/usr/sbin/policy-rc.d"

# Security and point updates, with the host's resolver for the time of the run.
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c 'apt-get update -q && apt-get -y -q -o Dpkg::Options::=--force-confold upgrade && apt-get clean'

# What debootstrap installed before the excludes existed, and what belongs to this build.
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root/usr/share/man/"* "$root/usr/share/info/"* "$root/usr/share/locale/"* \
  "$root/usr/share/lintian" "$root/usr/share/groff"
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/var/cache/apt/archives/"*.deb \
  "$root/var/cache/debconf/"*-old "$root/var/lib/dpkg/"*-old "$root/tmp/"* "$root/debootstrap"
find "$root/var/log" -type f -delete
# Docker provides these at run time.
rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
: >"$root/etc/hosts"
echo "prepare-rootfs: $root is ready" >&2
