//! A device's tags, escaped once: every line of a device repeats the same
//! `,device=…,district=…`, `,role=…` and `,school=…`, so the encoder
//! escapes them on the device's first line and copies them afterwards
//! (escaping, sorting and scanning them per line was a quarter of the
//! encoding time).
//!
//! The pieces live in the [`TagCache`] of a [`super::LineEncoder`], keyed
//! by device id: the inventory's `DeviceInfo` stays plain data. After a
//! device's first line its lines cost no allocation; consecutive lines of
//! one device (a message's samples) not even a hash lookup.

use std::collections::HashMap;
use std::sync::Arc;

use super::write_tag;
use crate::inventory::{DeviceInfo, Role, School};

/// Each device's escaped tag pieces, by device id. One entry per device id
/// ever encoded: a device changed by an inventory reload replaces its
/// entry on its next line; one removed from the inventory keeps its entry
/// (a few hundred bytes) until the encoder is dropped.
#[derive(Default)]
pub(super) struct TagCache {
    /// Pieces by device id: the index into `pieces`.
    index: HashMap<Arc<str>, usize, ahash::RandomState>,
    pieces: Vec<Pieces>,
    /// The index of the last device encoded.
    last: Option<usize>,
}

impl TagCache {
    /// The pieces of `device`: cached, or made now (first line of the
    /// device, or the device changed since its pieces were made).
    pub(super) fn pieces(&mut self, device: &DeviceInfo) -> &Pieces {
        let at = self.index_of(device);
        &self.pieces[at]
    }

    fn index_of(&mut self, device: &DeviceInfo) -> usize {
        if let Some(at) = self.last.filter(|&at| self.pieces[at].made_of(device)) {
            return at;
        }
        let at = match self.index.get(&*device.id) {
            Some(&at) => {
                if !self.pieces[at].made_of(device) {
                    self.pieces[at] = Pieces::new(device);
                }
                at
            }
            None => {
                self.pieces.push(Pieces::new(device));
                self.index.insert(device.id.clone(), self.pieces.len() - 1);
                self.pieces.len() - 1
            }
        };
        self.last = Some(at);
        at
    }

    /// Devices cached.
    pub(super) fn len(&self) -> usize {
        self.pieces.len()
    }
}

/// `,device=…,district=…` `,role=…` `,school=…` in one buffer, each part
/// empty where its value is (InfluxDB rejects empty tag values).
pub(super) struct Pieces {
    // What the pieces were made of: a device whose id, school or role is
    // another (an inventory reload, a device changed in place) must not
    // reuse them; holding these `Arc`s keeps their addresses from being
    // reused by other strings meanwhile.
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
    /// The pieces of `device`, escaped now.
    pub(super) fn new(device: &DeviceInfo) -> Pieces {
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
