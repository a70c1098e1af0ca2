#!/usr/bin/env bash
# Builds a root file system that stands in for a container image in tests (see docs/testing.md).
#
#   build-rootfs.sh KIND DEST
#
# KIND is `python` (what python:3.12-slim offers a task: sh + coreutils, python3 with its standard
# library) or `busybox` (what busybox:* offers: sh and coreutils, no python). DEST must not exist
# or be empty. Packages come from Debian through `apt-get download` and are unpacked with
# `dpkg -x`: no maintainer scripts run, no chroot, no root needed (a few seconds; 60 MB for python).
# index.ts hashes this file to name the cached root: any change here rebuilds the stand-ins.
set -euo pipefail

die() { echo "build-rootfs.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: build-rootfs.sh python|busybox DEST"
kind=$1
dest=$2

case "$kind" in
  busybox)
    packages=(busybox-static)
    ;;
  python)
    # python3-minimal gives /usr/bin/python3; libpython3.11-stdlib the modules beyond the minimal
    # set (json, urllib, http.client, tarfile, gzip, ssl, subprocess, tempfile, ...); the rest are
    # the shared libraries their extension modules load (checked by importing them in the root).
    # dash (the image's /bin/sh) and mawk (its awk) are Priority: required in Debian, so in every
    # debian-slim image; busybox's sh would run busybox's own applets first, and its awk has no
    # maths (log(), ^), which a shell step may use.
    packages=(busybox-static dash mawk
      python3-minimal python3.11-minimal libpython3.11-minimal libpython3.11-stdlib
      libc6 libgcc-s1 libexpat1 zlib1g libssl3 libffi8 libbz2-1.0 liblzma5 libcrypt1 libuuid1
      libsqlite3-0 libncursesw6 libtinfo6 libreadline8 media-types ca-certificates)
    ;;
  *)
    die "unknown kind '$kind' (known: python, busybox)"
    ;;
esac

command -v apt-get >/dev/null 2>&1 || die "apt-get is not installed (the stand-ins are built from Debian packages)"
command -v dpkg >/dev/null 2>&1 || die "dpkg is not installed (the stand-ins are built from Debian packages)"

if [ -e "$dest" ] && [ -n "$(ls -A "$dest")" ]; then
  die "destination $dest exists and is not empty"
fi
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

# apt-get download needs package lists; fetch them only when there are none yet.
if ! apt-cache show busybox-static >/dev/null 2>&1; then
  apt-get update -qq >&2 || die "apt-get update failed"
fi

debs=$(mktemp -d)
trap 'rm -rf "$debs"' EXIT
# As root, apt downloads as the `_apt` user: let it write into the temporary directory.
if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$debs"; fi
(cd "$debs" && apt-get download -qq "${packages[@]}" >&2) || die "apt-get download of ${packages[*]} failed"

for deb in "$debs"/*.deb; do
  dpkg -x "$deb" "$dest" || die "dpkg -x $(basename "$deb") failed"
done

# dash's and mawk's maintainer scripts would make them /bin/sh and /usr/bin/awk; dpkg -x runs no scripts.
if [ -e "$dest/bin/dash" ] && [ ! -e "$dest/bin/sh" ]; then ln -s dash "$dest/bin/sh"; fi
if [ -e "$dest/usr/bin/mawk" ] && [ ! -e "$dest/usr/bin/awk" ]; then ln -s mawk "$dest/usr/bin/awk"; fi

# busybox's applets as links, at the paths busybox itself lists (bin/sh, usr/bin/wget, ...);
# never over a file a package already installed (python3-minimal's, for example). The static
# binary runs on the host, so it lists its own applets; perl (Essential on Debian) makes the ~400
# links in one process instead of ~400 `ln` processes.
"$dest/bin/busybox" --list-full | perl -e '
  my $root = shift;
  while (my $applet = <STDIN>) {
    chomp $applet;
    my $path = "$root/$applet";
    next if -e $path || -l $path;
    (my $dir = $path) =~ s{/[^/]+$}{};
    system("mkdir", "-p", $dir) == 0 or die "mkdir $dir failed\n" unless -d $dir;
    symlink("/bin/busybox", $path) or die "symlink $path: $!\n";
  }' "$dest"

if [ "$kind" = python ]; then
  # The python image has its interpreter in /usr/local/bin, with `python` next to `python3`.
  mkdir -p "$dest/usr/local/bin"
  ln -s /usr/bin/python3 "$dest/usr/local/bin/python3"
  ln -s /usr/bin/python3 "$dest/usr/local/bin/python"
  # ca-certificates' maintainer script would build this bundle; dpkg -x runs no scripts.
  mkdir -p "$dest/etc/ssl/certs"
  cat "$dest"/usr/share/ca-certificates/mozilla/*.crt >"$dest/etc/ssl/certs/ca-certificates.crt"
  # Debian's packages ship no .pyc (their maintainer scripts compile them, as the python image
  # ships them); the tests mount the root read-only, so without them every container would compile
  # what it imports (urllib, json, ssl, tarfile: ~1.2 s instead of ~0.3 s under load). Compile
  # with the root's own python, inside the root.
  command -v bwrap >/dev/null 2>&1 || die "bwrap (bubblewrap) is not installed (needed to compile the python stand-in's standard library)"
  env -i bwrap --bind "$dest" / --proc /proc --dev /dev -- \
    /usr/bin/python3 -m compileall -q -j0 /usr/lib/python3.11 >/dev/null \
    || die "compiling the python stand-in's standard library failed"
fi

# What images have and tools expect: users, name resolution, and the mount points the sandbox
# covers with fresh tmpfs (the root itself is mounted read-only).
mkdir -p "$dest"/{etc,tmp,root,var/tmp,run,proc,dev,sys}
chmod 1777 "$dest/tmp" "$dest/var/tmp"
chmod 700 "$dest/root"
echo 'root:x:0:0:root:/root:/bin/sh' >"$dest/etc/passwd"
echo 'root:x:0:' >"$dest/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$dest/etc/hosts"
: >"$dest/etc/resolv.conf"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$dest/etc/nsswitch.conf"
echo "$kind" >"$dest/etc/metaflow-cdk-stand-in"
