#!/usr/bin/env bash
# Install the Debian packages uqnn needs, only those missing.
#   libopenblas-dev  SGEMM for the training kernels (cgo)
#   npm              fetches the pinned onnxruntime library (scripts/fetch-ort.sh)
#   python3-onnx     onnx.checker validates the files we write (tests)
#   time             GNU time: peak memory of the CLI in the hostile-file tests
#   chromium         headless check that uqnn study's report.html renders (tests)
#   slurmctld slurmd slurm-client munge
#                    a one-node Slurm cluster for uqnn study --slurm's end-to-end test
# Pass extra package names as arguments (make bench adds python3-torch).
set -euo pipefail
want=(libopenblas-dev npm python3-onnx time chromium slurmctld slurmd slurm-client munge "$@")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
# npm may come from elsewhere (nodesource, nvm): accept any npm on PATH.
if command -v npm >/dev/null; then
  m=(); for p in "${missing[@]}"; do [ "$p" = npm ] || m+=("$p"); done; missing=("${m[@]}")
  [ ${#missing[@]} -eq 0 ] && exit 0
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "apt-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
# chromium and Slurm pull in large optional sets by recommendation: install without them.
lean=(); plain=()
for p in "${missing[@]}"; do
  case "$p" in chromium|slurmctld|slurmd|slurm-client|munge) lean+=("$p") ;; *) plain+=("$p") ;; esac
done
[ ${#plain[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${plain[@]}" >/dev/null
[ ${#lean[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
