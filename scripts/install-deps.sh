#!/usr/bin/env bash
# Installs engram's build dependencies from Debian 12's own packages.
# Idempotent: packages already present are left alone, so a warm machine costs one dpkg query.
set -euo pipefail

packages=(
  g++ cmake make
  libboost1.81-dev libboost-json1.81-dev libboost-test1.81-dev
  libssl-dev openssl ca-certificates
  locales  # the locale sources a test builds a German LC_TIME from (HTTP dates must not follow it)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all build dependencies present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
