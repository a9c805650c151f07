//! What the shared tier keeps in Redis: one self-contained value per key, and the names
//! of the keys.
//!
//! A value is a header — magic `MEMO`, format, flags, when it was computed, when it
//! expires — then what entry it is (its function, code fingerprint and tags: the length,
//! then postcard), then the result's stored bytes, then a 32-byte MAC: keyed blake3, under
//! a key derived from the shared secret, over the Redis key and everything before the MAC.
//! A value whose MAC fails (tampered with, another secret, or moved to another key) is
//! refused.
//!
//! Keys are `memo:<namespace>:<fingerprint, 16 hex>:{<entry key, 64 hex>}`: the function's
//! code version, then the entry in braces, a cluster hash tag, so that an entry and its
//! lock (`memo:<namespace>:lock:{<entry key>}`) land on one slot.

use crate::Digest;

/// The first bytes of every value.
const MAGIC: &[u8; 4] = b"MEMO";
/// The value format this code writes and reads.
pub(crate) const VALUE_FORMAT: u8 = 1;
/// Magic, format, flags, created, expires.
const HEADER: usize = 4 + 1 + 1 + 8 + 8;
const MAC: usize = 32;

/// The MAC key, derived from the shared secret.
#[derive(Clone)]
pub(crate) struct Secret([u8; 32]);

impl Secret {
    /// The key for MACs made with `secret`.
    pub(crate) fn derive(secret: &[u8]) -> Secret {
        Secret(blake3::derive_key("memo shared tier v1 value MAC", secret))
    }

    fn mac(&self, key: &str, body: &[u8]) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(&(key.len() as u64).to_le_bytes());
        hasher.update(key.as_bytes());
        hasher.update(body);
        *hasher.finalize().as_bytes()
    }
}

/// What entry a value is: enough to store it locally on a machine that never ran it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Meta {
    pub function: String,
    pub fingerprint: [u8; 32],
    pub tags: Vec<String>,
    /// The content hashes of the `Memo` arguments it was computed from.
    pub inputs: Vec<[u8; 32]>,
    /// The arguments' readable form, if recorded: written after the fields above, inside
    /// the entry's length, so a reader that does not know it reads the rest as before.
    #[serde(skip)]
    pub args: Option<String>,
    /// The call's identity across code versions, if recorded: after the fields above,
    /// with `args`.
    #[serde(skip)]
    pub call: Option<[u8; 32]>,
}

/// What a value's entry carries after the fields every reader knows.
#[derive(serde::Serialize, serde::Deserialize)]
struct Extra {
    args: Option<String>,
    call: Option<[u8; 32]>,
}

/// A value read back and checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Value<'a> {
    pub created_ms: u64,
    pub expires_ms: Option<u64>,
    pub meta: Meta,
    pub payload: &'a [u8],
}

/// Why a value was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not a value of this format: too short, another magic or format.
    Unreadable,
    /// Its MAC does not match: tampered with, another secret, or another key's value.
    Mac,
}

/// The value stored under `key` for a result of the entry `meta` whose stored bytes are
/// `payload`.
pub(crate) fn seal(
    secret: &Secret,
    key: &str,
    created_ms: u64,
    expires_ms: Option<u64>,
    meta: &Meta,
    payload: &[u8],
) -> Vec<u8> {
    let mut meta_bytes = postcard::to_stdvec(meta).expect("a Meta always encodes");
    if meta.args.is_some() || meta.call.is_some() {
        let extra = Extra {
            args: meta.args.clone(),
            call: meta.call,
        };
        meta_bytes.extend(postcard::to_stdvec(&extra).expect("an Extra always encodes"));
    }
    let meta = meta_bytes;
    let mut value = Vec::with_capacity(HEADER + 4 + meta.len() + payload.len() + MAC);
    value.extend_from_slice(MAGIC);
    value.push(VALUE_FORMAT);
    value.push(0); // flags: none yet
    value.extend_from_slice(&created_ms.to_le_bytes());
    value.extend_from_slice(&expires_ms.unwrap_or(0).to_le_bytes());
    value.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    value.extend_from_slice(&meta);
    value.extend_from_slice(payload);
    let mac = secret.mac(key, &value);
    value.extend_from_slice(&mac);
    value
}

/// The value read from `key`, if its format is this one and its MAC holds.
pub(crate) fn open<'a>(secret: &Secret, key: &str, value: &'a [u8]) -> Result<Value<'a>, Refused> {
    if value.len() < HEADER + 4 + MAC || &value[..4] != MAGIC || value[4] != VALUE_FORMAT {
        return Err(Refused::Unreadable);
    }
    let (body, mac) = value.split_at(value.len() - MAC);
    let expected = secret.mac(key, body);
    // Compared in constant time: blake3's hashes compare so.
    if blake3::Hash::from(expected)
        != blake3::Hash::from(<[u8; 32]>::try_from(mac).expect("32 bytes"))
    {
        return Err(Refused::Mac);
    }
    let word = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
    let meta_len =
        u32::from_le_bytes(body[HEADER..HEADER + 4].try_into().expect("4 bytes")) as usize;
    let rest = &body[HEADER + 4..];
    if meta_len > rest.len() {
        return Err(Refused::Unreadable);
    }
    let (meta, payload) = rest.split_at(meta_len);
    let (mut meta, trailer) =
        postcard::take_from_bytes::<Meta>(meta).map_err(|_| Refused::Unreadable)?;
    if let Ok(extra) = postcard::from_bytes::<Extra>(trailer) {
        meta.args = extra.args;
        meta.call = extra.call;
    }
    let expires = word(14);
    Ok(Value {
        created_ms: word(6),
        expires_ms: (expires != 0).then_some(expires),
        meta,
        payload,
    })
}

/// The entry key in an entry's Redis key: what its braces hold.
pub(crate) fn entry_of(key: &str) -> Option<Digest> {
    let inner = key.rsplit_once('{')?.1.strip_suffix('}')?;
    inner.parse().ok()
}

/// The Redis key of entry `key`, of a function whose code has `fingerprint`.
pub(crate) fn entry_key(namespace: &str, fingerprint: &[u8; 32], key: &Digest) -> String {
    format!("memo:{namespace}:{}:{{{key}}}", hex(&fingerprint[..8]))
}

/// The Redis key of the lock on entry `key`: the same hash tag, so the same cluster slot.
pub(crate) fn lock_key(namespace: &str, key: &Digest) -> String {
    format!("memo:{namespace}:lock:{{{key}}}")
}

/// The Redis key of an index of a namespace: the values of a function (`fn`, its name),
/// of a tag (`tag`), or all of them (`all`).
pub(crate) fn index_key(namespace: &str, kind: &str, name: &str) -> String {
    if name.is_empty() {
        format!("memo:{namespace}:index:{kind}")
    } else {
        format!("memo:{namespace}:index:{kind}:{name}")
    }
}

/// Whether `key`, an entry's Redis key, is of the code whose fingerprint is `fingerprint`.
pub(crate) fn is_of_version(key: &str, fingerprint: &[u8; 32]) -> bool {
    key.split(':').nth(2) == Some(hex(&fingerprint[..8]).as_str())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `seal(derive("s"), <the golden key>, 1, Some(2), meta(), "xyz")`: header, entry,
    /// payload, MAC.
    const GOLDEN_VALUE: &str = concat!(
        "4d454d4f",
        "01",
        "00",
        "0100000000000000",
        "0200000000000000",
        // The entry: 48 bytes of postcard — "app::train", thirty-two 9s, ["ml"], no inputs.
        "30000000",
        "0a",
        "6170703a3a747261696e",
        "0909090909090909090909090909090909090909090909090909090909090909",
        "01",
        "026d6c",
        "00",
        "78797a",
        "3f62d314af6e9c6dcf7b93686f7e0caa57c9bc5a7d8df6a497ed4678da540375",
    );

    fn secret() -> Secret {
        Secret::derive(b"team secret")
    }

    fn meta() -> Meta {
        Meta {
            function: "app::train".into(),
            fingerprint: [9; 32],
            tags: vec!["ml".into()],
            inputs: Vec::new(),
            args: None,
            call: None,
        }
    }

    #[test]
    fn the_arguments_travel_after_the_entry_and_older_readers_skip_them() {
        let key = entry_key("team", &[9; 32], &Digest([1; 32]));
        let with = Meta {
            args: Some("rows = 3".into()),
            call: Some([7; 32]),
            ..meta()
        };
        let value = seal(&secret(), &key, 1, None, &with, b"xyz");
        let opened = open(&secret(), &key, &value).unwrap();
        assert_eq!(opened.meta, with);
        assert_eq!(opened.payload, b"xyz");
        // What a reader of the first format reads: the fields it knows, nothing misread.
        let meta_len = u32::from_le_bytes(value[HEADER..HEADER + 4].try_into().unwrap());
        let section = &value[HEADER + 4..HEADER + 4 + meta_len as usize];
        let old: Meta = postcard::from_bytes(section).unwrap();
        assert_eq!(old, meta());
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_secret_only() {
        let key = "memo:ns:0011223344556677:{ab}";
        let value = seal(
            &secret(),
            key,
            1_700_000_000_000,
            Some(1_700_003_600_000),
            &meta(),
            b"payload",
        );
        assert_eq!(
            open(&secret(), key, &value),
            Ok(Value {
                created_ms: 1_700_000_000_000,
                expires_ms: Some(1_700_003_600_000),
                meta: meta(),
                payload: b"payload",
            })
        );
        assert_eq!(
            open(&Secret::derive(b"other"), key, &value),
            Err(Refused::Mac)
        );
        assert_eq!(
            open(&secret(), "memo:ns:0011223344556677:{cd}", &value),
            Err(Refused::Mac)
        );
        for at in 0..value.len() {
            let mut bad = value.clone();
            bad[at] ^= 1;
            assert!(
                open(&secret(), key, &bad).is_err(),
                "a flip at {at} went unnoticed"
            );
        }
        assert_eq!(open(&secret(), key, &value[..20]), Err(Refused::Unreadable));
        assert_eq!(open(&secret(), key, b""), Err(Refused::Unreadable));
    }

    #[test]
    fn no_expiry_and_an_empty_payload_round_trip() {
        let value = seal(&secret(), "k", 5, None, &meta(), b"");
        let opened = open(&secret(), "k", &value).unwrap();
        assert_eq!(
            (opened.created_ms, opened.expires_ms, opened.payload),
            (5, None, &b""[..])
        );
    }

    /// The format, pinned: a change here is a new `VALUE_FORMAT`, never a silent one.
    #[test]
    fn golden_bytes_of_a_key_and_a_value() {
        let key = entry_key("team", &[0xab; 32], &Digest([0x01; 32]));
        assert_eq!(
            key,
            "memo:team:abababababababab:{0101010101010101010101010101010101010101010101010101010101010101}"
        );
        assert_eq!(
            index_key("team", "fn", "app::train"),
            "memo:team:index:fn:app::train"
        );
        assert_eq!(index_key("team", "all", ""), "memo:team:index:all");
        assert!(is_of_version(&key, &[0xab; 32]));
        assert!(!is_of_version(&key, &[0xac; 32]));
        assert_eq!(
            lock_key("team", &Digest([0x01; 32])),
            "memo:team:lock:{0101010101010101010101010101010101010101010101010101010101010101}"
        );
        let value = seal(&Secret::derive(b"s"), &key, 1, Some(2), &meta(), b"xyz");
        assert_eq!(entry_of(&key), Some(Digest([0x01; 32])));
        assert_eq!(hex(&value), GOLDEN_VALUE);
    }
}
