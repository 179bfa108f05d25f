#!/bin/sh
# deps.sh PACKAGE...: installs the Debian packages that are missing.
# Called by `make deps`; uses apt-get (through sudo when not root).
set -e
missing=""
for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "netc: installing Debian packages:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# another architecture's libraries (libjpeg62-turbo-dev:arm64: make test-aarch64,
# make deploy-check) need that architecture added to dpkg first, then a fresh index
for p in $missing; do
    arch=${p#*:}
    [ "$arch" = "$p" ] && continue
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
        echo "netc: adding the $arch architecture to dpkg (multiarch)"
        $SUDO dpkg --add-architecture "$arch"
        $SUDO apt-get update -q
    fi
done
if ! $SUDO apt-get install -y -q --no-install-recommends $missing; then
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends $missing
fi
