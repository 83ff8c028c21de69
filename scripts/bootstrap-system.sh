#!/usr/bin/env bash
# Install the Debian packages Lifeboat's tests and sandbox need, when missing and when root.
# Not root and missing: say what to install and carry on (tests that need it will say so).
# Extra arguments name optional tools wanted too, each a command its Debian package of the
# same name provides: `make bench` passes `rclone` (bench/verify.py's peer), `make test` none.
# Always wanted: headless Chromium, which opens the HTML post-incident review in the tests,
# and PostgreSQL's server binaries (Prefect on PostgreSQL in tests/flows/test_topology.py).
set -euo pipefail
need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
# PostgreSQL: the database of the production topology test (lifeboat/sandbox/postgres.py).
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql)
for tool in "$@"; do
  case "$tool" in
    rclone) command -v rclone >/dev/null 2>&1 || need+=(rclone) ;;
    *) echo "bootstrap: unknown optional tool: $tool" >&2; exit 2 ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "bootstrap: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "bootstrap: please install: ${need[*]} (not root, not installing)" >&2
fi
