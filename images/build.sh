#!/usr/bin/env bash
# Build webstack's local images from Debian packages, for the `local` stack on a machine
# (or CI) that reaches Debian's mirror but no container registry.
#
#   1. webstack-local/debian:bookworm: `debootstrap --variant=minbase` (images/debian/
#      prepare-rootfs.sh slims it and applies security updates), kept as a tarball in the
#      cache dir and `docker import`ed;
#   2. one image per directory images/<name>/ (Dockerfile FROM that base, apt inside);
#      a context `gobin:NAME` is the cache folder of a Go binary that images/gobin.sh builds
#      from the Go module proxy (VictoriaLogs, vmalert), so the image carries that binary.
#
# Cached and idempotent: an image whose tag exists with the label webstack.context-hash
# equal to the hash of its Dockerfile, its build context and its base is not built again;
# the rootfs tarball is reused while images/debian/prepare-rootfs.sh and the mirrors are
# the same.
#
# usage: images/build.sh [--force] [--verbose] [--list] [NAME...]
#   NAME      build only these (and the base); default: all of them
#   --force   rebuild without Docker's layer cache (fresh packages, security updates);
#             the rootfs tarball is made again too
#   --verbose stream `docker build`'s output (default: to a log in the cache dir, shown
#             when a build fails); with several builds at once, their lines interleave
#   --list    print "NAME TAG" of each image and exit
#
# Environment: WEBSTACK_IMAGE_CACHE (default ~/.cache/webstack/images),
# WEBSTACK_DEBIAN_MIRROR (default: the URI of this machine's apt source for bookworm),
# WEBSTACK_DEBIAN_SECURITY_MIRROR (default: the URI of its apt source for bookworm-security),
# WEBSTACK_IMAGE_JOBS (images built at once, default 4).
# Needs a running Docker engine (scripts/docker-engine.sh) and, to make the rootfs, root
# (debootstrap is installed with apt-get when missing).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
CACHE=${WEBSTACK_IMAGE_CACHE:-${HOME:-/root}/.cache/webstack/images}
SUITE=bookworm
MIRROR=${WEBSTACK_DEBIAN_MIRROR:-}                   # default: from apt's sources, below
SECURITY_MIRROR=${WEBSTACK_DEBIAN_SECURITY_MIRROR:-} # likewise
LABEL=webstack.context-hash
BASE_TAG=webstack-local/debian:$SUITE

# name, tag, build context (relative to the repository, or gobin:NAME: the folder of the binary
# images/gobin.sh NAME builds); the Dockerfile is images/<name>/Dockerfile.
IMAGES=(
  "nginx webstack-local/nginx:$SUITE images/nginx"
  "redis webstack-local/redis:$SUITE images/redis"
  "prometheus webstack-local/prometheus:$SUITE images/prometheus"
  "alertmanager webstack-local/alertmanager:$SUITE images/alertmanager"
  "node-exporter webstack-local/node-exporter:$SUITE images/node-exporter"
  "nginx-exporter webstack-local/nginx-exporter:$SUITE images/nginx-exporter"
  "redis-exporter webstack-local/redis-exporter:$SUITE images/redis-exporter"
  "backup webstack-local/backup:$SUITE images/backup"
  "victorialogs webstack-local/victorialogs:v1.52.1 gobin:victoria-logs"
  "vmalert webstack-local/vmalert:v1.151.0 gobin:vmalert"
  "syslog-ng webstack-local/syslog-ng:$SUITE images/syslog-ng"
  "postgres webstack-local/postgres:$SUITE images/postgres"
  "demo-app webstack-local/demo-app:0.1.0 examples/demo-app"
)

FORCE=0
VERBOSE=0
JOBS=${WEBSTACK_IMAGE_JOBS:-4}
WANTED=()

say() {
  printf 'images: %s\n' "$*" >&2
}

die() {
  say "ERROR: $*"
  exit 1
}

# The URI of the machine's first apt source of Debian's archive for SUITE, without a
# trailing slash; nothing when there is none. Reads apt's sources as apt does, in its
# order: ETC/sources.list, then ETC/sources.list.d/*.list (one-line format) and *.sources
# (deb822). An entry counts when it is of type `deb`, enabled, lists SUITE among its suites
# and `main` among its components, has an http, https or file URI, and is signed by Debian's
# archive keyring or names no keyring (another vendor's repository for SUITE names its own).
#   usage: apt_source_uri SUITE [ETC]   (ETC: default /etc/apt)
apt_source_uri() {
  local suite=$1 etc=${2:-/etc/apt} file
  local -a files=()
  [[ -f "$etc/sources.list" ]] && files+=("$etc/sources.list")
  # apt reads the parts in name order, whatever their format, and skips other names.
  for file in "$etc"/sources.list.d/*; do
    [[ -f "$file" && "${file##*/}" =~ ^[A-Za-z0-9_.-]+\.(list|sources)$ ]] && files+=("$file")
  done
  ((${#files[@]})) || return 0
  # shellcheck disable=SC2016 # an awk program: its $0 is awk's
  awk -v want="$suite" '
    function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
    function has(list, word,   n, w, i) {
      n = split(trim(list), w, /[ \t]+/)
      for (i = 1; i <= n; i++) if (w[i] == word) return 1
      return 0
    }
    function consider(types, uris, suites, components, enabled, signed,   u) {
      if (found != "" || !has(types, "deb") || tolower(trim(enabled)) == "no") return
      if (!has(suites, want) || !has(components, "main")) return
      signed = trim(signed)
      if (signed != "" && signed !~ /^\/[^ \t]*\/debian-archive-[^ \t\/]*$/) return
      split(trim(uris), u, /[ \t]+/)
      if (u[1] !~ /^(https?|file):\/\//) return
      sub(/\/+$/, "", u[1])
      found = u[1]
    }
    function flush() {
      if (stanza) consider(f["types"], f["uris"], f["suites"], f["components"], f["enabled"], f["signed-by"])
      stanza = 0; field = ""; split("", f)
    }
    FNR == 1 { flush() }
    FILENAME ~ /\.sources$/ {
      if ($0 ~ /^#/) next
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      if ($0 ~ /^[ \t]/) { if (field != "") f[field] = f[field] " " $0; next }
      field = tolower(substr($0, 1, index($0, ":") - 1))
      f[field] = substr($0, index($0, ":") + 1)
      stanza = 1
      next
    }
    {
      line = $0
      sub(/#.*/, "", line)
      n = split(trim(line), w, /[ \t]+/)
      if (w[1] != "deb") next
      i = 2; options = ""
      if (w[i] ~ /^\[/) {
        while (i <= n) { options = options " " w[i]; if (w[i++] ~ /\]$/) break }
      }
      gsub(/[][]/, "", options)
      signed = ""
      m = split(trim(options), o, /[ \t]+/)
      for (j = 1; j <= m; j++) if (o[j] ~ /^signed-by=/) signed = substr(o[j], 11)
      components = ""
      for (j = i + 2; j <= n; j++) components = components " " w[j]
      consider("deb", w[i], w[i + 1], components, "yes", signed)
    }
    END { flush(); if (found != "") print found }
  ' "${files[@]}"
}

usage() {
  sed -n '/^# usage:/,/^#   --list/p' "$0" | sed 's/^# \{0,1\}//' >&2
}

while (($# > 0)); do
  case "$1" in
    --force) FORCE=1 ;;
    --verbose | -v) VERBOSE=1 ;;
    --list)
      printf 'debian %s\n' "$BASE_TAG"
      for spec in "${IMAGES[@]}"; do
        read -r name tag _ <<<"$spec"
        printf '%s %s\n' "$name" "$tag"
      done
      exit 0
      ;;
    -h | --help) usage; exit 0 ;;
    -*) usage; die "unknown option $1" ;;
    *) WANTED+=("$1") ;;
  esac
  shift
done

[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die "WEBSTACK_IMAGE_JOBS must be a positive number, not '$JOBS'"
for name in "${WANTED[@]}"; do
  [[ "$name" == debian ]] && continue
  found=0
  for spec in "${IMAGES[@]}"; do
    [[ "${spec%% *}" == "$name" ]] && found=1
  done
  ((found)) || die "unknown image $name (images: debian $(printf '%s ' "${IMAGES[@]%% *}"))"
done

now() {
  date +%s.%N
}

elapsed() {
  awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}

sha() {
  sha256sum | cut -d ' ' -f 1
}

# Hash of the files under a directory: their relative paths and contents, in a stable order.
hash_dir() {
  local dir=$1 file
  (
    cd "$dir"
    find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' ! -path '*/.pytest_cache/*' -print0 \
      | LC_ALL=C sort -z \
      | while IFS= read -r -d '' file; do
        printf '%s %s\n' "$(sha256sum <"$file" | cut -d ' ' -f 1)" "$file"
      done
  ) | sha
}

label_of() {
  docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true
}

id_of() {
  docker image inspect --format '{{ .Id }}' "$1" 2>/dev/null || true
}

# The mirrors: the environment's, else the machine's own apt sources (see apt_source_uri).
if [[ -z "$MIRROR" ]]; then
  MIRROR=$(apt_source_uri "$SUITE")
  [[ -n "$MIRROR" ]] || die "no apt source of Debian's archive for $SUITE found in /etc/apt/sources.list or" \
    "/etc/apt/sources.list.d/*.list, *.sources: set WEBSTACK_DEBIAN_MIRROR to a Debian mirror's URI"
fi
if [[ -z "$SECURITY_MIRROR" ]]; then
  SECURITY_MIRROR=$(apt_source_uri "$SUITE-security")
  [[ -n "$SECURITY_MIRROR" ]] || die "no apt source of Debian's archive for $SUITE-security found in" \
    "/etc/apt/sources.list or /etc/apt/sources.list.d/*.list, *.sources: set WEBSTACK_DEBIAN_SECURITY_MIRROR" \
    "to a Debian security mirror's URI"
fi

# --- the base ---------------------------------------------------------------------------

ROOTFS_HASH=$(
  {
    printf 'suite=%s variant=minbase mirror=%s security=%s\n' "$SUITE" "$MIRROR" "$SECURITY_MIRROR"
    cat "$HERE/debian/prepare-rootfs.sh"
  } | sha
)
TARBALL="$CACHE/debian-$SUITE-minbase-${ROOTFS_HASH:0:16}.tar"

make_rootfs() {
  local started work
  started=$(now)
  [[ "$(id -u)" -eq 0 ]] || die "making the Debian root needs root (debootstrap): run as root once, the tarball is cached in $CACHE"
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2
  fi
  mkdir -p "$CACHE"
  work=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  # debootstrap mounts /proc and /sys in the target: never leave them behind.
  # shellcheck disable=SC2064 # expand $work now
  trap "umount -R '$work/root/proc' '$work/root/sys' 2>/dev/null || true; rm -rf --one-file-system '$work'" EXIT
  say "debootstrap --variant=minbase $SUITE from $MIRROR (log: $CACHE/debootstrap.log)"
  if ! debootstrap --variant=minbase "$SUITE" "$work/root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
    tail -n 20 "$CACHE/debootstrap.log" >&2
    tail -n 20 "$work/root/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    die "debootstrap failed"
  fi
  bash "$HERE/debian/prepare-rootfs.sh" "$work/root" "$SUITE" "$MIRROR" "$SECURITY_MIRROR" >>"$CACHE/debootstrap.log" 2>&1 \
    || { tail -n 20 "$CACHE/debootstrap.log" >&2; die "preparing the Debian root failed"; }
  tar --numeric-owner --xattrs -C "$work/root" -cf "$work/rootfs.tar" .
  mv -f "$work/rootfs.tar" "$TARBALL"
  rm -rf --one-file-system "$work"
  trap - EXIT
  # Older tarballs (another recipe) are of no use any more.
  find "$CACHE" -maxdepth 1 -name "debian-$SUITE-minbase-*.tar" ! -path "$TARBALL" -delete
  say "rootfs $(basename "$TARBALL") ($(du -m "$TARBALL" | cut -f 1) MiB) in $(elapsed "$started")s"
}

ensure_base() {
  local started old
  started=$(now)
  if ((FORCE == 0)) && [[ "$(label_of "$BASE_TAG")" == "$ROOTFS_HASH" ]]; then
    say "$BASE_TAG: cached"
    return 0
  fi
  if ((FORCE)) || [[ ! -s "$TARBALL" ]]; then
    make_rootfs
  fi
  old=$(id_of "$BASE_TAG")
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --change "LABEL $LABEL=$ROOTFS_HASH" \
    --message "debootstrap --variant=minbase $SUITE, prepared by images/debian/prepare-rootfs.sh" \
    "$TARBALL" "$BASE_TAG" >/dev/null
  remove_if_unused "$old" "$BASE_TAG"
  BUILT=$((BUILT + 1))
  say "$BASE_TAG: imported in $(elapsed "$started")s"
}

# The image a tag pointed to before a rebuild, when nothing uses it any more.
remove_if_unused() {
  local old=$1 tag=$2
  [[ -n "$old" && "$old" != "$(id_of "$tag")" ]] || return 0
  docker image rm "$old" >/dev/null 2>&1 || true
}

# --- the images -------------------------------------------------------------------------

build_image() {
  local name=$1 tag=$2 context=$REPO/$3 dockerfile=$HERE/$1/Dockerfile started hash old log
  started=$(now)
  if [[ "$3" == gobin:* ]]; then
    # The binary's cache folder (built once, under a lock): its hash below is the binary's.
    context=$("$HERE/gobin.sh" "${3#gobin:}" | tail -n 1) || die "$name: images/gobin.sh ${3#gobin:} failed"
    context=$(dirname "$context")
  fi
  [[ -f "$dockerfile" ]] || die "$name: no $dockerfile"
  [[ -d "$context" ]] || die "$name: no build context $context"
  hash=$(
    {
      printf 'base=%s\n' "$(id_of "$BASE_TAG")"
      printf 'dockerfile=%s\n' "$(sha <"$dockerfile")"
      printf 'context=%s\n' "$(hash_dir "$context")"
    } | sha
  )
  if ((FORCE == 0)) && [[ "$(label_of "$tag")" == "$hash" ]]; then
    say "$tag: cached"
    echo cached
    return 0
  fi
  old=$(id_of "$tag")
  log="$CACHE/logs/$name.log"
  mkdir -p "$CACHE/logs"
  local -a args=(build --force-rm --file "$dockerfile" --label "$LABEL=$hash" --tag "$tag")
  ((FORCE)) && args+=(--no-cache)
  args+=("$context")
  say "$tag: building"
  if ((VERBOSE)); then
    docker "${args[@]}" 2>&1 | tee "$log" >&2 || die "$name: docker build failed (log: $log)"
  elif ! docker "${args[@]}" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "$name: docker build failed (log: $log)"
  fi
  remove_if_unused "$old" "$tag"
  say "$tag: built in $(elapsed "$started")s ($(docker image inspect --format '{{ .Size }}' "$tag" | awk '{ printf "%.0f", $1 / 1048576 }') MiB)"
  echo built
}

if ! { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }; then
  die "no Docker engine answers: start one with scripts/docker-engine.sh"
fi

START=$(now)
BUILT=0
TOTAL=1
ensure_base

# The images are independent of each other: build up to $JOBS at a time, each in a
# subshell that prints "built" or "cached" to its status file (nothing: it failed).
STATUS_DIR=$(mktemp -d)
trap 'rm -rf "$STATUS_DIR"' EXIT
SELECTED=()
for spec in "${IMAGES[@]}"; do
  read -r name tag context <<<"$spec"
  if ((${#WANTED[@]} > 0)); then
    selected=0
    for wanted in "${WANTED[@]}"; do
      [[ "$wanted" == "$name" ]] && selected=1
    done
    ((selected)) || continue
  fi
  while (($(jobs -rp | wc -l) >= JOBS)); do
    wait -n || true
  done
  build_image "$name" "$tag" "$context" >"$STATUS_DIR/$name" &
  SELECTED+=("$name")
done
wait || true
FAILED=()
for name in "${SELECTED[@]}"; do
  TOTAL=$((TOTAL + 1))
  case "$(cat "$STATUS_DIR/$name")" in
    built) BUILT=$((BUILT + 1)) ;;
    cached) ;;
    *) FAILED+=("$name") ;;
  esac
done
((${#FAILED[@]} == 0)) || die "failed to build: ${FAILED[*]} (logs: $CACHE/logs/)"
say "$TOTAL images ready ($BUILT built, $((TOTAL - BUILT)) cached) in $(elapsed "$START")s"
