#!/usr/bin/env bash
# Run one hybridkit runbook from cron: one run at a time, a log a day, the runbook's own exit code.
#
#   crontab -e
#   HYBRIDKIT_WORKDIR=/srv/hybridkit
#   */15 * * * * /srv/hybridkit/examples/cron/hybridkit-cron.sh health_check -p fail_on_problem true
#   0 3 * * *    /srv/hybridkit/examples/cron/hybridkit-cron.sh upload -p source /data/exports -p bucket reports --notify https://hooks.slack.com/services/...
#   30 3 * * 0   /srv/hybridkit/examples/cron/hybridkit-cron.sh --prune
#
# Settings and secrets come from $HYBRIDKIT_WORKDIR/.env (SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY,
# ...), which hybridkit reads itself: cron's environment stays empty and nothing secret is on a
# command line. Output notebooks and records go to $HYBRIDKIT_WORKDIR/runs/, logs to
# $HYBRIDKIT_WORKDIR/logs/<runbook>-<UTC date>.log.
#
# Exit codes: those of `hybridkit run` (0 ok, 1 the runbook failed, 2 bad parameters: nothing ran),
# and 75 (EX_TEMPFAIL) when the previous run of the same runbook still holds the lock: skipped.
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 RUNBOOK [hybridkit run options...] | --prune" >&2
  exit 2
fi
RUNBOOK=$1
shift
HYBRIDKIT=${HYBRIDKIT:-hybridkit}                   # e.g. /srv/hybridkit/.venv/bin/hybridkit
WORKDIR=${HYBRIDKIT_WORKDIR:-$HOME/hybridkit}
LOG_DIR=${HYBRIDKIT_LOG_DIR:-$WORKDIR/logs}
KEEP_RUNS=${HYBRIDKIT_KEEP_RUNS:-50}                 # --prune: runs kept per runbook
KEEP_DAYS=${HYBRIDKIT_KEEP_DAYS:-30}                 # --prune: and none older than this

mkdir -p "$LOG_DIR" || exit 1
cd "$WORKDIR" || exit 1
name=${RUNBOOK#--}
log="$LOG_DIR/$name-$(date -u +%Y%m%d).log"
stamp() { date -u +%Y-%m-%dT%H:%M:%SZ; }

exec 9>"$WORKDIR/.$name.lock"
if ! flock -n 9; then
  echo "$(stamp) $name: the previous run still holds $WORKDIR/.$name.lock; skipped" >>"$log"
  exit 75
fi

echo "$(stamp) start $name" >>"$log"
if [ "$RUNBOOK" = "--prune" ]; then
  "$HYBRIDKIT" runs prune --keep "$KEEP_RUNS" --yes >>"$log" 2>&1
  status=$?
  "$HYBRIDKIT" runs prune --older-than "$KEEP_DAYS" --yes >>"$log" 2>&1 || status=$?
  find "$LOG_DIR" -name '*.log' -mtime +"$KEEP_DAYS" -delete || status=$?
else
  "$HYBRIDKIT" run "$RUNBOOK" "$@" >>"$log" 2>&1
  status=$?
fi
echo "$(stamp) end $name: exit $status" >>"$log"
exit "$status"
