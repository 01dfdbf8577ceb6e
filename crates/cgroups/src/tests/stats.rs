use crate::BlkioEntry;
use crate::parse::{parse_blkio_v1, parse_io_stat, parse_percpu};

#[test]
fn io_stat_lines_become_entries_per_counter() {
    let s = "8:0 rbytes=90430464 wbytes=299008000 rios=8950 wios=1252 dbytes=50331648 dios=3021\n253:1 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0 cost.usage=5\n";
    let e = parse_io_stat(s);
    assert_eq!(e.len(), 12);
    assert_eq!(
        e[0],
        BlkioEntry {
            major: 8,
            minor: 0,
            op: "rbytes".into(),
            value: 90_430_464
        }
    );
    assert_eq!(
        e[11],
        BlkioEntry {
            major: 253,
            minor: 1,
            op: "dios".into(),
            value: 0
        }
    );
}

#[test]
fn malformed_stats_lines_are_skipped() {
    assert!(parse_io_stat("garbage\n8:x rbytes=1\n\n").is_empty());
    assert!(parse_blkio_v1("Total 5\n8:0 Read\nx:y Read 1\n8:0 Read many\n", true).is_empty());
    assert_eq!(parse_percpu("1 2 x 3\n"), [1, 2, 3]);
    assert!(parse_percpu("").is_empty());
}

#[test]
fn v1_blkio_ops_use_v2_names() {
    let e = parse_blkio_v1("8:16 Read 10\n8:16 Write 20\n8:16 Total 30\n", false);
    let ops: Vec<&str> = e.iter().map(|e| e.op.as_str()).collect();
    assert_eq!(ops, ["rios", "wios"]);
}

#[test]
fn stats_serialize_for_the_api() {
    let s = crate::Stats::default();
    let v = serde_json_like(&s);
    assert!(v.contains("usage_total_ns"));
}

/// serde_json is not a dependency; check Serialize through the Debug-free path of a tiny
/// serializer instead: serde's derive must at least produce the field names.
fn serde_json_like(s: &crate::Stats) -> String {
    use serde::Serialize;
    use serde::ser::{Impossible, SerializeStruct, Serializer};
    struct Names(Vec<String>);
    impl SerializeStruct for &mut Names {
        type Ok = ();
        type Error = std::fmt::Error;
        fn serialize_field<T: ?Sized + Serialize>(
            &mut self,
            key: &'static str,
            v: &T,
        ) -> Result<(), Self::Error> {
            self.0.push(key.to_string());
            let _ = v.serialize(&mut **self);
            Ok(())
        }
        fn end(self) -> Result<(), Self::Error> {
            Ok(())
        }
    }
    impl<'a> Serializer for &'a mut Names {
        type Ok = ();
        type Error = std::fmt::Error;
        type SerializeSeq = Impossible<(), std::fmt::Error>;
        type SerializeTuple = Impossible<(), std::fmt::Error>;
        type SerializeTupleStruct = Impossible<(), std::fmt::Error>;
        type SerializeTupleVariant = Impossible<(), std::fmt::Error>;
        type SerializeMap = Impossible<(), std::fmt::Error>;
        type SerializeStruct = Self;
        type SerializeStructVariant = Impossible<(), std::fmt::Error>;
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Self::Error> {
            Ok(self)
        }
        fn serialize_bool(self, _: bool) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_i8(self, _: i8) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_i16(self, _: i16) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_i32(self, _: i32) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_i64(self, _: i64) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_u8(self, _: u8) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_u16(self, _: u16) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_u32(self, _: u32) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_u64(self, _: u64) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_f32(self, _: f32) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_f64(self, _: f64) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_char(self, _: char) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_str(self, _: &str) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_bytes(self, _: &[u8]) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_none(self) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<(), Self::Error> {
            v.serialize(self)
        }
        fn serialize_unit(self) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
        ) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_newtype_struct<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            _: &T,
        ) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), Self::Error> {
            Ok(())
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
            Err(std::fmt::Error)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Self::Error> {
            Err(std::fmt::Error)
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, Self::Error> {
            Err(std::fmt::Error)
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Self::Error> {
            Err(std::fmt::Error)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
            Err(std::fmt::Error)
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Self::Error> {
            Err(std::fmt::Error)
        }
    }
    let mut n = Names(Vec::new());
    let _ = s.serialize(&mut n);
    n.0.join(",")
}
