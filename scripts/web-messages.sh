#!/usr/bin/env bash
# Extract the web pages' strings into messages.pot and merge them into the zh_CN and en catalogs.
# Then translate the new entries in locale/zh_CN/LC_MESSAGES/messages.po (the English catalog
# may leave msgstr empty: the English source text is shown). The pages compile the catalogs at
# start; `--compile` also writes the .mo files.
set -euo pipefail
cd "$(dirname "$0")/.."
web=src/hesuan/entrypoints/web
bab=.venv/bin/pybabel
$bab -q extract -F "$web/babel.cfg" -k N_ --no-location --sort-output \
  --project=Hesuan --copyright-holder="Hesuan" -o "$web/locale/messages.pot" "$web"
for loc in zh_CN en; do
  po="$web/locale/$loc/LC_MESSAGES/messages.po"
  # the Chinese catalogue is kept wrapped at 100 columns (its lines are long in characters)
  width=76; [ "$loc" = zh_CN ] && width=100
  if [ -f "$po" ]; then
    $bab -q update -i "$web/locale/messages.pot" -d "$web/locale" -l "$loc" --no-fuzzy-matching --ignore-obsolete -w "$width"
  else
    $bab -q init -i "$web/locale/messages.pot" -d "$web/locale" -l "$loc"
  fi
done
if [ "${1:-}" = "--compile" ]; then $bab -q compile -d "$web/locale" --statistics; fi
