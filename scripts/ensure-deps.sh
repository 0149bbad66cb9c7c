#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests need, when they are missing.
# As root with apt-get it installs them; otherwise it stops and prints the exact command.
# Usage: scripts/ensure-deps.sh [demo|test]   (default: test)
set -euo pipefail
purpose=${1:-test}

# binary -> Debian package
declare -A needs=([socat]=socat [setpriv]=util-linux)
# the demo registry's test CA signs the certificates of kiosks provisioned against it (kiosk provision)
needs[openssl]=openssl
# audio guidance (issue 15): espeak-ng speaks each screen offline, in the demo and in the tests
needs[espeak-ng]=espeak-ng
# the chip station: the demo rig and the tests run pcscd with vsmartcard's vpcd driver, the chip
# emulator as the virtual card (vpcd-config ships with vsmartcard-vpcd)
needs[pcscd]=pcscd
needs[vpcd-config]=vsmartcard-vpcd
needs[systemd-socket-activate]=systemd   # starts that pcscd on a socket of its own
if [ "$purpose" = test ]; then
  needs[mosquitto]=mosquitto
  needs[openssl]=openssl   # TLS link test: makes a CA and client certificates
  needs[systemd-analyze]=systemd   # deploy test: systemd-analyze verify on the unit
  # the update tests' systemd harness (test/integration/update/unit-runner.ts) receives the
  # runtime's READY=1 on a unix datagram socket through python3 (node has no datagram unix sockets)
  needs[python3]=python3-minimal
  # a bundle for the other CPU (test/integration/update/bundle-cross.test.ts; linux-arm64 from an
  # x64 machine): the cross compiler for its native modules, mmdebstrap for a Debian root of that
  # CPU to link against (scripts/target-root.sh), and qemu-user to run it with that root's Node
  needs[mmdebstrap]=mmdebstrap
  if [ "$(uname -m)" = aarch64 ]; then
    needs[x86_64-linux-gnu-g++]=crossbuild-essential-amd64
    needs[qemu-x86_64]=qemu-user
  else
    needs[aarch64-linux-gnu-g++]=crossbuild-essential-arm64
    needs[qemu-aarch64]=qemu-user
  fi
fi
# The dispenser firmware (firmware/): avr-gcc + avr-libc build it, the host C compiler builds its
# unit tests and the simavr host program (libsimavr-dev) that runs it in the integration tests.
if [ "$purpose" = test ]; then
  needs[make]=make
  needs[cc]=gcc
  needs[avr-gcc]=gcc-avr
  needs[avr-size]=binutils-avr
fi
# the touchscreen app's end-to-end tests (test/e2e) drive Debian's Chromium with playwright-core
if [ "$purpose" = test ]; then
  needs[chromium]=chromium
fi
# file -> Debian package, for libraries and headers that ship no binary
declare -A need_files=()
if [ "$purpose" = test ]; then
  need_files[/usr/lib/avr/include/avr/io.h]=avr-libc
  need_files[/usr/include/simavr/sim_avr.h]=libsimavr-dev
fi
# the pcsclite npm package builds against pcsc-lite's headers
need_files[/usr/include/PCSC/winscard.h]=libpcsclite-dev

missing=()
for binary in "${!needs[@]}"; do
  command -v "$binary" >/dev/null 2>&1 || [ -x "/usr/sbin/$binary" ] || missing+=("${needs[$binary]}")
done
for file in "${!need_files[@]}"; do
  [ -e "$file" ] || missing+=("${need_files[$file]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
command_line="apt-get update && apt-get install -y --no-install-recommends ${packages[*]}"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-deps: installing ${packages[*]} (needed for the $purpose)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  # pcsclite is an optional npm dependency: if npm ci ran before the headers were here, build it now.
  if [ ! -f node_modules/pcsclite/build/Release/pcsclite.node ]; then
    if [ -d node_modules/pcsclite ]; then npm rebuild pcsclite >/dev/null; else npm install --no-save --no-audit --no-fund pcsclite >/dev/null; fi
  fi
  exit 0
fi
echo "ensure-deps: the $purpose needs Debian packages that are missing: ${packages[*]}" >&2
echo "ensure-deps: run as root:  $command_line" >&2
exit 1
