//! Error codes and the JSON error body of the web API.
//!
//! Every failed call answers with `{"Code": "...", "Message": "..."}`. The
//! codes of the reference implementation are answered with HTTP 400 (its
//! clients decode an error body only for 400); the codes Postel adds carry
//! the HTTP status that says what happened (401, 409, 422, 429).
//!
//! ```
//! use webapi::{ApiError, ErrorCode};
//!
//! assert_eq!(ErrorCode::IdempotencyMismatch.as_str(), "idempotencyMismatch");
//! assert_eq!(ErrorCode::IdempotencyMismatch.http_status(), 422);
//! assert_eq!(ErrorCode::parse("malformedMessageID"), Some(ErrorCode::MalformedMessageID));
//! let e: ApiError = serde_json::from_str(r#"{"Code":"messageNotFound","Message":"no message 7"}"#).unwrap();
//! assert_eq!(e, ApiError::new(ErrorCode::MessageNotFound, "no message 7"));
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What kind of failure a call ended in; on the wire a lowerCamelCase string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// `protocol`: the request was not in the expected format.
    Protocol,
    /// `server`: an internal error; details are in the server log.
    Server,
    /// `user`: a generic mistake in the request (bad base64, control characters, ...).
    User,
    /// `error`: a failure that is not an API error, e.g. a duplicate suppression.
    Error,
    /// `badAddress`: an email address did not parse.
    BadAddress,
    /// `missingBody`: Send without Text and without HTML.
    MissingBody,
    /// `multipleFrom`: more than one From address.
    MultipleFrom,
    /// `badFrom`: the From address is not allowed for the account.
    BadFrom,
    /// `domainDisabled`: the From domain is disabled.
    DomainDisabled,
    /// `noRecipients`: Send without To, CC or BCC.
    NoRecipients,
    /// `messageLimitReached`: the account's messages-per-day limit is reached.
    MessageLimitReached,
    /// `recipientLimitReached`: the account's first-time-recipients-per-day limit is reached.
    RecipientLimitReached,
    /// `messageTooLarge`: the message exceeds the maximum size.
    MessageTooLarge,
    /// `malformedMessageID`: a Message-ID without `<>` or with bad syntax.
    MalformedMessageID,
    /// `sentOverQuota`: the message was sent, but the Sent copy exceeds the quota.
    SentOverQuota,
    /// `messageNotFound`: no such message in the account.
    MessageNotFound,
    /// `partNotFound`: the part path points outside the message structure.
    PartNotFound,
    /// `idempotencyMismatch` (Postel, HTTP 422): the key was used for a different request.
    IdempotencyMismatch,
    /// `idempotencyInProgress` (Postel, HTTP 409): the first request with this key is still running.
    IdempotencyInProgress,
    /// `recipientSuppressed` (Postel): a recipient is on the suppression list and the
    /// request asked to refuse such recipients.
    RecipientSuppressed,
    /// `hookNotFound` (Postel): no such webhook for the account.
    HookNotFound,
    /// `unauthorized` (Postel, HTTP 401): missing or bad credentials, or a disabled login.
    Unauthorized,
    /// `tooManyRequests` (Postel, HTTP 429): too many failed logins from this address.
    TooManyRequests,
    /// `batchTooLarge` (Postel): a SendBatch with more than 500 messages.
    BatchTooLarge,
}

const ALL: &[ErrorCode] = &[
    ErrorCode::Protocol,
    ErrorCode::Server,
    ErrorCode::User,
    ErrorCode::Error,
    ErrorCode::BadAddress,
    ErrorCode::MissingBody,
    ErrorCode::MultipleFrom,
    ErrorCode::BadFrom,
    ErrorCode::DomainDisabled,
    ErrorCode::NoRecipients,
    ErrorCode::MessageLimitReached,
    ErrorCode::RecipientLimitReached,
    ErrorCode::MessageTooLarge,
    ErrorCode::MalformedMessageID,
    ErrorCode::SentOverQuota,
    ErrorCode::MessageNotFound,
    ErrorCode::PartNotFound,
    ErrorCode::IdempotencyMismatch,
    ErrorCode::IdempotencyInProgress,
    ErrorCode::RecipientSuppressed,
    ErrorCode::HookNotFound,
    ErrorCode::Unauthorized,
    ErrorCode::TooManyRequests,
    ErrorCode::BatchTooLarge,
];

impl ErrorCode {
    /// The wire name, e.g. `"badAddress"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::Protocol => "protocol",
            ErrorCode::Server => "server",
            ErrorCode::User => "user",
            ErrorCode::Error => "error",
            ErrorCode::BadAddress => "badAddress",
            ErrorCode::MissingBody => "missingBody",
            ErrorCode::MultipleFrom => "multipleFrom",
            ErrorCode::BadFrom => "badFrom",
            ErrorCode::DomainDisabled => "domainDisabled",
            ErrorCode::NoRecipients => "noRecipients",
            ErrorCode::MessageLimitReached => "messageLimitReached",
            ErrorCode::RecipientLimitReached => "recipientLimitReached",
            ErrorCode::MessageTooLarge => "messageTooLarge",
            ErrorCode::MalformedMessageID => "malformedMessageID",
            ErrorCode::SentOverQuota => "sentOverQuota",
            ErrorCode::MessageNotFound => "messageNotFound",
            ErrorCode::PartNotFound => "partNotFound",
            ErrorCode::IdempotencyMismatch => "idempotencyMismatch",
            ErrorCode::IdempotencyInProgress => "idempotencyInProgress",
            ErrorCode::RecipientSuppressed => "recipientSuppressed",
            ErrorCode::HookNotFound => "hookNotFound",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::TooManyRequests => "tooManyRequests",
            ErrorCode::BatchTooLarge => "batchTooLarge",
        }
    }

    /// The code for a wire name, or `None` for an unknown one.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// The HTTP status a response with this code carries.
    pub fn http_status(&self) -> u16 {
        match self {
            ErrorCode::Unauthorized => 401,
            ErrorCode::IdempotencyInProgress => 409,
            ErrorCode::IdempotencyMismatch => 422,
            ErrorCode::TooManyRequests => 429,
            _ => 400,
        }
    }

    /// Every code, in declaration order (for documentation and tests).
    pub fn all() -> &'static [ErrorCode] {
        ALL
    }

    /// A one-line description, used by the OpenAPI document and the HTML pages.
    pub fn description(&self) -> &'static str {
        match self {
            ErrorCode::Protocol => "The request was not in the expected format.",
            ErrorCode::Server => "An internal server error; details are in the server log.",
            ErrorCode::User => "A mistake in the request, e.g. bad base64 or control characters.",
            ErrorCode::Error => "A failure that is not an API error, e.g. a duplicate suppression.",
            ErrorCode::BadAddress => "An email address did not parse.",
            ErrorCode::MissingBody => "Neither Text nor HTML was given.",
            ErrorCode::MultipleFrom => "More than one From address.",
            ErrorCode::BadFrom => "The From address is not allowed for the account.",
            ErrorCode::DomainDisabled => "The From domain is disabled.",
            ErrorCode::NoRecipients => "No To, CC or BCC recipients.",
            ErrorCode::MessageLimitReached => "The account's limit of messages per day is reached.",
            ErrorCode::RecipientLimitReached => {
                "The account's limit of first-time recipients per day is reached."
            }
            ErrorCode::MessageTooLarge => "The message exceeds the maximum message size.",
            ErrorCode::MalformedMessageID => "A Message-ID is malformed (it needs <>).",
            ErrorCode::SentOverQuota => {
                "The message was sent, but storing it in Sent exceeds the quota."
            }
            ErrorCode::MessageNotFound => "No such message in the account.",
            ErrorCode::PartNotFound => "The part path points outside the message structure.",
            ErrorCode::IdempotencyMismatch => {
                "The Idempotency-Key was used before for a different request."
            }
            ErrorCode::IdempotencyInProgress => {
                "The first request with this Idempotency-Key is still running."
            }
            ErrorCode::RecipientSuppressed => {
                "RefuseSuppressed was set and a recipient is on the suppression list."
            }
            ErrorCode::HookNotFound => "No such webhook for the account.",
            ErrorCode::Unauthorized => "Missing or bad credentials, or the login is disabled.",
            ErrorCode::TooManyRequests => "Too many failed logins from this address; try later.",
            ErrorCode::BatchTooLarge => "SendBatch with more than 500 messages.",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ErrorCode::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code {s:?}")))
    }
}

/// A failed call: the code and a human-readable message.
///
/// On the wire `{"Code": "...", "Message": "..."}`; as an axum response it
/// carries the code's HTTP status (and `WWW-Authenticate` for `unauthorized`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// What kind of failure.
    #[serde(rename = "Code")]
    pub code: ErrorCode,
    /// What happened, with which input.
    #[serde(rename = "Message")]
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// A `protocol` error.
    pub fn protocol(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Protocol, message)
    }

    /// A `server` error.
    pub fn server(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Server, message)
    }

    /// A `user` error.
    pub fn user(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::User, message)
    }

    /// The JSON body, `{"Code":"...","Message":"..."}`.
    pub fn to_json(&self) -> String {
        // Two string fields always serialize; keep a fallback instead of unwrap.
        serde_json::to_string(self)
            .unwrap_or_else(|_| format!("{{\"Code\":\"{}\",\"Message\":\"\"}}", self.code.as_str()))
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        use axum::http::{HeaderValue, StatusCode, header};
        let status =
            StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = (status, self.to_json()).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if self.code == ErrorCode::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=webapi"),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_name() {
        assert_eq!(ErrorCode::all().len(), 24);
        for c in ErrorCode::all() {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(*c));
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), *c);
        }
        assert_eq!(ErrorCode::parse("notFound"), None);
    }

    #[test]
    fn reference_codes_are_http_400_and_postel_ones_say_what_happened() {
        assert_eq!(ErrorCode::Protocol.http_status(), 400);
        assert_eq!(ErrorCode::Server.http_status(), 400);
        assert_eq!(ErrorCode::PartNotFound.http_status(), 400);
        assert_eq!(ErrorCode::Unauthorized.http_status(), 401);
        assert_eq!(ErrorCode::IdempotencyInProgress.http_status(), 409);
        assert_eq!(ErrorCode::IdempotencyMismatch.http_status(), 422);
        assert_eq!(ErrorCode::TooManyRequests.http_status(), 429);
        assert_eq!(ErrorCode::BatchTooLarge.http_status(), 400);
    }

    #[test]
    fn api_error_json_has_code_then_message() {
        let e = ApiError::new(ErrorCode::MalformedMessageID, "message-id \"x\" lacks <>");
        assert_eq!(
            e.to_json(),
            r#"{"Code":"malformedMessageID","Message":"message-id \"x\" lacks <>"}"#
        );
        assert_eq!(
            e.to_string(),
            "malformedMessageID: message-id \"x\" lacks <>"
        );
    }

    #[test]
    fn unauthorized_response_asks_for_basic_auth() {
        use axum::response::IntoResponse;
        let resp = ApiError::new(ErrorCode::Unauthorized, "no credentials").into_response();
        assert_eq!(resp.status().as_u16(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Basic realm=webapi");
        assert_eq!(
            resp.headers()["content-type"],
            "application/json; charset=utf-8"
        );
    }
}
