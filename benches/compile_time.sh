#!/usr/bin/env bash
# Compile-time cost of #[cached]: a generated crate of 200 cached functions over 50
# modules, against the same crate without the attribute. Dependencies are built first;
# each round then rebuilds only the generated crate, alternating the variants: without the
# attribute, with it, and with it but memo's `source` feature off (no code text carried).
# The binaries' sizes are printed at the end.
#
#   bash benches/compile_time.sh [rounds]                   (default 5)
#   CARGO_COMMAND=check bash benches/compile_time.sh        (no code generation)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rounds="${1:-5}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="$root/target/compile-time"

generate() { # $1: directory, $2: attribute line ("" for none), $3: extra memo options
    local dir="$1" attr="$2" options="${3:-}"
    mkdir -p "$dir/src"
    cat > "$dir/Cargo.toml" <<TOML
[package]
name = "$(basename "$dir")"
version = "0.1.0"
edition = "2024"

[dependencies]
memo = { package = "memo-persist", path = "$root"$options }

[workspace]
TOML
    cp "$root/Cargo.lock" "$dir/Cargo.lock"
    {
        echo "#![allow(dead_code)]"
        for m in $(seq 0 49); do echo "pub mod m$m;"; done
        echo "fn main() { println!(\"{}\", m0::f0_0(1)); }"
    } > "$dir/src/main.rs"
    for m in $(seq 0 49); do
        {
            echo "const SCALE: u64 = $((m + 2));"
            echo "fn helper(x: u64) -> u64 { x.wrapping_mul(SCALE).rotate_left(3) }"
            for f in 0 1 2 3; do
                [ -n "$attr" ] && echo "$attr"
                echo "pub fn f${m}_$f(x: u64) -> u64 {"
                echo "    let mut acc = x;"
                echo "    for i in 0..$((f + 3)) { acc = helper(acc ^ i); }"
                echo "    acc"
                echo "}"
            done
        } > "$dir/src/m$m.rs"
    done
}

generate "$work/plain_crate" ""
generate "$work/cached_crate" "#[memo::cached]"
generate "$work/sourceless_crate" "#[memo::cached]" ", default-features = false"

build() { # prints seconds for a rebuild of the crate in $1
    touch "$1"/src/*.rs
    local start end
    start=$(date +%s%N)
    cargo "${CARGO_COMMAND:-build}" --quiet --manifest-path "$1/Cargo.toml"
    end=$(date +%s%N)
    echo "scale=2; ($end - $start) / 1000000000" | bc
}

echo "warming up: building memo and its dependencies once"
build "$work/plain_crate" > /dev/null
build "$work/cached_crate" > /dev/null
build "$work/sourceless_crate" > /dev/null

plain=() cached=() sourceless=()
for round in $(seq 1 "$rounds"); do
    plain+=("$(build "$work/plain_crate")")
    cached+=("$(build "$work/cached_crate")")
    sourceless+=("$(build "$work/sourceless_crate")")
    echo "round $round: without #[cached] ${plain[-1]}s, with ${cached[-1]}s, with and no source ${sourceless[-1]}s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
p=$(median "${plain[@]}") c=$(median "${cached[@]}")
echo "median: without ${p}s, with ${c}s, ratio $(echo "scale=2; $c / $p" | bc)x, overhead $(echo "scale=2; $c - $p" | bc)s for 200 functions"
s=$(median "${sourceless[@]}")
echo "median with the source feature off: ${s}s"
if [ "${CARGO_COMMAND:-build}" = build ]; then
    for crate in plain_crate cached_crate sourceless_crate; do
        echo "binary $crate: $(stat -c %s "$CARGO_TARGET_DIR/debug/$crate") bytes"
    done
fi
