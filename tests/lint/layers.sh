#!/usr/bin/env bash
# The arrows of docs/architecture.md, enforced: each part of exporter/ (and collectors/) may
# include only the parts listed for it. A new include that crosses a layer fails this test.
set -euo pipefail
cd "${XP_SOURCE_DIR:-$(dirname "$0")/../..}"

# part: the parts it may include (besides itself and the top-level collector.h)
declare -A allowed=(
  [base]=""
  [model]="base config"
  [expo]="base model config"
  [config]="base model"
  [engine]="base model config"
  [web]="base model config expo engine"
  [collectors]="base config engine"
)
bad=0
for part in "${!allowed[@]}"; do
  dir=exporter/$part
  [ "$part" = collectors ] && dir=collectors
  while IFS= read -r hit; do
    file=${hit%%:*}
    inc=$(sed -E 's/.*#include "([a-z_]+)\/.*/\1/' <<<"$hit")
    [ "$inc" = "$part" ] && continue
    case " ${allowed[$part]} " in *" $inc "*) continue ;; esac
    echo "layer violation: $file includes $inc/ (${part} may include: ${allowed[$part]:-nothing})"
    bad=1
  done < <(grep -HE '^#include "[a-z_]+/' "$dir"/*.[ch] || true)
done
# The model is pure: no I/O, threads or clocks of its own.
if grep -nE '#include <(pthread|stdio|unistd|fcntl|sys/)' exporter/model/*.[ch]; then
  echo "layer violation: exporter/model/ must stay pure (no I/O, threads or clocks)"
  bad=1
fi
[ "$bad" = 0 ] && echo "layers ok"
exit "$bad"
