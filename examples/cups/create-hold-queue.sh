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
# 1. If cupsd.conf has no <Policy releasestation>, or one that differs from the shipped
#    policy (examples/cups/cups-policy.conf -> releasestation/data/cups-policy.conf) with
#    ACCOUNT filled in, append (or put in its place) the shipped one, keep the old file as
#    cupsd.conf.before-releasestation, check the result with `cupsd -t` and restart cupsd.
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

# The <Policy releasestation> ... </Policy> block of a file, comments and blanks dropped.
policy_block() {
  awk '/^[[:space:]]*<Policy releasestation>/ {p=1} p && !/^[[:space:]]*(#|$)/ {print} /^[[:space:]]*<\/Policy>/ {p=0}' "$1"
}

# Without the <Policy releasestation> block (and the shipped comment lines right before it).
without_policy() {
  awk '
    /^[[:space:]]*#/ && !p { held = held $0 "\n"; next }
    /^[[:space:]]*<Policy releasestation>/ { p=1; held=""; next }
    p && /^[[:space:]]*<\/Policy>/ { p=0; next }
    p { next }
    { printf "%s", held; held=""; print }
    END { printf "%s", held }' "$1"
}

install_policy() {  # $1: "added" or "replaced"
  [ -w "$conf" ] || die "$conf: cannot write it to install the releasestation policy (run as root)"
  cp -p "$conf" "$conf.before-releasestation"
  {
    if [ "$1" = replaced ]; then without_policy "$conf.before-releasestation"; else cat "$conf"; fi
    echo
    sed "s/STATION_ACCOUNT/$account/g" "$policy_file"
  } >"$conf.releasestation-new"
  cat "$conf.releasestation-new" >"$conf" && rm -f "$conf.releasestation-new"
  if ! cupsd -t -c "$conf" >/dev/null 2>&1; then
    cp -p "$conf.before-releasestation" "$conf"
    die "cupsd -t rejects $conf with the policy $1; left it as it was"
  fi
  echo "$1 <Policy releasestation> for $account in $conf (old file: $conf.before-releasestation)"
  restart_cups
}

wanted=$(mktemp)
trap 'rm -f "$wanted"' EXIT
sed "s/STATION_ACCOUNT/$account/g" "$policy_file" >"$wanted"
if ! grep -q '^[[:space:]]*<Policy releasestation>' "$conf" 2>/dev/null; then
  install_policy added
elif [ "$(policy_block "$conf")" != "$(policy_block "$wanted")" ]; then
  # An older (or edited) releasestation policy: older ones checked @OWNER without AuthType,
  # which crashes Debian's cupsd 2.4.2-3+deb12u10 (docs/cups.md).
  install_policy replaced
fi

lpadmin -p "$queue" -E -v "$uri" \
  -o printer-op-policy=releasestation \
  -o job-hold-until-default=indefinite \
  "$@"
echo "hold queue $queue: holds every job; only $account may release, restart or move them"
echo "verify with: releasestation check"
