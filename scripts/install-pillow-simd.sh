#!/usr/bin/env bash
# Replace Pillow with pillow-simd (same `PIL` package, SIMD resize/decode) in the given interpreter's
# environment. pillow-simd is source-only: it needs a C compiler and the libjpeg/zlib headers. Where it
# cannot be built we keep Pillow and say so in one line; nothing else changes.
# Must run last: any later install of a package that depends on `pillow` silently puts Pillow back.
set -u
python=${1:?usage: install-pillow-simd.sh PYTHON}
version=12.1.1.post0
marker="$(dirname "$python")/../pillow-backend"

cc_flags=""
grep -qw avx2 /proc/cpuinfo 2>/dev/null && cc_flags="-mavx2"
if command -v cc >/dev/null && [ -e /usr/include/jpeglib.h ] && [ -e /usr/include/zlib.h ] \
   && CC="cc $cc_flags" "$python" -m pip install -q --no-deps --force-reinstall --no-binary :all: \
        "pillow-simd==$version" >/tmp/pillow-simd-build.log 2>&1; then
  echo pillow-simd >"$marker"
else
  echo "warning: pillow-simd could not be built (needs cc, libjpeg-dev, zlib1g-dev; log: /tmp/pillow-simd-build.log); keeping Pillow" >&2
  echo pillow >"$marker"
fi
exit 0
