//! A readable rendering of a stored result, for the types whose postcard encoding can be
//! read from the type's name alone: numbers, text, `Vec`, `Option`, maps, tuples, arrays.
//! Anything else (a struct of the user's) stays bytes — unless it was stored as CBOR (see
//! the runtime's codec), which describes itself.

use serde_json::{Map, Number, Value};

/// A type as written in a signature, reduced to what decoding needs.
#[derive(Debug, PartialEq)]
enum Shape {
    Named(String, Vec<Shape>),
    Tuple(Vec<Shape>),
    Array(Box<Shape>, usize),
}

/// The stored bytes of a value of type `type_name`, as JSON, if the type is one this
/// reader knows and the bytes decode into it exactly.
pub fn render(type_name: &str, bytes: &[u8]) -> Option<Value> {
    // A result that describes itself needs no type (text keys only: JSON has no others).
    if let Some(mut cbor) = memo_runtime::raw::cbor_payload(bytes) {
        return ciborium::from_reader(&mut cbor).ok();
    }
    let mut parser = Parser {
        text: type_name.as_bytes(),
        at: 0,
    };
    let shape = parser.shape()?;
    if parser.at != parser.text.len() {
        return None;
    }
    let mut reader = Reader { bytes, at: 0 };
    let value = reader.value(&shape)?;
    (reader.at == bytes.len()).then_some(value)
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn eat(&mut self, c: u8) -> bool {
        let found = self.text.get(self.at) == Some(&c);
        self.at += usize::from(found);
        found
    }

    fn list(&mut self, close: u8) -> Option<Vec<Shape>> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Some(items);
        }
        loop {
            items.push(self.shape()?);
            if self.eat(close) {
                return Some(items);
            }
            if !self.eat(b',') {
                return None;
            }
            if self.eat(close) {
                return Some(items);
            }
        }
    }

    fn shape(&mut self) -> Option<Shape> {
        if self.eat(b'(') {
            return Some(Shape::Tuple(self.list(b')')?));
        }
        if self.eat(b'[') {
            let inner = self.shape()?;
            if !self.eat(b';') {
                return None;
            }
            let start = self.at;
            while self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
                self.at += 1;
            }
            let n = std::str::from_utf8(&self.text[start..self.at])
                .ok()?
                .parse()
                .ok()?;
            return self.eat(b']').then(|| Shape::Array(Box::new(inner), n));
        }
        let start = self.at;
        while self
            .text
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
        {
            self.at += 1;
        }
        let path = std::str::from_utf8(&self.text[start..self.at]).ok()?;
        let name = path.rsplit("::").next()?.to_owned();
        if name.is_empty() {
            return None;
        }
        let args = if self.eat(b'<') {
            self.list(b'>')?
        } else {
            Vec::new()
        };
        Some(Shape::Named(name, args))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }

    fn varint(&mut self) -> Option<u128> {
        let mut out: u128 = 0;
        for shift in (0..19 * 7).step_by(7) {
            let byte = *self.take(1)?.first()?;
            out |= u128::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(out);
            }
        }
        None
    }

    fn signed(&mut self) -> Option<i128> {
        let raw = self.varint()?;
        Some(((raw >> 1) as i128) ^ -((raw & 1) as i128))
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?).ok()
    }

    fn text(&mut self) -> Option<String> {
        let len = self.len()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }

    fn number(n: impl ToString) -> Option<Value> {
        serde_json::from_str::<Number>(&n.to_string())
            .ok()
            .map(Value::Number)
    }

    fn value(&mut self, shape: &Shape) -> Option<Value> {
        match shape {
            Shape::Tuple(items) => items
                .iter()
                .map(|s| self.value(s))
                .collect::<Option<_>>()
                .map(Value::Array),
            Shape::Array(inner, n) => (0..*n)
                .map(|_| self.value(inner))
                .collect::<Option<_>>()
                .map(Value::Array),
            Shape::Named(name, args) => self.named(name, args),
        }
    }

    fn named(&mut self, name: &str, args: &[Shape]) -> Option<Value> {
        match (name, args) {
            ("u8", []) => Self::number(self.take(1)?[0]),
            ("i8", []) => Self::number(self.take(1)?[0] as i8),
            ("u16" | "u32" | "u64" | "u128" | "usize", []) => Self::number(self.varint()?),
            ("i16" | "i32" | "i64" | "i128" | "isize", []) => Self::number(self.signed()?),
            ("f32", []) => {
                let x = f32::from_le_bytes(self.take(4)?.try_into().ok()?);
                Some(Number::from_f64(f64::from(x)).map_or(Value::Null, Value::Number))
            }
            ("f64", []) => {
                let x = f64::from_le_bytes(self.take(8)?.try_into().ok()?);
                Some(Number::from_f64(x).map_or(Value::Null, Value::Number))
            }
            ("bool", []) => match self.take(1)?[0] {
                0 => Some(Value::Bool(false)),
                1 => Some(Value::Bool(true)),
                _ => None,
            },
            ("String" | "str" | "char" | "PathBuf", []) => self.text().map(Value::String),
            ("Option", [inner]) => match self.take(1)?[0] {
                0 => Some(Value::Null),
                1 => self.value(inner),
                _ => None,
            },
            ("Box" | "Arc" | "Rc" | "Memo", [inner]) => self.value(inner),
            ("Vec" | "VecDeque" | "HashSet" | "BTreeSet", [inner]) => {
                let len = self.len()?;
                (0..len)
                    .map(|_| self.value(inner))
                    .collect::<Option<_>>()
                    .map(Value::Array)
            }
            ("HashMap" | "BTreeMap", [key, value]) => {
                let len = self.len()?;
                let pairs: Vec<(Value, Value)> = (0..len)
                    .map(|_| Some((self.value(key)?, self.value(value)?)))
                    .collect::<Option<_>>()?;
                if pairs.iter().all(|(k, _)| k.is_string()) {
                    let map: Map<String, Value> = pairs
                        .into_iter()
                        .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), v))
                        .collect();
                    Some(Value::Object(map))
                } else {
                    Some(Value::Array(
                        pairs
                            .into_iter()
                            .map(|(k, v)| Value::Array(vec![k, v]))
                            .collect(),
                    ))
                }
            }
            ("Duration", []) => {
                let secs = self.varint()?;
                let nanos = self.varint()?;
                Some(Value::String(
                    format!("{}", secs as f64 + nanos as f64 / 1e9) + "s",
                ))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::render;
    use serde_json::json;

    #[test]
    fn renders_the_types_it_knows() {
        assert_eq!(render("Vec<u8>", &[2, 7, 9]), Some(json!([7, 9])));
        assert_eq!(
            render("std::string::String", &[2, b'h', b'i']),
            Some(json!("hi"))
        );
        assert_eq!(render("Option<u32>", &[0]), Some(json!(null)));
        assert_eq!(render("Option<u32>", &[1, 0xac, 0x02]), Some(json!(300)));
        assert_eq!(render("i64", &[3]), Some(json!(-2)));
        assert_eq!(render("(u8,bool)", &[4, 1]), Some(json!([4, true])));
        assert_eq!(render("[u8;2]", &[4, 5]), Some(json!([4, 5])));
        assert_eq!(render("f64", &1.5f64.to_le_bytes()), Some(json!(1.5)));
        assert_eq!(
            render("BTreeMap<String,u8>", &[1, 1, b'a', 7]),
            Some(json!({"a": 7}))
        );
    }

    #[test]
    fn guesses_nothing() {
        assert_eq!(render("MyStruct", &[1]), None, "unknown types stay bytes");
        assert_eq!(
            render("u8", &[1, 2]),
            None,
            "trailing bytes are not ignored"
        );
        assert_eq!(
            render("String", &[5, b'a']),
            None,
            "short input is not padded"
        );
        assert_eq!(render("Vec<", &[0]), None);
    }
}
