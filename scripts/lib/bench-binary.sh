# Sourced by the bench scripts (not run): bench_binary <bench> builds the
# collector's bench target <bench> in the current directory (honouring
# CARGO_TARGET_DIR) without running it and prints its executable's path.
# Compiler errors are shown as cargo shows them; the path is empty if the
# build failed.
bench_binary() {
  cargo bench -p collector --bench "$1" --no-run --message-format=json-render-diagnostics |
    jq -r --arg bench "$1" \
      'select(.reason == "compiler-artifact" and .target.name == $bench) | .executable // empty' |
    tail -n 1
}
