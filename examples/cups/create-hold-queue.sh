#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Create (or convert) a CUPS hold queue for a release station, under the shipped
# releasestation policy. Run as root on the machine that runs cupsd.
#
# usage: create-hold-queue.sh QUEUE DEVICE-URI ACCOUNT [lpadmin options...]
#   QUEUE       the hold queue users print to, e.g. Secure
#   DEVICE-URI  where a released job goes, e.g. socket://printer.example.org
#   ACCOUNT     the Unix account the release station runs as: the only one (with CUPS
#               administrators) that may release, restart or move a held job
#   options     passed to lpadmin, e.g. -m everywhere, or -P printer.ppd
#
# 1. If cupsd.conf has no <Policy releasestation>, append the shipped policy
#    (examples/cups/cups-policy.conf -> releasestation/data/cups-policy.conf) with ACCOUNT
#    filled in, keep the old file as cupsd.conf.before-releasestation, check the result
#    with `cupsd -t` and restart cupsd.
# 2. lpadmin -p QUEUE -E -v DEVICE-URI -o printer-op-policy=releasestation
#            -o job-hold-until-default=indefinite [options]
# A follow-me printer needs the policy too, without holding:
#    lpadmin -p Lobby -o printer-op-policy=releasestation
# Environment: CUPSD_CONF (/etc/cups/cupsd.conf), CUPS_SERVER (lpadmin's server),
# RESTART_CUPS (command that restarts cupsd; default systemctl, else service).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
policy_file="$here/cups-policy.conf"
conf=${CUPSD_CONF:-/etc/cups/cupsd.conf}

die() { echo "create-hold-queue: $*" >&2; exit 1; }

[ $# -ge 3 ] || die "usage: $0 QUEUE DEVICE-URI ACCOUNT [lpadmin options...]"
queue=$1 uri=$2 account=$3
shift 3
[[ $queue =~ ^[A-Za-z0-9_.-]+$ ]] || die "not a CUPS queue name: $queue"
[[ $account =~ ^[A-Za-z0-9_.][A-Za-z0-9_.@-]*\$?$ ]] || die "not an account name: $account"
[ -r "$policy_file" ] || die "cannot read the policy $policy_file"

restart_cups() {
  if [ -n "${RESTART_CUPS:-}" ]; then
    sh -c "$RESTART_CUPS"
  elif command -v systemctl >/dev/null && systemctl is-active --quiet cups; then
    systemctl restart cups
  else
    service cups restart
  fi
}

install_policy() {
  [ -w "$conf" ] || die "$conf: no <Policy releasestation> and not writable (run as root)"
  cp -p "$conf" "$conf.before-releasestation"
  {
    echo
    sed "s/STATION_ACCOUNT/$account/g" "$policy_file"
  } >>"$conf"
  if ! cupsd -t -c "$conf" >/dev/null 2>&1; then
    cp -p "$conf.before-releasestation" "$conf"
    die "cupsd -t rejects $conf with the policy added; left it as it was"
  fi
  echo "added <Policy releasestation> for $account to $conf (old file: $conf.before-releasestation)"
  restart_cups
}

if ! grep -q '^[[:space:]]*<Policy releasestation>' "$conf" 2>/dev/null; then
  install_policy
elif ! grep -Eq "^[[:space:]]*Require user .*\\b$account\\b" "$conf"; then
  echo "warning: <Policy releasestation> in $conf does not name $account; check it" >&2
fi

lpadmin -p "$queue" -E -v "$uri" \
  -o printer-op-policy=releasestation \
  -o job-hold-until-default=indefinite \
  "$@"
echo "hold queue $queue: holds every job; only $account may release, restart or move them"
echo "verify with: releasestation check"
