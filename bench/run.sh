#!/bin/sh
# make bench: every benchmark, each printing its figures.
set -eu
cd "$(dirname "$0")"
for b in queue.sh send.sh trust.sh lifecycle.sh pull.sh observability.sh report.sh compare.sh latency.sh; do
	sh "./$b"
done
