//! A Kafka message's headers as bytes, read without a panic path.
//!
//! rdkafka's `Headers::try_get` turns each header name into `&str` with `unwrap()`, so one
//! message whose header name is not UTF-8 (which brokers and librdkafka accept from any
//! producer) would panic the consumer, and again after every restart. This module reads the
//! names through librdkafka's C API as bytes instead; the caller decides what a bad name means.

use std::ffi::{CStr, c_char, c_void};

use rdkafka::bindings as rd;
use rdkafka::message::BorrowedMessage;

/// One header: its name's bytes and its value (`None`: a header without a value).
pub type RawHeader = (Vec<u8>, Option<Vec<u8>>);

/// One header with its name as text.
pub type Header = (String, Option<Vec<u8>>);

/// The headers of `message`, in order.
#[allow(unsafe_code)]
pub fn raw_headers(message: &BorrowedMessage<'_>) -> Vec<RawHeader> {
    let mut headers: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
    // SAFETY: `message.ptr()` is a live message owned by the consumer for the borrow's lifetime;
    // librdkafka sets `headers` to the message's own header list (not a copy) or leaves it null.
    let err = unsafe { rd::rd_kafka_message_headers(message.ptr(), &mut headers) };
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || headers.is_null() {
        return Vec::new();
    }
    // SAFETY: `headers` is the message's list, valid while the message is.
    let count = unsafe { rd::rd_kafka_header_cnt(headers) };
    let mut out = Vec::with_capacity(count);
    for idx in 0..count {
        let mut name: *const c_char = std::ptr::null();
        let mut value: *const c_void = std::ptr::null();
        let mut size = 0usize;
        // SAFETY: `idx` is below the count; librdkafka points `name` at a NUL-terminated copy of
        // the name and `value` at `size` bytes (or null), both owned by the list.
        let err = unsafe { rd::rd_kafka_header_get_all(headers, idx, &mut name, &mut value, &mut size) };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
            continue;
        }
        // SAFETY: see above; both are copied out before the message can go away.
        let name = unsafe { CStr::from_ptr(name) }.to_bytes().to_vec();
        let value =
            (!value.is_null()).then(|| unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) }.to_vec());
        out.push((name, value));
    }
    out
}

/// Header names as text, and why the message is malformed if a name is not UTF-8 (the name is
/// then kept with U+FFFD in place of the bad bytes).
pub fn named(headers: Vec<RawHeader>) -> (Vec<Header>, Option<String>) {
    let mut malformed = None;
    let named = headers
        .into_iter()
        .enumerate()
        .map(|(i, (name, value))| {
            let name = match String::from_utf8(name) {
                Ok(name) => name,
                Err(e) => {
                    let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
                    malformed.get_or_insert_with(|| format!("header {i}'s name is not UTF-8 text: {lossy:?}"));
                    lossy
                }
            };
            (name, value)
        })
        .collect();
    (named, malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_is_not_utf8_is_kept_lossy_and_named_as_the_reason() {
        let (headers, malformed) = named(vec![
            (b"trace".to_vec(), Some(b"abc".to_vec())),
            (vec![0xff, b'x'], None),
            (vec![0xc3], Some(vec![0x80, 0xff])),
        ]);
        assert_eq!(headers[0], ("trace".to_string(), Some(b"abc".to_vec())));
        assert_eq!(headers[1], ("\u{fffd}x".to_string(), None));
        assert_eq!(headers[2].1, Some(vec![0x80, 0xff]), "values stay bytes");
        assert_eq!(
            malformed.as_deref(),
            Some("header 1's name is not UTF-8 text: \"\u{fffd}x\"")
        );
        assert_eq!(named(vec![(b"ok".to_vec(), None)]).1, None);
    }
}
