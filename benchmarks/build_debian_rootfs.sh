#!/usr/bin/env bash
# Build the two Debian 12 root filesystems benchmarks/sbom_vs_peers.py scans (as root).
#   base-rootfs: debootstrap minbase + python3 (+yaml, requests)          ~190 MB, ~8.5k files
#   rootfs:      base + Node.js/npm, Go, OpenJDK 17, Ruby, commons-io,
#                pip-installed Flask, an npm Express app, Go binaries, Maven jars
#                                                                         ~1.4 GB, ~53k files
# Nothing here is committed; the output lives under $1 (default /var/tmp/sy-peers).
set -euo pipefail
out=${1:-/var/tmp/sy-peers}
mirror=${MIRROR:-http://deb.debian.org/debian}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out" && cd "$out"
rm -rf base-rootfs rootfs
debootstrap --variant=minbase --include=python3,python3-yaml,python3-requests bookworm rootfs "$mirror"
cp -a rootfs base-rootfs
mount -t proc proc rootfs/proc
trap 'umount rootfs/proc 2>/dev/null || true' EXIT
cp /etc/resolv.conf rootfs/etc/resolv.conf
chroot rootfs apt-get update -qq
DEBIAN_FRONTEND=noninteractive chroot rootfs apt-get install -y -qq --no-install-recommends \
  nodejs npm golang-go default-jre-headless libcommons-io-java python3-pip ruby
umount rootfs/proc
for r in base-rootfs rootfs; do rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*_*; done
# Application content that no Debian package owns, installed from the host's registries.
"$repo/.venv/bin/pip" install -q --target rootfs/usr/local/lib/python3.11/dist-packages \
  flask==3.0.3 requests==2.31.0
mkdir -p rootfs/opt/webapp && (cd rootfs/opt/webapp &&
  echo '{"name":"webapp","version":"1.0.0","private":true}' > package.json &&
  npm install --silent --no-audit --no-fund express@4.19.2 lodash@4.17.21)
mkdir -p rootfs/usr/local/bin rootfs/opt/app/lib
cp "$(command -v skopeo)" "$(command -v docker-registry)" rootfs/usr/local/bin/
find /root/.m2/repository -name '*.jar' 2>/dev/null | head -40 | xargs -r cp -t rootfs/opt/app/lib/
du -sh base-rootfs rootfs
