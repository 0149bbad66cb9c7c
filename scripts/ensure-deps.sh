#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests need, when they are missing.
# As root with apt-get it installs them; otherwise it stops and prints the exact command.
# Usage: scripts/ensure-deps.sh [demo|test]   (default: test)
set -euo pipefail
purpose=${1:-test}

# binary -> Debian package
declare -A needs=([socat]=socat [setpriv]=util-linux)
if [ "$purpose" = test ]; then
  needs[mosquitto]=mosquitto
  needs[openssl]=openssl   # TLS link test: makes a CA and client certificates
fi

missing=()
for binary in "${!needs[@]}"; do
  command -v "$binary" >/dev/null 2>&1 || [ -x "/usr/sbin/$binary" ] || missing+=("${needs[$binary]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
command_line="apt-get update && apt-get install -y --no-install-recommends ${packages[*]}"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-deps: installing ${packages[*]} (needed for the $purpose)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  exit 0
fi
echo "ensure-deps: the $purpose needs Debian packages that are missing: ${packages[*]}" >&2
echo "ensure-deps: run as root:  $command_line" >&2
exit 1
