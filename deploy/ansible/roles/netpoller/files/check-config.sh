#!/bin/sh
# validate: for the role's templates: netpoller check on an agent.conf with a devices fragment, both as they would land
# (the other conf.d files beside it). usage: check-config.sh NETPOLLER AGENT_CONF DEVICES_CONF
set -eu
bin=$1; agent=$2; devices=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
confd=$(dirname "$agent")/conf.d
if [ -d "$confd" ]; then
  for f in "$confd"/*.conf; do [ -e "$f" ] && [ "$(basename "$f")" != devices.conf ] && cp "$f" "$dir/"; done
fi
cp "$devices" "$dir/devices.conf"
exec "$bin" check --config "$agent" --config-dir "$dir"
