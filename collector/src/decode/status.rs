//! TODO(decoders helper)
use crate::decode::{DecodeContext, Decoded};
use crate::reject::Reject;
pub fn decode(_ctx: DecodeContext<'_>, _payload: &[u8]) -> Result<Decoded, Reject> {
    todo!()
}
