#!/bin/bash
# test_bindings_install: install libsluice into a temporary prefix and build
# two consumers against the install only: one with pkg-config, one with
# find_package(Sluice). Both run and must report the library's version.
# Then the Python package: a wheel built from bindings/python, installed
# into a virtual environment that sees Debian's python3-zmq/-msgpack.
# Usage: test_bindings_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
prefix=$(mktemp -d /tmp/sluice-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT

cmake --install "$build/bindings/c" --prefix "$prefix" > "$prefix/install.log"
test -f "$prefix/include/sluice_client.h"
lib=$(ls "$prefix"/lib*/libsluice.so.0* | head -1)
test -n "$lib"
libdir=$(dirname "$lib")
# The ABI is sluice_* only: no engine symbol leaks out
leaks=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^sluice_' || true)
if [ -n "$leaks" ]; then echo "exported non-sluice symbols: $leaks"; exit 1; fi

cat > "$prefix/consumer.c" <<'C'
#include <sluice_client.h>
#include <stdio.h>
#include <string.h>
int main (void) {
    int major, minor, patch;
    sluice_version (&major, &minor, &patch);
    sluice_client_t *client = sluice_client_new ("tcp://127.0.0.1:1");
    if (!client || sluice_client_connect (client, 200) != SLUICE_TIMEOUT) return 1;
    printf ("sluice %d.%d.%d %s\n", major, minor, patch, sluice_rc_name (SLUICE_BUSY));
    sluice_client_destroy (&client);
    return client == NULL ? 0 : 1;
}
C

# 1. pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists sluice
test "$(pkg-config --modversion sluice)" = "$(sed -n 's/^project(sluice VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")"
cc -o "$prefix/consumer_pc" "$prefix/consumer.c" $(pkg-config --cflags --libs sluice) -Wl,-rpath,"$libdir"
out=$("$prefix/consumer_pc")
echo "pkg-config consumer: $out"
[[ "$out" == "sluice 0."*" SLUICE_BUSY" ]]

# 2. find_package(Sluice)
mkdir -p "$prefix/cmake-consumer"
cp "$prefix/consumer.c" "$prefix/cmake-consumer/"
cat > "$prefix/cmake-consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(Sluice 0.1 REQUIRED)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE Sluice::sluice)
CM
cmake -S "$prefix/cmake-consumer" -B "$prefix/cmake-consumer/build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_BUILD_RPATH="$libdir" > "$prefix/cmake.log"
cmake --build "$prefix/cmake-consumer/build" > "$prefix/build.log"
out=$("$prefix/cmake-consumer/build/consumer")
echo "find_package consumer: $out"
[[ "$out" == "sluice 0."*" SLUICE_BUSY" ]]

# 3. The Python package: wheel, then pip install into a venv. Debian's pip
# refuses to touch /usr (PEP 668) and there may be no network for build
# isolation, hence --system-site-packages and --no-build-isolation.
cp -r "$src/bindings/python" "$prefix/pysrc"      # setuptools writes build/ next to the sources
/usr/bin/python3 -m pip wheel --no-build-isolation --no-deps "$prefix/pysrc" -w "$prefix/dist" > "$prefix/wheel.log" 2>&1
wheel=$(ls "$prefix"/dist/sluice-*-py3-none-any.whl)
/usr/bin/python3 -m venv --system-site-packages "$prefix/venv"
"$prefix/venv/bin/pip" install --no-build-isolation --no-deps "$wheel" > "$prefix/pip.log" 2>&1
out=$(cd / && "$prefix/venv/bin/python" - <<'PY'
import os, sluice
assert sluice.__file__.startswith(os.environ.get("VIRTUAL_ENV", "") or "/"), sluice.__file__
assert "site-packages" in sluice.__file__, sluice.__file__
try:
    sluice.Client("tcp://127.0.0.1:1", timeout=0.3)
except sluice.Timeout as e:
    print("python package %s: %s" % (sluice.__version__, type(e).__name__))
PY
)
echo "$out"
[[ "$out" == "python package 0."*": Timeout" ]]
echo "install: OK"
