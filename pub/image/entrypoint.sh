#!/bin/sh
# Entrypoint of the pub image (both the Dockerfile build and the assembled one). It sizes node's heap from the
# container's memory limit and then execs node, so node is PID 1 and receives SIGTERM itself.
#
# Why flags and not defaults: V8 sizes its heap from the machine's memory (24 GiB here), not the cgroup's, so a
# replication burst grows the heap until the kernel OOM-kills the container. A small young generation and an
# old-space cap below the limit make V8 collect garbage before the cgroup limit is reached.
set -eu

limit=""
if [ -r /sys/fs/cgroup/memory.max ]; then
  limit=$(cat /sys/fs/cgroup/memory.max)                    # cgroup v2
elif [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
  limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)  # cgroup v1
fi

# Semi-spaces of 1 MB (V8's default grows to 16 MB each) cost little CPU for an I/O-bound pub. Without the optimising
# compiler (and with V8 sized for memory) an idle pub is ~6 MB smaller and ingests ~20% slower (bench/density.ts):
# the right trade for a pub that is idle most of the time. PUB_V8_SIZE_FLAGS="" turns that part off.
flags="--max-semi-space-size=1 ${PUB_V8_SIZE_FLAGS---no-opt --optimize-for-size}"
case "$limit" in
  "" | max) ;;
  *)
    mb=$((limit / 1048576))
    # cgroup v1 reports "no limit" as a number near 2^63.
    if [ "$mb" -lt 1048576 ]; then
      old=$((mb * ${PUB_HEAP_PERCENT:-45} / 100))
      if [ "$old" -lt 24 ]; then old=24; fi
      flags="$flags --max-old-space-size=$old"
    fi
    ;;
esac

# A health file the previous container left (killed, so it could not remove it) must not vouch for this one: Docker
# probes before node has even loaded the pub, which removes it too, but only once it runs (pub/self-check.ts).
if [ "${PUB_ENTRYPOINT_DRY_RUN:-}" != "1" ]; then rm -f "${PUB_DATA:-/data}/health"; fi

if [ "${PUB_ENTRYPOINT_DRY_RUN:-}" = "1" ]; then
  echo "node $flags ${PUB_NODE_FLAGS:-} /app/dist/pub/main.js"
  exit 0
fi
# shellcheck disable=SC2086 # flags are words on purpose
exec node $flags ${PUB_NODE_FLAGS:-} /app/dist/pub/main.js
