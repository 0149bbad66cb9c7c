#!/bin/sh
# Release guard of the A/B layout (issue 14), run as root by systemd, never from a release: the
# release on probation may be exactly what is broken, so this is plain sh over one-line files.
#
#   release-guard.sh boot     ROOT STATE [MAX_BOOTS]   ExecStartPre of cccd-kiosk.service
#   release-guard.sh rollback ROOT STATE [REASON]      cccd-kiosk-rollback.service (OnFailure=)
#
# ROOT (/opt/cccd-kiosk): releases/<version>, current -> releases/<version>, update/{previous,
# probation,boots,rollbacks.jsonl}. STATE (/var/lib/cccd-kiosk): the runtime's own writable
# directory, where it leaves `rollback-request` (one line: the reason) when the release on
# probation never connects or a part stays down, and `release-good` (the version) once it stayed
# healthy and connected for update.probationMinutes; the runtime cannot write ROOT itself.
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
  printf '{"from":"%s","to":"%s","reason":"%s","at":"%s"}\n' "$current" "$previous" "$reason" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$update/rollbacks.jsonl"
  echo "release-guard: rolled back $current -> $previous ($reason)" >&2
}

case $action in
  boot)
    max_boots=${4:-3}
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
