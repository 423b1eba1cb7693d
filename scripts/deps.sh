#!/bin/sh
# Installs the Debian packages anvil builds with, when they are missing. As root it runs
# apt-get; otherwise it prints the exact command and stops, so nothing happens behind your back.
set -e
PKGS="cmake make gcc g++ pkg-config libprotobuf-c-dev protobuf-c-compiler libonnx-dev libcjson-dev libjsmn-dev libxxhash-dev libdnnl-dev"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ]; then
  echo "anvil: installing missing Debian packages:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
else
  echo "anvil: missing Debian packages. Run this, then try again:"
  echo "  sudo apt-get install -y$missing"
  exit 1
fi
