#!/usr/bin/env bash
# Rolls push out in the order the schema needs: configuration, then the migration Job, and only
# when it has completed, the Deployments (new code never runs against the old schema). Any
# arguments go to every kubectl call:
#
#   deploy/kubernetes/rollout.sh -n push --context prod
#
# Needs the Secret push-secrets (secret.example.yaml lists its keys). Stops, non-zero, at the
# first step that fails; a failed migration prints its log and leaves the running pods alone.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
poll_s=${PUSH_ROLLOUT_POLL_S:-2}

say() { printf '[rollout] %s\n' "$*"; }

kubectl "$@" apply -f "$here/config.yaml"
if ! kubectl "$@" get secret push-secrets >/dev/null; then
  say 'the Secret push-secrets is missing: create it first (deploy/kubernetes/secret.example.yaml)'
  exit 1
fi

# A Job's pod template cannot change: the previous release's Job goes before this one is applied.
kubectl "$@" delete job push-migrate --ignore-not-found --wait=true
kubectl "$@" apply -f "$here/migrate-job.yaml"
say 'waiting for the migration (job/push-migrate)'
while :; do
  conditions=$(kubectl "$@" get job push-migrate \
    -o 'jsonpath={range .status.conditions[?(@.status=="True")]}{.type} {end}')
  case " $conditions " in
    *" Complete "*) break ;;
    *" Failed "*)
      say 'the migration failed; the Deployments were not touched. Its log:'
      kubectl "$@" logs job/push-migrate --all-containers || true
      exit 1
      ;;
  esac
  sleep "$poll_s"
done
say 'migration complete'

kubectl "$@" apply -f "$here/poller.yaml" -f "$here/worker.yaml" -f "$here/http.yaml"
for deployment in push-poller push-worker push-http; do
  kubectl "$@" rollout status "deployment/$deployment" --timeout=10m
done
say 'done'
