#!/usr/bin/env bash
# The whole test suite on a fresh machine: environment, PostgreSQL, Chromium, linters, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Compiled modules are kept in __pycache__ (ignored by git): pytest's rewritten test modules,
# the project's own and its packages' (the set-up installs without compiling), so each pytest
# worker and each process a test starts reads them instead of compiling again; an environment
# that turns the cache off (PYTHONDONTWRITEBYTECODE) is overridden here.
unset PYTHONDONTWRITEBYTECODE
scripts/setup.sh

# PostgreSQL on 127.0.0.1:5432 (trust auth, database "test"): start it if it is down.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# Debian's Chromium for the browser tests (Playwright cannot download its own here).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk) \
    >/dev/null 2>&1 || echo "warning: could not install chromium; browser tests will skip"
fi

# Kannel (the SMS gateway) and kannel-extras' fakesmsc for the real-gateway SMS test.
if [ ! -x /usr/sbin/bearerbox ] || [ ! -x /usr/lib/kannel/test/fakesmsc ]; then
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kannel \
      kannel-extras) >/dev/null 2>&1 || echo "warning: could not install kannel; SMS test will skip"
  fi
fi

echo "== ruff";        .venv/bin/ruff check src tests bench
echo "== mypy";        .venv/bin/mypy
echo "== import-linter"; .venv/bin/lint-imports
echo "== pytest"
set +e
# two workers (the machine's cores), a test file to one worker (--dist loadfile): a module's
# fixtures are built once, not on each worker that runs some of its tests
# the slowest tests are listed before the summary line: where the suite's time goes
.venv/bin/python -m pytest -q -p no:cacheprovider -n "${PYTEST_WORKERS:-2}" --dist loadfile \
  --durations=30 "$@"
rc=$?
set -e
# pytest exits 5 when it collected nothing; that must fail CI, not pass it.
exit $rc
