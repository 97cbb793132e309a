# Shared by deploy/install.sh and deploy/install-cue-device.sh (sourced, not run).
# Everything here is idempotent: a file is written only when its content differs,
# a user is created only when missing, a release is built only once.
# shellcheck shell=bash

ROOT="${ROOT:-}"   # install into this directory instead of / (tests, image building)
# Set by the functions below for the installer that sources this file.
# shellcheck disable=SC2034
CHANGED=0 NEW_SECRETS=0

say() { echo "${PROG}: $*"; }
die() { echo "${PROG}: error: $*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 ...)"
}

# ensure_user NAME HOME GROUP...: a system user with its own group, in GROUPs.
ensure_user() {
    local name=$1 home=$2
    shift 2
    local groups
    groups=$(IFS=,; echo "$*")
    local rootopt=()
    [ -n "$ROOT" ] && rootopt=(--root "$ROOT")
    if ! grep -q "^${name}:" "$ROOT/etc/passwd"; then
        useradd "${rootopt[@]}" --system --user-group --home-dir "$home" --no-create-home \
            --shell /usr/sbin/nologin ${groups:+--groups "$groups"} "$name" 2>/dev/null \
            || die "could not create the user $name"
        say "created system user $name${groups:+ (groups: $groups)}"
    else
        local g
        for g in "$@"; do
            if ! grep -E "^${g}:[^:]*:[^:]*:(.*,)?${name}(,.*)?$" "$ROOT/etc/group" >/dev/null; then
                usermod "${rootopt[@]}" --append --groups "$g" "$name"
                say "added $name to $g"
            fi
        done
    fi
}

# id_of passwd|group NAME: the numeric id in the target root.
id_of() {
    awk -F: -v n="$2" '$1 == n { print $3; found = 1 } END { exit !found }' "$ROOT/etc/$1" \
        || die "no $1 entry $2 in $ROOT/etc/$1"
}

# owner USER GROUP: "uid:gid" in the target root (names may not exist on this host).
owner() {
    echo "$(id_of passwd "$1"):$(id_of group "$2")"
}

# ensure_dir PATH MODE UID:GID
ensure_dir() {
    mkdir -p "$1"
    chmod "$2" "$1"
    chown "$3" "$1"
}

# put_file SRC DEST MODE UID:GID: copy when the content differs; always set mode/owner.
put_file() {
    local src=$1 dest=$2
    mkdir -p "$(dirname "$dest")"
    if [ ! -e "$dest" ] || ! cmp -s "$src" "$dest"; then
        cp "$src" "$dest.new"
        chmod "$3" "$dest.new"
        chown "$4" "$dest.new"
        mv -f "$dest.new" "$dest"
        say "wrote ${dest#"$ROOT"}"
        CHANGED=1
    fi
    chmod "$3" "$dest"
    chown "$4" "$dest"
}

# put_text DEST MODE UID:GID <<< TEXT
put_text() {
    local tmp
    tmp=$(mktemp)
    cat > "$tmp"
    put_file "$tmp" "$1" "$2" "$3"
    rm -f "$tmp"
}

# secret FILE MODE UID:GID: a random secret in FILE, made once.
secret() {
    if [ ! -s "$1" ]; then
        mkdir -p "$(dirname "$1")"
        (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$1")
        say "generated ${1#"$ROOT"}"
        # shellcheck disable=SC2034
        NEW_SECRETS=1
    fi
    chmod "$2" "$1"
    chown "$3" "$1"
}

# install_release BASE NAME MARKER PIP_ARGS...: a virtual environment in
# BASE/releases/NAME holding the release, built once. MARKER says what was
# installed; a directory without it (an interrupted install) is rebuilt.
install_release() {
    local base=$1 name=$2 marker=$3
    shift 3
    local dir="$base/releases/$name"
    if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$marker" ]; then
        return 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    say "installing release $name into ${dir#"$ROOT"}"
    python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "$@" \
        || die "pip could not install the release (see above); nothing was switched"
    # The serial path's compiled part, built for this machine and checked against the
    # Python path (firmware_bridge/speedups); without it the release runs, slower.
    if "$dir/venv/bin/python" -m firmware_bridge.speedups build > "$dir/speedups.log" 2>&1; then
        say "compiled speed-ups built and checked"
    else
        say "WARNING: no compiled speed-ups, the service decodes in Python (see ${dir#"$ROOT"}/speedups.log)"
    fi
    echo "$marker" > "$dir/.installed"
    # shellcheck disable=SC2034
    CHANGED=1
}

# switch_release BASE NAME: point BASE/current at the release, atomically
# (rename of a symlink); the release it pointed at becomes BASE/previous.
switch_release() {
    local base=$1 target="releases/$2"
    local now=""
    [ -L "$base/current" ] && now=$(readlink "$base/current")
    [ "$now" = "$target" ] && return 0
    ln -sfn "$target" "$base/current.new"
    mv -T "$base/current.new" "$base/current"
    if [ -n "$now" ]; then
        ln -sfn "$now" "$base/previous.new"
        mv -T "$base/previous.new" "$base/previous"
    fi
    say "now running ${target#releases/}${now:+ (was ${now#releases/}; --rollback returns to it)}"
    # shellcheck disable=SC2034
    CHANGED=1
}

# rollback_release BASE: swap current and previous.
rollback_release() {
    local base=$1
    [ -L "$base/previous" ] || die "no previous release to roll back to"
    local now prev
    now=$(readlink "$base/current")
    prev=$(readlink "$base/previous")
    [ -d "$base/$prev" ] || die "the previous release ${prev#releases/} is gone"
    ln -sfn "$prev" "$base/current.new"
    mv -T "$base/current.new" "$base/current"
    ln -sfn "$now" "$base/previous.new"
    mv -T "$base/previous.new" "$base/previous"
    say "rolled back from ${now#releases/} to ${prev#releases/}"
}

# ensure_packages PKG...: apt-get install what is missing (not into another root).
ensure_packages() {
    [ -n "$ROOT" ] && return 0
    local missing=() pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

# resolve_release: from WHEEL or VERSION (and PIP_OPTS), set SOURCE (what pip
# installs), MARKER (what a built release records) and RELEASE (its name).
# shellcheck disable=SC2034  # the installers use what it sets
resolve_release() {
    if [ -n "$WHEEL" ]; then
        [ -f "$WHEEL" ] || die "$WHEEL: no such file"
        WHEEL=$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")
        VERSION=${VERSION:-$(release_of "$WHEEL")}
        MARKER="wheel $(sha256sum "$WHEEL" | cut -d' ' -f1) ${PIP_OPTS[*]:-}"
        SOURCE=("$WHEEL")
    elif [ -n "$VERSION" ]; then
        MARKER="index ${DIST:-stridesync}==$VERSION ${PIP_OPTS[*]:-}"
        SOURCE=("${DIST:-stridesync}==$VERSION")
    else
        die "say which release: --wheel FILE or --version V"
    fi
    RELEASE=${RELEASE:-$VERSION}
    [[ "$RELEASE" =~ ^[A-Za-z0-9._+-]+$ ]] || die "bad release name $RELEASE"
}

# release_of WHEEL: the version in a wheel's file name.
release_of() {
    local w
    w=$(basename "$1")
    w=${w#*-}
    echo "${w%%-*}"
}

# systemd UNIT...: reload and (re)start, unless installing into another root.
restart_units() {
    if [ -n "$ROOT" ] || [ "${NO_START:-0}" = 1 ]; then
        return 0
    fi
    systemctl daemon-reload
    systemctl enable --quiet "$@"
    systemctl restart "$@"
}

# release_option ARGS...: one of the options both installers take (--wheel, --version,
# --release, --pip-option, --rollback, --root, --no-start, --help). Sets WORDS to how
# many arguments it used, 0 if "$1" is not one of them.
# shellcheck disable=SC2034  # the options set the installer's variables
release_option() {
    WORDS=1
    case "$1" in
        --wheel) WHEEL=$2; WORDS=2 ;;
        --version) VERSION=$2; WORDS=2 ;;
        --release) RELEASE=$2; WORDS=2 ;;
        --pip-option=*) PIP_OPTS+=("${1#--pip-option=}") ;;
        --pip-option) PIP_OPTS+=("$2"); WORDS=2 ;;
        --rollback) ROLLBACK=1 ;;
        --root) ROOT=$(cd "$2" && pwd); WORDS=2 ;;
        --no-start) NO_START=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//; /^set -euo/d'; exit 0 ;;
        *) WORDS=0 ;;
    esac
}
