#!/usr/bin/env bash
# Regenerates the records behind the README's "What probekit measures" tables (about 10 min on
# 2 cores), then prints them. UD runs need UD English EWT (PROBEKIT_DATA or the cache).
set -euo pipefail
out=${1:-results/readme}
for task in roles roles-transfer roles-deep; do
  for config in "-e ema -p hebbian -E embedding=hebbian" "-e ema -p hebbian" "-e ema -p linear" \
                "-e ema -p linear -E embedding=hebbian" "-e bigru" "-e type" "-e type-position" \
                "-e type -p hebbian"; do
    # shellcheck disable=SC2086
    probekit run -q $config -t "$task" --seeds 0,1,2 --out "$out/synthetic" > /dev/null
  done
done
for config in "-e ema -p linear" "-e ema -p hebbian -E embedding=hebbian" "-e bigru" "-e type"; do
  # shellcheck disable=SC2086
  probekit run -q $config -t ud-roles --out "$out/ud" > /dev/null
done
for config in "-e ema -p linear" "-e bigru" "-e ema -p hebbian -E embedding=hebbian"; do
  # shellcheck disable=SC2086
  probekit run -q $config -t roles --learning-curve --out "$out/learning-curve" > /dev/null
done
probekit compare "$out/synthetic" "$out/ud"
probekit compare "$out/learning-curve"
