#!/usr/bin/env bash
# Install the Debian tools and files Sealyard's tests and benchmarks use, when missing.
# Idempotent and quiet when everything is present; needs root (or sudo) otherwise.
set -euo pipefail

# what to look for (a command, or an absolute path) -> the Debian package providing it
declare -A pkg_for=(
  [skopeo]=skopeo
  [docker-registry]=docker-registry
  [umoci]=umoci
  [runc]=runc
  [go]=golang-go
  [objcopy]=binutils
  [debootstrap]=debootstrap
  [rpmbuild]=rpm
  [db5.3_load]=db5.3-util
  [/usr/share/java/commons-io.jar]=libcommons-io-java
  [softhsm2-util]=softhsm2
  [pkcs11-tool]=opensc
  [/bin/busybox]=busybox-static
)
missing=()
for what in "${!pkg_for[@]}"; do
  if [[ $what == /* ]]; then [ -e "$what" ] && continue
  else command -v "$what" >/dev/null 2>&1 && continue; fi
  missing+=("${pkg_for[$what]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "missing ${missing[*]} and not root: install them with apt-get" >&2; exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# docker-registry's package starts a system service on :5000; the tests start their own.
if command -v systemctl >/dev/null 2>&1; then
  $sudo systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
