//! TODO(decoders helper)
use crate::decode::{DecodeContext, Decoded};
use crate::reject::Reject;
pub fn decode(_ctx: DecodeContext<'_>, _store_rates: bool, _payload: &[u8]) -> Result<Decoded, Reject> {
    todo!()
}
