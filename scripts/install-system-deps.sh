#!/usr/bin/env bash
# Install the Debian tools Sealyard's tests and benchmarks use, when missing.
# Idempotent and quiet when everything is present; needs root (or sudo) otherwise.
set -euo pipefail

declare -A pkg_for=(
  [skopeo]=skopeo
  [docker-registry]=docker-registry
  [umoci]=umoci
  [runc]=runc
)
missing=()
for cmd in "${!pkg_for[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_for[$cmd]}")
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
