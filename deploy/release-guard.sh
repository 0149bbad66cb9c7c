#!/bin/sh
# Release guard of the A/B layout (issue 14), run as root by systemd, never from a release: the
# release on probation may be exactly what is broken, so this is plain sh over one-line files.
#
#   release-guard.sh boot     ROOT STATE [MAX_BOOTS]   ExecStartPre of cccd-kiosk.service
#   release-guard.sh rollback ROOT STATE [REASON]      cccd-kiosk-rollback.service (OnFailure=)
#
# ROOT (/opt/cccd-kiosk): releases/<version>, current -> releases/<version>, update/{previous,
# probation,boots,rollbacks.jsonl}. STATE (/var/lib/cccd-kiosk): the runtime's own writable
# directory; the runtime cannot write ROOT itself. Files there (one line each unless said):
#   rollback-request   the reason, when the release on probation never connects or a part stays down
#   release-good       the version, once it stayed healthy and connected for update.probationMinutes
#   switch-request     the version of a release the runtime staged and verified (src/update/
#                      runtime-update.ts) in update-staging/releases/<version> (manifest.json, app/,
#                      SHA256SUMS of app/ made from the verified manifest)
#   rollbacks.jsonl    written here (beside update/rollbacks.jsonl, the kept history), JSON lines
#                      {"from","to","reason","at"}: the runtime reports them to operations, then
#                      removes the file
#
# boot, first: a switch request lands the staged release. It is copied into releases/.landing-<v>
# (ROOT: out of the runtime's reach from here on), the copy is checked with `sha256sum -c
# SHA256SUMS` (a torn staging, a full disk; the TUF signature was checked by the runtime's updater),
# renamed to releases/<v>, and `current` switched as src/update/releases.ts switchRelease does:
# update/previous = the running release, update/boots removed, update/probation = <v>. Releases
# other than current and previous are removed. A request that does not check out is dropped (and
# logged); the running release stays. What the check proves is integrity (the copy is what the
# runtime verified), not authenticity: the staging area belongs to the service user, so a
# compromised runtime could land code of its own choosing, which would still run only as that
# user in the unit's sandbox; the TUF signatures are checked by the runtime's updater.
#
# boot, then: update/pending (one line, a version) is a release a technician installed with
# `kiosk update` without --now, already verified and unpacked into releases/<version> by that
# command (as root); it is switched to in the same way. The running runtime restarts at idle when
# it sees the file (src/update/installed-release.ts), so the switch happens between sessions.
#
# boot: a start of the release on probation counts; more than MAX_BOOTS (3) starts without being
# marked good (a crash loop, or a boot that never reaches the runtime) rolls back. A pending
# rollback request from the runtime rolls back at once. Each rollback appends a line to
# update/rollbacks.jsonl, which the runtime reports to operations once its link is up.
set -eu

action=${1:?usage: release-guard.sh boot|rollback ROOT STATE}
root=${2:?install root}
state=${3:?state directory}
update=$root/update

version_of_current() { basename "$(readlink "$root/current")"; }

roll_back() {
  reason=$1
  previous=$(cat "$update/previous" 2>/dev/null || true)
  current=$(version_of_current)
  if [ -z "$previous" ] || [ "$previous" = "$current" ] || [ ! -d "$root/releases/$previous" ]; then
    echo "release-guard: no previous release to roll back to from $current ($reason)" >&2
    return 1
  fi
  # rename(2) over the link: atomic, a power cut leaves the old or the new link, never none
  ln -sfn "releases/$previous" "$root/current.next"
  mv -T "$root/current.next" "$root/current"
  rm -f "$update/probation" "$update/boots" "$state/rollback-request"
  record=$(printf '{"from":"%s","to":"%s","reason":"%s","at":"%s"}' "$current" "$previous" "$reason" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)")
  echo "$record" >>"$update/rollbacks.jsonl"
  # the runtime's copy to report (and remove): its own file, in its own directory
  echo "$record" >>"$state/rollbacks.jsonl"
  chown --reference="$state" "$state/rollbacks.jsonl" 2>/dev/null || true
  echo "release-guard: rolled back $current -> $previous ($reason)" >&2
}

is_version() { printf '%s' "$1" | grep -Eq '^[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}$'; }

# lands a staged release and switches to it; non-zero (the running release stays) when it does not check out
land_staged() {
  version=$(head -c 64 "$state/switch-request" | tr -d '\n')
  rm -f "$state/switch-request"
  is_version "$version" || { echo "release-guard: switch request is not a version" >&2; return 1; }
  staged=$state/update-staging/releases/$version
  landing=$root/releases/.landing-$version
  [ -f "$staged/manifest.json" ] && [ -s "$staged/SHA256SUMS" ] && [ -d "$staged/app" ] ||
    { echo "release-guard: $version is not staged" >&2; return 1; }
  rm -rf "$landing"
  # no symlinks followed out of the staging area, owned by root once in ROOT
  cp -R -P "$staged" "$landing" || { rm -rf "$landing"; return 1; }
  chown -R 0:0 "$landing" 2>/dev/null || true
  # the staging area is the runtime's to write: what lands must be plain files listed under app/
  # (bundles carry no links; a link or an odd path would make root read outside the release)
  if [ -n "$(find "$landing" -type l | head -n 1)" ] ||
    grep -Eqv '^[0-9a-f]{64}  app/[^\\]+$' "$landing/SHA256SUMS" || grep -q '/\.\./' "$landing/SHA256SUMS"; then
    echo "release-guard: $version holds links or paths outside app/; not switched" >&2
    rm -rf "$landing"
    return 1
  fi
  if ! (cd "$landing" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null); then
    echo "release-guard: $version does not match its checksums; not switched" >&2
    rm -rf "$landing"
    return 1
  fi
  rm -rf "$root/releases/$version"
  mv -T "$landing" "$root/releases/$version"
  rm -rf "$staged"
  switch_to "$version"
}

# switches `current` to releases/<version> as src/update/releases.ts switchRelease does: previous =
# the running release, boots reset, the new one on probation; two releases are kept
switch_to() {
  version=$1
  running=$(version_of_current 2>/dev/null || true)
  mkdir -p "$update"
  if [ -n "$running" ] && [ "$running" != "$version" ]; then
    echo "$running" >"$update/previous.next" && mv -T "$update/previous.next" "$update/previous"
  fi
  rm -f "$update/boots"
  echo "$version" >"$update/probation.next" && mv -T "$update/probation.next" "$update/probation"
  ln -sfn "releases/$version" "$root/current.next"
  mv -T "$root/current.next" "$root/current"
  previous=$(cat "$update/previous" 2>/dev/null || true)
  for dir in "$root"/releases/*; do
    [ -d "$dir" ] || continue
    name=$(basename "$dir")
    [ "$name" = "$version" ] || [ "$name" = "$previous" ] || rm -rf "$dir"
  done
  echo "release-guard: switched ${running:-(none)} -> $version (on probation)" >&2
}

# a release a technician installed with `kiosk update` (no --now): root verified it and unpacked it
# into releases/<version> itself, so it is switched to as it is; non-zero when it is not there
switch_installed() {
  version=$(head -c 64 "$update/pending" | tr -d '\n')
  rm -f "$update/pending"
  is_version "$version" || { echo "release-guard: update/pending is not a version" >&2; return 1; }
  [ "$version" != "$(version_of_current 2>/dev/null || true)" ] || return 0
  [ -f "$root/releases/$version/manifest.json" ] && [ -d "$root/releases/$version/app" ] ||
    { echo "release-guard: $version is not installed in releases/" >&2; return 1; }
  switch_to "$version"
}

case $action in
  boot)
    max_boots=${4:-3}
    # an operations order the runtime staged lands first; a technician's install left beside it
    # is dropped rather than switched to on top (its previous would be a release that never ran)
    if [ -f "$state/switch-request" ] && land_staged; then
      [ ! -f "$update/pending" ] || { rm -f "$update/pending"; echo "release-guard: update/pending dropped: an ordered release landed" >&2; }
    fi
    if [ -f "$update/pending" ]; then switch_installed || true; fi
    # a switch cut short between writing update/probation and renaming `current` (a power cut)
    # leaves probation naming a release that does not run: it judges nothing, so it goes
    if [ -f "$update/probation" ] && [ "$(cat "$update/probation")" != "$(version_of_current 2>/dev/null || true)" ]; then
      echo "release-guard: update/probation names $(head -c 64 "$update/probation"), not the running release; cleared" >&2
      rm -f "$update/probation" "$update/boots"
    fi
    [ -f "$update/probation" ] || exit 0
    if [ -s "$state/release-good" ] && [ "$(cat "$state/release-good")" = "$(cat "$update/probation")" ]; then
      rm -f "$update/probation" "$update/boots"
      exit 0
    fi
    if [ -s "$state/rollback-request" ]; then
      roll_back "$(head -c 64 "$state/rollback-request" | tr -cd 'a-z0-9-')" || true
      exit 0
    fi
    boots=$(($(cat "$update/boots" 2>/dev/null || echo 0) + 1))
    echo "$boots" >"$update/boots"
    if [ "$boots" -gt "$max_boots" ]; then roll_back crash-loop || true; fi
    ;;
  rollback)
    # nothing to roll back: fail, so that the rollback unit's ExecStartPost= does not reset and
    # start the service again; it stays failed after its start limit instead of flapping for ever
    [ -f "$update/probation" ] || { echo "release-guard: nothing on probation" >&2; exit 1; }
    roll_back "${4:-start-failed}"
    ;;
  *)
    echo "release-guard: unknown action $action" >&2
    exit 2
    ;;
esac
