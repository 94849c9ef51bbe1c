#!/usr/bin/env bash
# The whole test suite on a fresh machine: environment, PostgreSQL, Chromium, linters, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
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
echo "== import-linter"; .venv/bin/lint-imports
# mypy (some 45 s of one core on a fresh clone) checks beside the tests; its report follows
# pytest's, and either failing fails the run
mypy_log=$(mktemp)
.venv/bin/mypy >"$mypy_log" 2>&1 &
mypy_pid=$!
echo "== pytest"
set +e
# three workers on two cores: the tests wait at times (servers and commands starting,
# PostgreSQL, the browser), and a third worker fills those waits. --dist worksteal: a worker
# whose tests are done takes some of another's, so the run does not end on one worker's queue
# (tests marked xdist_group are not kept on one worker: pytest-xdist 3.8 under pytest 9.2 does
# not; each worker builds the module fixtures its tests need)
# the slowest tests are listed before the summary line: where the suite's time goes
.venv/bin/python -m pytest -q -p no:cacheprovider -n "${PYTEST_WORKERS:-3}" --dist worksteal \
  --durations=30 "$@"
rc=$?
echo "== mypy"
wait "$mypy_pid"
mypy_rc=$?
cat "$mypy_log"
rm -f "$mypy_log"
set -e
# pytest exits 5 when it collected nothing; that must fail CI, not pass it.
if [ "$rc" -eq 0 ] && [ "$mypy_rc" -ne 0 ]; then rc=$mypy_rc; fi
exit $rc
