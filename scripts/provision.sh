#!/usr/bin/env bash
# Installs and starts what the tests need, idempotently: a second run changes nothing and
# takes about a second. Called by `npm test` (and so by .ci/run).
#
# Each area has its own fragment in scripts/provision.d/. Packages come from Debian's
# archive only; services are started with the machine image's own commands (docs/testing.md)
# and never restarted when they already run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/provision-lib.sh
. "$here/provision-lib.sh"
for fragment in "$here"/provision.d/*.sh; do
  # shellcheck disable=SC1090
  . "$fragment"
done
log "ready"
