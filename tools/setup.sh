#!/usr/bin/env bash
# Installs what Illust Only needs on a Debian 12 machine, idempotently: missing apt packages, Debian's
# libwebp source (the core's WebP decoder, unpacked into third_party/libwebp, git-ignored), then the
# pinned npm packages. Safe to run again; does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(emscripten libstb-dev catch2 cmake g++ ninja-build clang libclang-rt-14-dev
  chromium python3-torch python3-torchvision python3-onnx python3-numpy python3-pil nlohmann-json3-dev dpkg-dev)

# The extension's Firefox build is tested in Debian's ESR (tests/e2e/extension-firefox.test.mjs).
APT_PACKAGES+=(firefox-esr)
# Its Japanese language pack: without one, Firefox asked for Japanese gives extensions English (browser.i18n).
APT_PACKAGES+=(firefox-esr-l10n-ja)
# DejaVu's faces draw the titles of train.py --augmentation titles (chromium pulls them in too, via fontconfig).
APT_PACKAGES+=(fonts-dejavu-core)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing apt packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    # Without sudo, bash's "sudo: command not found" would not say what is missing or who can fix it.
    command -v sudo >/dev/null || {
      echo "setup: installing them needs root, and sudo is not installed: run this as root, or have root run" >&2
      echo "  apt-get install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  # Through env: sudo's env_reset would drop a variable set before it, and debconf could then prompt.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# libwebp from Debian 12's source package (1.2.4 with Debian's patches, among them the CVE-2023-4863
# fix), fetched by apt itself so the mirror and its signature checks are the machine's own. apt reads a
# private deb-src list derived from the machine's Debian sources (same mirrors, same suites) and keeps
# its lists and caches in a temporary directory: the system's apt configuration is not touched.
# `apt-get source` unpacks it with dpkg-source, which applies debian/patches.
LIBWEBP_DIR=third_party/libwebp
LIBWEBP_STAMP=$LIBWEBP_DIR/.illust-only-source
# Every file's checksum as unpacked: a tree with a file deleted or changed since (an interrupted copy,
# an edit) is fetched again here, rather than failing in CMake, whose message sends the user back here.
LIBWEBP_SUMS=.illust-only-sha256
libwebp_fetch_reason() {
  if [[ ! -f $LIBWEBP_STAMP ]]; then
    echo "fetching Debian's libwebp source package"
  elif ! (cd "$LIBWEBP_DIR" && sha256sum --check --quiet --strict "$LIBWEBP_SUMS" >/dev/null 2>&1); then
    echo "$LIBWEBP_DIR has missing or changed files (or no checksum list): fetching it again"
  fi
}
libwebp_reason=$(libwebp_fetch_reason)
if [[ -n $libwebp_reason ]]; then
  # Said before the download, not after it as mkdir's "File exists". A symlink to a folder since
  # removed (a worktree's link to another checkout's) holds nothing and becomes a folder; anything
  # else in the way is the user's and stays.
  if [[ -L third_party && ! -e third_party ]]; then
    echo "setup: third_party was a symlink to $(readlink third_party), which does not exist: replacing it by a folder"
    rm third_party
  elif [[ -e third_party && ! -d third_party ]]; then
    echo "setup: third_party is a $(stat -L -c %F third_party), not a folder: libwebp goes in $LIBWEBP_DIR. Move the file away, then run setup again" >&2
    exit 1
  fi
  mkdir -p third_party
  # Two runs at once (the README's two commands in two terminals) would both fetch, and the second mv
  # could land inside the first's tree. The lock is held until this run ends, so a run that waited
  # also finds node_modules installed by the other; the kernel drops it when a run is killed.
  libwebp_lock=third_party/.illust-only-libwebp.lock
  exec {libwebp_lock_fd}>"$libwebp_lock"
  if ! flock --nonblock "$libwebp_lock_fd"; then
    echo "setup: another setup.sh is fetching libwebp ($libwebp_lock): waiting for it"
    flock "$libwebp_lock_fd"
  fi
  libwebp_reason=$(libwebp_fetch_reason)
  [[ -n $libwebp_reason ]] || echo "setup: $LIBWEBP_DIR holds $(cat "$LIBWEBP_STAMP") (fetched by the other run)"
fi
if [[ -n $libwebp_reason ]]; then
  echo "setup: $libwebp_reason"
  # Where this machine's apt reads its sources (APT_CONFIG may move them): a deb822 debian.sources
  # (Debian's container and cloud images), or the one-line sources.list Debian's installer writes.
  eval "$(apt-config shell APT_SOURCE_PARTS Dir::Etc::sourceparts/d APT_SOURCE_LIST Dir::Etc::sourcelist/f)"
  debian_sources=${APT_SOURCE_PARTS}debian.sources
  if [[ -f $debian_sources ]]; then apt_sources=$debian_sources
  elif grep -qE '^[[:space:]]*deb[[:space:]]' "$APT_SOURCE_LIST" 2>/dev/null; then apt_sources=$APT_SOURCE_LIST
  else
    echo "setup: neither $debian_sources nor deb lines in $APT_SOURCE_LIST: cannot derive a deb-src list for libwebp" >&2; exit 1
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/sources" "$work/lists/partial" "$work/cache" "$work/src"
  chmod -R a+rx "$work"  # apt downloads as its _apt user
  if [[ $apt_sources == "$debian_sources" ]]; then
    sed 's/^Types: deb$/Types: deb-src/' "$apt_sources" >"$work/sources/src.sources"
  else
    sed -nE 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$apt_sources" >"$work/sources/src.list"
  fi
  apt_private=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/sources"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
  # --error-on=any: by default a mirror apt cannot reach is only a warning, and `apt-get source` then
  # blames the sources ("You must put some 'deb-src' URIs in your sources.list").
  apt-get "${apt_private[@]}" -qq --error-on=any update || {
    echo "setup: apt could not fetch the source index for libwebp (above): check the network and the mirrors in $apt_sources" >&2; exit 1; }
  # As root apt downloads as _apt, which must own the folder; another user downloads as itself.
  (cd "$work/src" && { [[ $(id -u) -ne 0 ]] || chown _apt .; } && apt-get "${apt_private[@]}" -qq source libwebp >/dev/null)
  unpacked=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'libwebp-*')
  [[ $(basename "$unpacked") == libwebp-1.2.4 ]] || { echo "setup: expected libwebp 1.2.4, got ${unpacked:-nothing}" >&2; exit 1; }
  # dpkg-source records the patches it applied; the CVE fix must be among them.
  grep -qx CVE-2023-4863.patch "$unpacked/debian/patches/series" &&
    grep -qx CVE-2023-4863.patch "$unpacked/.pc/applied-patches" ||
    { echo "setup: Debian's CVE-2023-4863 patch is not applied in $unpacked" >&2; exit 1; }
  dsc=$(basename "$(ls "$work"/src/libwebp_*.dsc)")
  (cd "$unpacked" && find . -type f ! -name "$LIBWEBP_SUMS" -print0 | sort -z | xargs -0 sha256sum >"$LIBWEBP_SUMS")
  rm -rf "$LIBWEBP_DIR"
  mv --no-target-directory "$unpacked" "$LIBWEBP_DIR"  # never into a folder found there
  echo "${dsc%.dsc}" >"$LIBWEBP_STAMP"
  rm -rf "$work"
  trap - EXIT
  echo "setup: $LIBWEBP_DIR holds $(cat "$LIBWEBP_STAMP")"
fi

# The wasm core's Node glue needs process.getBuiltinModule (Node 20.16 / 22.3); Debian 12's own nodejs
# is 18, so Node comes from the machine (NodeSource, nvm, ...); an older one is named here rather
# than failing later inside the tests.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: Node.js >= 20.16 with npm is required (node not found)" >&2; exit 1
fi
if ! node -e 'process.exit(typeof process.getBuiltinModule === "function" ? 0 : 1)'; then
  echo "setup: Node.js >= 20.16 is required (found $(node --version)): the wasm core's Node glue needs process.getBuiltinModule" >&2; exit 1
fi

# npm ci is exact and fast; skip it when node_modules already matches the lock file. Nothing may
# download a browser: the tests drive Debian's chromium and firefox-esr (puppeteer-core has no
# download step; PUPPETEER_SKIP_DOWNLOAD also covers a package that would).
stamp=node_modules/.illust-only-lock
# The stamp says npm ci finished for this lock file; a package folder deleted since then would only
# show as a build error that sends the user back here.
npm_missing=$(node -e '
  const { existsSync, readFileSync } = require("node:fs");
  const { packages } = JSON.parse(readFileSync("package-lock.json", "utf8"));
  const missing = Object.entries(packages).filter(([dir, p]) => dir && !p.optional && !existsSync(dir + "/package.json"));
  if (missing.length) console.log(`${missing.length} missing: ${missing.slice(0, 3).map(([dir]) => dir).join(", ")}`);')
if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp" || [[ -n $npm_missing ]]; then
  [[ -z $npm_missing || ! -f $stamp ]] || echo "setup: node_modules lacks packages of package-lock.json ($npm_missing)"
  echo "setup: installing npm packages (pinned by package-lock.json)"
  ONNXRUNTIME_NODE_INSTALL=skip PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi
