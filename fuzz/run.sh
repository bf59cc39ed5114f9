#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each, one after another, and exits non-zero if any
# of them found a crash, a hang (10 s for one input) or a broken invariant; what it found is in
# fuzz/artifacts/<target>/. The committed corpus seeds each run and is not written to.
#
# Needs the nightly toolchain (cargo-fuzz builds with sanitizers); installs cargo-fuzz if missing.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:?usage: fuzz/run.sh SECONDS}"
targets=(client_frame_json client_frame_msgpack rest_bodies stored_message)

log() { printf '== fuzz: %s\n' "$*"; }

if ! cargo +nightly --version >/dev/null 2>&1; then
  # This machine's kind ships one toolchain, and another cannot be fetched here.
  log "skipped: no nightly toolchain (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

log "building the targets"
nice -n 15 cargo +nightly fuzz build -O

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in "${targets[@]}"; do
  log "$target for ${seconds}s"
  mkdir -p "$scratch/$target" "corpus/$target"
  # New inputs go to the first directory; the committed corpus is only read.
  if ! nice -n 15 cargo +nightly fuzz run -O "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1; then
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  log "FAILED: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
log "no crash in ${#targets[@]} targets"
