//! The template functions whose failures Go reports as `error calling NAME: ...`,
//! with Go's semantics and words: the builtins `index`, `slice` and `len`, and docker's
//! `pad` and `truncate` (which panic in Go on negative counts).

use gotmpl::Value;

use crate::gotypes::{self, Shape};

type R = Result<Value, String>;

fn is_nil_ptr(v: &Value) -> bool {
    matches!(v, Value::List(l) if matches!(gotypes::shape_of(l), Some(Shape::NilPtr)))
}

/// A number of the raw JSON fallback is a json.Number: a string to Go.
fn raw_text(v: &Value, data: bool) -> Option<String> {
    match v {
        Value::Int(_) | Value::Uint(_) | Value::Float(_) if data && crate::tmpl::raw() => {
            Some(v.to_string())
        }
        _ => None,
    }
}

fn type_of(v: &Value, data: bool) -> String {
    crate::tmpl::value_type(v, data)
}

/// Go's indexArg: an integer index within `cap`.
fn index_arg(k: &Value, data: bool, cap: usize) -> Result<usize, String> {
    let raw = data && crate::tmpl::raw();
    let x = match k {
        Value::Int(x) if !raw => *x as i128,
        Value::Uint(x) if !raw => *x as i128,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                type_of(other, data)
            ));
        }
    };
    if x < 0 || x > cap as i128 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn str_val(s: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(s).into_owned().into())
}

/// Go's `index ITEM KEYS...`.
pub fn index(a: &[Value], data: &[bool]) -> R {
    let d = |i: usize| data.get(i).copied().unwrap_or(true);
    let Some(mut item) = a.first().cloned() else {
        return Err("wrong number of args for index: want at least 1 got 0".into());
    };
    if matches!(item, Value::Nil) {
        return Err("index of untyped nil".into());
    }
    // (what an index reaches is data when the item is)
    for (i, k) in a.iter().enumerate().skip(1) {
        if is_nil_ptr(&item) {
            return Err("index of nil pointer".into());
        }
        if let Some(t) = raw_text(&item, d(0)) {
            item = Value::String(t.into());
        }
        item = match &item {
            Value::List(l) => {
                let x = index_arg(k, d(i), l.len())?;
                l.get(x)
                    .cloned()
                    .ok_or("reflect: slice index out of range")?
            }
            Value::String(s) => {
                let x = index_arg(k, d(i), s.len())?;
                s.as_bytes()
                    .get(x)
                    .map(|b| Value::Uint(u64::from(*b)))
                    .ok_or("reflect: string index out of range")?
            }
            Value::Map(m) if let Some(t) = gotypes::row_type(m) => {
                return Err(format!("can't index item of type {t}"));
            }
            Value::Map(m) if !matches!(gotypes::shape_of(m), Some(Shape::Struct(_))) => match k {
                Value::String(key) => match m.get(key.as_ref()) {
                    Some(v) => v.clone(),
                    None => match gotypes::shape_of(m) {
                        Some(Shape::Map(elem, _)) => gotypes::zero(elem),
                        _ => Value::Nil,
                    },
                },
                Value::Nil => return Err("value is nil; should be of type string".into()),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        type_of(other, d(i))
                    ));
                }
            },
            Value::Nil => return Err("unreachable".into()),
            other => return Err(format!("can't index item of type {}", type_of(other, d(0)))),
        };
    }
    Ok(item)
}

/// Go's `slice ITEM INDEXES...`.
pub fn slice(a: &[Value], data: &[bool]) -> R {
    let d = |i: usize| data.get(i).copied().unwrap_or(true);
    let Some(mut item) = a.first().cloned() else {
        return Err("wrong number of args for slice: want at least 1 got 0".into());
    };
    let idx = &a[1..];
    if matches!(item, Value::Nil) {
        return Err("slice of untyped nil".into());
    }
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    if let Some(t) = raw_text(&item, d(0)) {
        item = Value::String(t.into());
    }
    let len = match &item {
        Value::String(_) if idx.len() == 3 => {
            return Err("cannot 3-index slice a string".into());
        }
        Value::String(s) => s.len(),
        Value::List(l) if !is_nil_ptr(&item) => l.len(),
        other => return Err(format!("can't slice item of type {}", type_of(other, d(0)))),
    };
    let mut at = [0, len, len];
    for (i, k) in idx.iter().enumerate() {
        at[i] = index_arg(k, d(i + 1), len)?;
    }
    if at[0] > at[1] {
        return Err(format!("invalid slice index: {} > {}", at[0], at[1]));
    }
    if idx.len() == 3 && at[1] > at[2] {
        return Err(format!("invalid slice index: {} > {}", at[1], at[2]));
    }
    Ok(match &item {
        Value::String(s) => str_val(&s.as_bytes()[at[0]..at[1]]),
        Value::List(l) => Value::List(l[at[0]..at[1]].to_vec().into()),
        _ => Value::Nil,
    })
}

/// Go's `len ITEM`.
pub fn len(a: &[Value], data: &[bool]) -> R {
    let d = data.first().copied().unwrap_or(true);
    let v = a.first().unwrap_or(&Value::Nil);
    if let Some(t) = raw_text(v, d) {
        return Ok(Value::Int(t.len() as i64));
    }
    let n = match v {
        _ if is_nil_ptr(v) => return Err("len of nil pointer".into()),
        Value::String(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) if let Some(t) = gotypes::row_type(m) => {
            return Err(format!("len of type {t}"));
        }
        Value::Map(m) if !matches!(gotypes::shape_of(m), Some(Shape::Struct(_))) => m.len(),
        Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        other => return Err(format!("len of type {}", type_of(other, d))),
    };
    Ok(Value::Int(n as i64))
}

fn text(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        other => other.to_string(),
    }
}

/// docker's `pad SOURCE PREFIX SUFFIX`: spaces around what is there.
pub fn pad(a: &[Value]) -> R {
    let x = text(a.first().unwrap_or(&Value::Nil));
    if x.is_empty() {
        return Ok(Value::String(x.into()));
    }
    let n = |i: usize| a.get(i).and_then(|v| v.as_int()).unwrap_or(0);
    let (l, r) = (n(1), n(2));
    if l < 0 || r < 0 {
        return Err("strings: negative Repeat count".into());
    }
    Ok(Value::String(
        format!("{}{x}{}", " ".repeat(l as usize), " ".repeat(r as usize)).into(),
    ))
}

/// docker's `truncate SOURCE LENGTH`: the first LENGTH bytes.
pub fn truncate(a: &[Value]) -> R {
    let x = text(a.first().unwrap_or(&Value::Nil));
    if crate::format::in_header() {
        return Ok(Value::String(x.into()));
    }
    let n = a.get(1).and_then(|v| v.as_int()).unwrap_or(0);
    if (x.len() as i64) < n {
        return Ok(Value::String(x.into()));
    }
    if n < 0 {
        return Err(format!("runtime error: slice bounds out of range [:{n}]"));
    }
    Ok(str_val(&x.as_bytes()[..n as usize]))
}

/// Go's basic kinds for comparisons (`None`: not a basic kind).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    Str,
}

fn kind(v: &Value, data: bool) -> Option<Kind> {
    if raw_text(v, data).is_some() {
        return Some(Kind::Str);
    }
    match v {
        Value::Bool(_) => Some(Kind::Bool),
        Value::Int(_) => Some(Kind::Int),
        Value::Uint(_) => Some(Kind::Uint),
        Value::Float(_) => Some(Kind::Float),
        Value::String(_) => Some(Kind::Str),
        _ => None,
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn int_of(v: &Value) -> i128 {
    match v {
        Value::Int(n) => i128::from(*n),
        Value::Uint(n) => i128::from(*n),
        _ => 0,
    }
}

const BAD: &str = "incompatible types for comparison";
const BAD_TYPE: &str = "invalid type for comparison";

/// Go's `eq ARG1 ARG2...`: ARG1 equal to any of the others.
fn eq(a: &[Value], data: &[bool]) -> Result<bool, String> {
    let d = |i: usize| data.get(i).copied().unwrap_or(true);
    let Some(x) = a.first() else {
        return Err("missing argument for comparison".into());
    };
    if a.len() < 2 {
        return Err("missing argument for comparison".into());
    }
    let k1 = kind(x, d(0));
    for (i, y) in a.iter().enumerate().skip(1) {
        let k2 = kind(y, d(i));
        let truth = match (k1, k2) {
            (Some(Kind::Int | Kind::Uint), Some(Kind::Int | Kind::Uint)) => int_of(x) == int_of(y),
            (Some(p), Some(q)) if p != q => return Err(BAD.into()),
            (Some(Kind::Bool), _) => matches!((x, y), (Value::Bool(p), Value::Bool(q)) if p == q),
            (Some(Kind::Float), _) => {
                matches!((x, y), (Value::Float(p), Value::Float(q)) if p == q)
            }
            (Some(Kind::Str), _) => text_of(x) == text_of(y),
            (None, None) => {
                let nil = |v: &Value| matches!(v, Value::Nil) || is_nil_ptr(v);
                match (nil(x), nil(y)) {
                    (true, true) => true,
                    (true, false) | (false, true) => false,
                    _ => return Err(BAD_TYPE.into()),
                }
            }
            // (an invalid value against a valid one is just unequal)
            _ if matches!(x, Value::Nil) || matches!(y, Value::Nil) => false,
            _ => return Err(BAD.into()),
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt ARG1 ARG2`.
fn lt(a: &[Value], data: &[bool]) -> Result<bool, String> {
    let d = |i: usize| data.get(i).copied().unwrap_or(true);
    let (Some(x), Some(y)) = (a.first(), a.get(1)) else {
        return Err(BAD_TYPE.into());
    };
    let (Some(k1), Some(k2)) = (kind(x, d(0)), kind(y, d(1))) else {
        return Err(BAD_TYPE.into());
    };
    Ok(match (k1, k2) {
        (Kind::Int | Kind::Uint, Kind::Int | Kind::Uint) => int_of(x) < int_of(y),
        _ if k1 != k2 => return Err(BAD.into()),
        (Kind::Bool, _) => return Err(BAD_TYPE.into()),
        (Kind::Float, _) => match (x, y) {
            (Value::Float(p), Value::Float(q)) => p < q,
            _ => false,
        },
        _ => text_of(x) < text_of(y),
    })
}

/// Go's comparison functions `eq`, `ne`, `lt`, `le`, `gt`, `ge`.
pub fn compare(name: &str, a: &[Value], data: &[bool]) -> R {
    let truth = match name {
        "eq" => eq(a, data)?,
        "ne" => !eq(a, data)?,
        "lt" => lt(a, data)?,
        "le" => lt(a, data)? || eq(a, data)?,
        "gt" => !(lt(a, data)? || eq(a, data)?),
        _ => !lt(a, data)?,
    };
    Ok(Value::Bool(truth))
}
