//! Record encoding: serde JSON behind a version byte, so a record format can
//! evolve without a migration of everything at once.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

/// Version byte in front of every encoded value.
const CODEC_VERSION: u8 = 1;

/// Encode a value with the codec version byte.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![CODEC_VERSION];
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::Write(e.to_string()))?;
    Ok(out)
}

/// Decode a value written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&CODEC_VERSION, rest)) => {
            serde_json::from_slice(rest).map_err(|e| StoreError::Decode(e.to_string()))
        }
        Some((v, _)) => Err(StoreError::Decode(format!("unknown record version {v}"))),
        None => Err(StoreError::Decode("empty record".into())),
    }
}
