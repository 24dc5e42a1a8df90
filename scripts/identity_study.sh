#!/usr/bin/env bash
# The identity study (docs/tasks.md, "The identity study"): token identity k steps back for
# ema, gru-lm, a local random GPT-2, and the type and random baselines, on UD English EWT text
# and on random token streams, plus GPT-2's layer-by-layer depth table. Writes records under
# OUT/runs (depth: OUT/depth-runs), the compare tables to OUT/compare.md and OUT/depth.md and plots to OUT/*.png.
# Usage: scripts/identity_study.sh [--quick] [--seeds 0,1,2] [--jobs 2] [OUT]   (default OUT: results/identity_study)
# The configs come from probekit.studies (one definition for this script and `probekit reproduce`),
# printed as `probekit run` lines by `probekit study`.
# UD runs need UD English EWT (PROBEKIT_DATA or the cache); GPT-2 needs the GPT-2 tokenizer files
# (../shared/models/gpt2-tokenizer or PROBEKIT_GPT2_TOKENIZER).
set -euo pipefail
quick=()
seeds=0
jobs=2
out=results/identity_study
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=(--quick); shift ;;
    --seeds) seeds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) out=$1; shift ;;
  esac
done
python=${PYTHON:-python}
mkdir -p "$out"
start=$(date +%s)
commands=$(mktemp)
trap 'rm -f "$commands"' EXIT
for study in "identity --source ud:runs" "identity --source random:runs" "depth:depth-runs"; do
  # shellcheck disable=SC2086
  "$python" -m probekit.cli study ${study%%:*} --seeds "$seeds" "${quick[@]}" | sed "s|\$| --out '$out/${study##*:}'|" >> "$commands"
done
# --jobs commands at a time (each runs one lag sweep single-threaded); the depth sweep is the longest
sort -r "$commands" | xargs -d '\n' -P "$jobs" -I{} sh -c 'echo "[identity_study] probekit run {}" >&2; eval "probekit run -q {}" > /dev/null'
echo "[identity_study] runs took $(( $(date +%s) - start )) s" >&2
probekit compare "$out/runs" --task identity > "$out/compare.md.tmp" && mv "$out/compare.md.tmp" "$out/compare.md"
probekit plot "$out/runs" -o "$out/identity_v_information.png"
probekit plot "$out/runs" -o "$out/identity_accuracy.png" --metric accuracy
probekit compare "$out/depth-runs" --task identity > "$out/depth.md.tmp" && mv "$out/depth.md.tmp" "$out/depth.md"
probekit plot "$out/depth-runs" -o "$out/depth.png" --by layer
cat "$out/compare.md" "$out/depth.md"
