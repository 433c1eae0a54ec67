//! A device's tags, escaped once: every line of a device repeats the same
//! `,device=…,district=…`, `,role=…` and `,school=…`, so the encoder
//! escapes them on the device's first line and copies them afterwards
//! (escaping, sorting and scanning them per line was a quarter of the
//! encoding time).
//!
//! The pieces live in the device itself ([`DeviceInfo::line_tags`]), filled
//! on first use: no lookup, no lock after that, and a device built by hand
//! (tests, the simulator) works with `LineTags::default()`.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use super::write_tag;
use crate::inventory::{DeviceInfo, Role, School};

/// The escaped tag pieces of one device, filled by the line-protocol
/// encoder on the device's first line. Not part of the device's identity:
/// equal to any other, and a clone starts empty (so a clone whose fields
/// are then changed cannot inherit stale pieces).
#[derive(Default)]
pub struct LineTags(pub(super) OnceLock<Pieces>);

impl Clone for LineTags {
    fn clone(&self) -> LineTags {
        LineTags::default()
    }
}

impl PartialEq for LineTags {
    fn eq(&self, _: &LineTags) -> bool {
        true
    }
}

impl fmt::Debug for LineTags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LineTags")
    }
}

/// `,device=…,district=…` `,role=…` `,school=…` in one buffer, each part
/// empty where its value is (InfluxDB rejects empty tag values).
#[derive(Clone)]
pub(super) struct Pieces {
    // What the pieces were made of. `DeviceInfo`'s fields are public, so a
    // device changed in place after its first line (it takes a unique
    // `Arc`) must not reuse them; holding these `Arc`s keeps their
    // addresses from being reused by other strings meanwhile.
    id: Arc<str>,
    school: Arc<School>,
    role: Role,
    /// The pieces, then [`PAD`] zeros.
    bytes: Box<[u8]>,
    role_at: usize,
    school_at: usize,
    end: usize,
}

/// Zeros after the pieces, so that any piece can be copied in 16-byte
/// chunks (fixed-size copies; a variable-length one is a `memcpy` call).
const PAD: usize = 16;

impl Pieces {
    /// The pieces of `device`: cached, or made now if the cache is stale.
    pub(super) fn of(device: &DeviceInfo) -> Cow<'_, Pieces> {
        let pieces = device.line_tags.0.get_or_init(|| Pieces::new(device));
        if pieces.made_of(device) {
            Cow::Borrowed(pieces)
        } else {
            Cow::Owned(Pieces::new(device))
        }
    }

    fn new(device: &DeviceInfo) -> Pieces {
        let mut bytes = Vec::with_capacity(64);
        for (key, value) in [("device", &*device.id), ("district", device.district())] {
            write_tag(key, value, &mut bytes);
        }
        let role_at = bytes.len();
        write_tag("role", device.role.as_str(), &mut bytes);
        let school_at = bytes.len();
        write_tag("school", device.school_id(), &mut bytes);
        let end = bytes.len();
        bytes.extend_from_slice(&[0; PAD]);
        Pieces {
            id: device.id.clone(),
            school: device.school.clone(),
            role: device.role,
            bytes: bytes.into_boxed_slice(),
            role_at,
            school_at,
            end,
        }
    }

    fn made_of(&self, device: &DeviceInfo) -> bool {
        Arc::ptr_eq(&self.id, &device.id)
            && Arc::ptr_eq(&self.school, &device.school)
            && self.role == device.role
    }

    /// Appends `,device=…,district=…` (the tags sorting before the key
    /// tag `interface`).
    pub(super) fn put_device_district(&self, out: &mut Vec<u8>) {
        self.put(0, self.role_at, out);
    }

    /// Appends `,school=…`.
    pub(super) fn put_school(&self, out: &mut Vec<u8>) {
        self.put(self.school_at, self.end, out);
    }

    /// Appends `,role=…,school=…`.
    pub(super) fn put_role_school(&self, out: &mut Vec<u8>) {
        self.put(self.role_at, self.end, out);
    }

    /// Appends all of them.
    pub(super) fn put_all(&self, out: &mut Vec<u8>) {
        self.put(0, self.end, out);
    }

    /// Bytes of all pieces together.
    pub(super) fn len(&self) -> usize {
        self.end
    }

    /// Appends `bytes[from..to]` in 16-byte chunks, then cuts back.
    fn put(&self, from: usize, to: usize, out: &mut Vec<u8>) {
        let len = out.len();
        for at in (from..to).step_by(PAD) {
            let chunk: &[u8; PAD] = self.bytes[at..at + PAD].try_into().expect("PAD bytes");
            out.extend_from_slice(chunk);
        }
        out.truncate(len + (to - from));
    }
}
