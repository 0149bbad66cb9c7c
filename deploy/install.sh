#!/usr/bin/env bash
# Installs the kiosk runtime as a hardened service on Raspberry Pi OS (Debian bookworm).
# Idempotent: run it again after an update; it changes only what differs.
#   sudo deploy/install.sh [--prefix /opt/cccd-kiosk] [--browser-user kiosk] [--tuf-root root.json]
# Then: sudo kiosk provision   (writes /etc/cccd-kiosk/kiosk.json), and
#       sudo systemctl enable --now cccd-kiosk.service
set -euo pipefail

prefix=/opt/cccd-kiosk
browser_user=
tuf_root=
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --browser-user) browser_user=$2; shift 2 ;;
    --tuf-root) tuf_root=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
source_dir=$(cd "$(dirname "$0")/.." && pwd)
service_user=cccd-kiosk

# 1. the runtime's Debian dependencies (node from the distribution or NodeSource, >= 20.19)
command -v node >/dev/null || { echo "install.sh: install Node.js 20 first" >&2; exit 1; }
missing=()
for pkg in openssl pcscd socat curl; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# 2. a system user with no login and only the device groups it needs
for group in dialout gpio; do getent group "$group" >/dev/null || groupadd --system "$group"; done
if ! id "$service_user" >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/cccd-kiosk --no-create-home --shell /usr/sbin/nologin \
    --user-group "$service_user"
fi
usermod --groups dialout,gpio "$service_user"   # exactly these supplementary groups

# 3. the code, as an A/B release (issue 14): $prefix/releases/<version>/app, $prefix/current ->
#    releases/<version>; systemd runs current/app. `kiosk update` adds the next release beside it
#    and switches current; deploy/ (with release-guard.sh) stays outside the releases.
[ -f "$source_dir/dist/src/cli/kiosk.js" ] || { echo "install.sh: run 'npm ci && npm run build' first" >&2; exit 1; }
version=$(node -p "require('$source_dir/package.json').version")
release="$prefix/releases/$version"
install -d -m 0755 "$prefix" "$prefix/releases" "$prefix/update" "$prefix/update/metadata"
if [ ! -d "$release" ]; then
  install -d -m 0755 "$release.staging/app"
  cp -a "$source_dir/dist" "$source_dir/package.json" "$source_dir/package-lock.json" "$release.staging/app/"
  [ -d "$source_dir/node_modules" ] && cp -a "$source_dir/node_modules" "$release.staging/app/"
  mv -T "$release.staging" "$release"
fi
rm -rf "$prefix/deploy.next" && cp -a "$source_dir/deploy" "$prefix/deploy.next"
rm -rf "$prefix/deploy" && mv -T "$prefix/deploy.next" "$prefix/deploy"
chmod 0755 "$prefix/deploy/release-guard.sh"
if [ ! -L "$prefix/current" ]; then
  ln -sfn "releases/$version" "$prefix/current.next" && mv -T "$prefix/current.next" "$prefix/current"
fi
# the TUF root the kiosk trusts for updates (kiosk-ops release init prints where it is)
if [ -n "$tuf_root" ]; then install -m 0644 "$tuf_root" "$prefix/update/metadata/root.json"; fi
chown -R root:root "$prefix"
ln -sf "$prefix/current/app/dist/src/cli/kiosk.js" /usr/local/bin/kiosk
chmod 0755 "$release/app/dist/src/cli/kiosk.js"

# 4. configuration (root-owned, readable by the service group) and data (service-owned)
install -d -m 0750 -o root -g "$service_user" /etc/cccd-kiosk /etc/cccd-kiosk/tls
install -d -m 0700 -o "$service_user" -g "$service_user" /var/lib/cccd-kiosk

# 5. udev rules: stable device names (/dev/kiosk-*)
install -m 0644 "$source_dir/deploy/udev/99-cccd-kiosk.rules" /etc/udev/rules.d/99-cccd-kiosk.rules
if command -v udevadm >/dev/null; then udevadm control --reload && udevadm trigger --subsystem-match=tty --subsystem-match=gpio || true; fi

# 6. the service, and the touchscreen browser as a user service of the desktop user
install -m 0644 "$source_dir/deploy/systemd/cccd-kiosk.service" /etc/systemd/system/cccd-kiosk.service
install -m 0644 "$source_dir/deploy/systemd/cccd-kiosk-rollback.service" /etc/systemd/system/cccd-kiosk-rollback.service
install -m 0644 "$source_dir/deploy/systemd/cccd-kiosk-browser.service" /etc/systemd/user/cccd-kiosk-browser.service
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemd-analyze verify /etc/systemd/system/cccd-kiosk.service /etc/systemd/system/cccd-kiosk-rollback.service
  if [ -n "$browser_user" ]; then
    runuser -u "$browser_user" -- systemctl --user daemon-reload 2>/dev/null || true
    mkdir -p "/home/$browser_user/.config/systemd/user/graphical-session.target.wants"
    ln -sf /etc/systemd/user/cccd-kiosk-browser.service \
      "/home/$browser_user/.config/systemd/user/graphical-session.target.wants/cccd-kiosk-browser.service"
    chown -R "$browser_user:" "/home/$browser_user/.config/systemd"
  fi
fi
echo "installed. next: sudo kiosk provision; then: sudo systemctl enable --now cccd-kiosk.service"
[ -f /etc/cccd-kiosk/kiosk.json ] || echo "note: /etc/cccd-kiosk/kiosk.json does not exist yet (kiosk provision writes it)"
