#!/usr/bin/env bash
# The macro's share of `cargo check` on a large real crate: redb's sources (30k+ lines)
# copied into a package that depends on memo, plus one module of functions that use redb's
# own API (a database in memory, a write, a read), checked with and without
# `#[memo::cached]` on them. Each cached function reaches a large part of the crate, so the
# closure walk does real work; the package index (every file parsed) is built once per
# compiler process either way.
#
#   bash benches/compile_share.sh REDB_CHECKOUT [functions] [rounds]   (20, 3)
#
# REDB_CHECKOUT is a git checkout of redb (its HEAD is used).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
redb="${1:?usage: compile_share.sh REDB_CHECKOUT [functions] [rounds]}"
functions="${2:-20}"
rounds="${3:-3}"
work="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="$root/target/compile-share"

make_package() { # $1: directory, $2: attribute line ("" for none)
    local dir="$1" attr="$2"
    mkdir -p "$dir"
    git -C "$redb" archive HEAD src | tar -x -C "$dir"
    cat > "$dir/Cargo.toml" <<TOML
[package]
name = "$(basename "$dir")"
version = "0.1.0"
edition = "2024"

[dependencies]
memo = { package = "memo-persist", path = "$root" }

[features]
default = ["std"]
std = []
logging = []

[lints.rust]
unexpected_cfgs = "allow"

[workspace]
TOML
    cp "$root/Cargo.lock" "$dir/Cargo.lock"
    echo "pub mod memo_bench;" >> "$dir/src/lib.rs"
    {
        echo "use crate::{ReadableDatabase, ReadableTable, TableDefinition};"
        echo "const TABLE: TableDefinition<u64, u64> = TableDefinition::new(\"t\");"
        for i in $(seq 1 "$functions"); do
            [ -n "$attr" ] && echo "$attr"
            cat <<RUST
pub fn roundtrip_$i(n: u64) -> u64 {
    let db = crate::Database::builder()
        .create_with_backend(crate::backends::InMemoryBackend::new())
        .unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(TABLE).unwrap();
        table.insert(&n, &(n + $i)).unwrap();
    }
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    let table = read.open_table(TABLE).unwrap();
    table.get(&n).unwrap().unwrap().value()
}
RUST
        done
    } > "$dir/src/memo_bench.rs"
}

make_package "$work/plain_copy" ""
make_package "$work/cached_copy" "#[memo::cached]"
lines=$(cat "$work/plain_copy"/src/*.rs "$work/plain_copy"/src/*/*.rs 2>/dev/null | wc -l)

check() { # prints seconds for a re-check of the package in $1
    touch "$1"/src/lib.rs
    local start end
    start=$(date +%s%N)
    cargo check --quiet --manifest-path "$1/Cargo.toml" 2> "$work/check.log" || {
        cat "$work/check.log" >&2
        exit 1
    }
    end=$(date +%s%N)
    echo "scale=2; ($end - $start) / 1000000000" | bc
}

echo "warming up: checking memo, its dependencies and both packages once ($lines lines)"
check "$work/plain_copy" > /dev/null
check "$work/cached_copy" > /dev/null

plain=() cached=()
for round in $(seq 1 "$rounds"); do
    plain+=("$(check "$work/plain_copy")")
    cached+=("$(check "$work/cached_copy")")
    echo "round $round: without #[cached] ${plain[-1]}s, with ${cached[-1]}s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
p=$(median "${plain[@]}") c=$(median "${cached[@]}")
echo "median over $lines lines and $functions cached functions: without ${p}s, with ${c}s, macro share $(echo "scale=1; 100 * ($c - $p) / $c" | bc)%, $(echo "scale=1; 1000 * ($c - $p) / $functions" | bc) ms a function"
