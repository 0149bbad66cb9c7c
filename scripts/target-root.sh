#!/usr/bin/env bash
# Makes a Debian tree of a kiosk target's CPU (a "target root") with mmdebstrap:
# - `npm run bundle -- --target-root DIR` cross-compiles native modules against its libraries
#   (libpcsclite for the pcsclite module);
# - its Node (Debian 13's nodejs, Node 20 like the fleet's, same ABI) runs a bundle under qemu-user
#   in test/integration/update/bundle-cross.test.ts.
# Usage: scripts/target-root.sh linux-arm64|linux-x64 DIR   (as root; downloads about 40 MB once)
# An existing DIR with its marker file is left as it is.
set -euo pipefail
target=${1:?usage: scripts/target-root.sh linux-arm64|linux-x64 DIR}
dir=${2:?usage: scripts/target-root.sh linux-arm64|linux-x64 DIR}
case "$target" in
  linux-arm64) arch=arm64 ;;
  linux-x64) arch=amd64 ;;
  *) echo "target-root: unknown target $target (linux-arm64 or linux-x64)" >&2; exit 2 ;;
esac
# trixie is named rather than "stable": its nodejs is Node 20 (ABI 115), the fleet's major
suite=trixie
packages=nodejs,libpcsclite-dev,libc6
marker="$dir/.cccd-target-root"
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$suite $arch $packages" ]; then exit 0; fi
command -v mmdebstrap >/dev/null || { echo "target-root: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
# extract: unpack the packages and their dependencies, run no maintainer script (no emulation needed)
mmdebstrap --quiet --arch="$arch" --variant=extract --include="$packages" "$suite" "$dir" \
  http://deb.debian.org/debian
# merged /usr: the packages ship their files under usr/, the loader is looked up as /lib/...
for link in lib bin sbin; do [ -e "$dir/$link" ] || ln -s "usr/$link" "$dir/$link"; done
echo "$suite $arch $packages" > "$marker"
