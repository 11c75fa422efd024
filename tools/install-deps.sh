#!/usr/bin/env bash
# Installs what edgemoe needs from Debian's packages (run as root on Debian 12).
#   tools/install-deps.sh          build + demo: compiler, libpng, libjpeg, cJSON, OpenBLAS
#   tools/install-deps.sh --test   also the test oracles (numpy, PyTorch, SystemC), clang's libFuzzer
#                                  and ffmpeg (the video round trip)
set -euo pipefail
pkgs=(gcc g++ make libc6-dev libpng-dev libjpeg-dev libcjson-dev libopenblas-dev)
if [ "${1:-}" = "--test" ]; then
    pkgs+=(python3 python3-numpy python3-torch libopenblas0-pthread libsystemc-dev file clang libclang-rt-14-dev ffmpeg)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y --no-install-recommends "${missing[@]}"
fi
