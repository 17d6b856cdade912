#!/bin/sh
# Fetch the answer-quality evaluation corpus: ten public manuals from pinned
# Debian bookworm packages.  Every .deb and every extracted PDF is checked
# against a sha256 written below; any mismatch stops the script.
#
#   bench/eval/corpus.sh [CACHE_DIR]     (default: build/eval-corpus)
#
# Result: CACHE_DIR/debs/*.deb and CACHE_DIR/pdf/<name>.pdf.
# Idempotent: a .deb or PDF already present with the right hash is kept.
# Needs apt-get (bookworm sources configured; run `apt-get update` first
# if the package lists are empty), dpkg-deb, tar and sha256sum.
set -eu

CACHE=${1:-build/eval-corpus}
DEBS="$CACHE/debs"
PDFS="$CACHE/pdf"
mkdir -p "$DEBS" "$PDFS"

die() { echo "corpus.sh: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# package  version  architecture  sha256 of the .deb
PACKAGES='
texlive-metapost-doc 2022.20230122-3 all 72dfff342c161c075a9f20369cc9a06fa82fa767e439503329e8b1ccd8f40c78
texlive-fonts-recommended-doc 2022.20230122-3 all 566ee17ea41c6094b0438af03935a8e26b3c38433213177386e93be3a2087131
libtasn1-doc 4.19.0-2+deb12u1 all ce109d7f7611b24d03e41b831eab01c3c7fb1a55b8d8b4350ed24383c0c8dfda
shared-mime-info 2.2-1 amd64 dd026add873483566faefebbd8779a1e5e14ab2e44682ebfe238c3828a2b936b
'

# package  path inside the .deb  sha256 of the PDF   (the file lands as pdf/<basename>)
FILES='
texlive-metapost-doc usr/share/doc/texlive-doc/metapost/base/mpman.pdf c3b83ab35548dbde80eac38727d2eb826c14780441c0d308190ee72bf306d9d3
texlive-metapost-doc usr/share/doc/texlive-doc/metapost/base/mplibapi.pdf 6d07526765ada331bce3050e2db33dafafe4489a0ecd40436bd2b307bd340f09
texlive-metapost-doc usr/share/doc/texlive-doc/metapost/base/mpgraph.pdf 8b02ec1e46cfd9225ad64778d996d7bbb8d6921c2e385e18e63a1502af9b85f1
texlive-metapost-doc usr/share/doc/texlive-doc/metapost/metaobj/momanual.pdf 463a49cd936b0e2b0d164c8ec9d5b5a414879838658d26cb0bf0b2914c72feb4
texlive-metapost-doc usr/share/doc/texlive-doc/metapost/featpost/doc/featpostmanual.pdf 0ce53b4da6a4180e61cbbb7885f1e67c6ae6416ade78cbcf88cf0a4fe42fe450
texlive-metapost-doc usr/share/doc/texlive-doc/metapost/mcf2graph/mcf_manual.pdf e35e8e002637ac1669578e37f963e53b4f2e8409247ac47cd88545a93eb3f093
texlive-metapost-doc usr/share/doc/texlive-doc/generic/mfpic/mfpguide.pdf a27da2b606f1e81d2712f6223ced65fa2420f18692bf18c237daab13950cfcbe
texlive-fonts-recommended-doc usr/share/doc/texlive-doc/latex/euro/euro.pdf b7761465e45019e9c8329fce8a4711ca8c3e9003f334933bf7b7772496448b56
libtasn1-doc usr/share/doc/libtasn1-doc/libtasn1.pdf 3917eb460d87e275f9792b3597029873fd77890ed3ccebe40bbc5a3a7ee516d3
shared-mime-info usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf 4d9666c46b4d367a12e2922f4f3b114396c377106c57bbc934d03320e6888002
'

deb_path() {  # package -> path of its pinned .deb in the cache
    echo "$PACKAGES" | while read -r p v a h; do
        [ "$p" = "$1" ] || continue
        # apt-get download writes ':' of an epoch as %3a; no pinned version has one
        echo "$DEBS/${p}_${v}_${a}.deb"
    done
}

# 1. the packages
echo "$PACKAGES" | while read -r pkg ver arch want; do
    [ -n "$pkg" ] || continue
    deb="$DEBS/${pkg}_${ver}_${arch}.deb"
    if [ -f "$deb" ] && [ "$(sha "$deb")" = "$want" ]; then
        echo "ok       $pkg $ver (cached)"
        continue
    fi
    rm -f "$deb"
    echo "download $pkg=$ver"
    # an arch-specific package is asked for by its pinned architecture
    spec="$pkg=$ver"; [ "$arch" = all ] || spec="$pkg:$arch=$ver"
    (cd "$DEBS" && apt-get download -q "$spec" >/dev/null 2>&1) ||
        die "apt-get download $pkg=$ver failed (is bookworm in the apt sources, and has apt-get update run? The pinned version may have left the archive: see snapshot.debian.org)"
    [ -f "$deb" ] || die "apt-get download $pkg=$ver did not produce $deb"
    got=$(sha "$deb")
    [ "$got" = "$want" ] ||
        die "sha256 mismatch for $deb: expected $want, got $got (the archive serves a different file for this exact version; refusing to use it)"
    echo "ok       $pkg $ver"
done

# 2. the PDFs
echo "$FILES" | while read -r pkg path want; do
    [ -n "$pkg" ] || continue
    out="$PDFS/$(basename "$path")"
    if [ -f "$out" ] && [ "$(sha "$out")" = "$want" ]; then
        echo "ok       $(basename "$path") (cached)"
        continue
    fi
    deb=$(deb_path "$pkg")
    tmp="$CACHE/.extract.$$"
    rm -rf "$tmp"; mkdir -p "$tmp"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "./$path" ||
        { rm -rf "$tmp"; die "$path not found in $deb"; }
    got=$(sha "$tmp/$path")
    if [ "$got" != "$want" ]; then
        rm -rf "$tmp"
        die "sha256 mismatch for $path from $deb: expected $want, got $got"
    fi
    mv "$tmp/$path" "$out"
    rm -rf "$tmp"
    echo "ok       $(basename "$path")"
done

echo "corpus ready in $PDFS"
