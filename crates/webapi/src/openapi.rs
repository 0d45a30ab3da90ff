//! The OpenAPI 3.1 document of the API, served at `<base>v0/openapi.json`.
//!
//! Schemas are derived from fully populated example values (the same ones
//! the HTML pages show), so every field of every request and response is
//! listed; the error codes come from [`ErrorCode::all`].
//!
//! ```
//! let doc = webapi::openapi::document();
//! assert_eq!(doc["openapi"], "3.1.0");
//! assert!(doc["paths"]["/Send"]["post"].is_object());
//! assert_eq!(doc["components"]["schemas"]["SendRequest"]["properties"]["RefuseSuppressed"]["type"], "boolean");
//! ```

use serde_json::{Map, Value, json};

use crate::error::ErrorCode;
use crate::examples;
use crate::types::Method;
use crate::webhook::OutgoingEvent;

const AUTH_NOTE: &str = "Until mail authentication (SPF, DKIM, DMARC) is implemented, \
MailFromValidated and MsgFromValidated are always false and DKIMVerifiedDomains is always empty, \
in MessageGet results and in incoming webhooks.";

/// The OpenAPI 3.1 document: every method as `POST /<Method>`, its request
/// and response schemas, every error code with its HTTP status, and the
/// webhook payloads.
pub fn document() -> Value {
    let mut schemas = Map::new();
    let mut paths = Map::new();
    for m in Method::all() {
        let req_name = format!("{m}Request");
        schemas.insert(
            req_name.clone(),
            object_schema(&examples::request(*m), true),
        );
        let ok = match examples::response(*m) {
            Some(v) => {
                let name = format!("{m}Result");
                schemas.insert(name.clone(), object_schema(&v, false));
                json!({"description": "Success.", "content": {"application/json": {"schema": reference(&name)}}})
            }
            None => {
                let ct = if *m == Method::MessageRawGet {
                    "text/plain"
                } else {
                    "application/octet-stream"
                };
                json!({"description": "The raw bytes.", "content": {ct: {"schema": {"type": "string", "format": "binary"}}}})
            }
        };
        let mut content = json!({
            "application/x-www-form-urlencoded": {"schema": form_schema(&req_name, false)},
            "multipart/form-data": {"schema": form_schema(&req_name, *m == Method::Send)},
            "application/json": {"schema": reference(&req_name)},
        });
        if let Some(obj) = content.as_object_mut()
            && let Some(ex) = obj
                .get_mut("application/json")
                .and_then(Value::as_object_mut)
        {
            ex.insert("example".into(), examples::request(*m));
        }
        let mut responses = Map::new();
        responses.insert("200".into(), ok);
        for (status, what) in error_statuses(*m) {
            responses.insert(
                status.to_string(),
                json!({"description": what, "content": {"application/json": {"schema": reference("Error")}}}),
            );
        }
        let mut post = json!({
            "operationId": m.as_str(),
            "summary": m.description(),
            "requestBody": {"required": true, "content": content},
            "responses": responses,
        });
        if matches!(m, Method::Send | Method::SendBatch)
            && let Some(p) = post.as_object_mut()
        {
            p.insert(
                "parameters".into(),
                json!([{
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": false,
                    "description": "Up to 255 characters, kept 24 hours per account. A repeat with the same request returns the first result and queues nothing; a different request gives 422 idempotencyMismatch; a repeat while the first still runs gives 409 idempotencyInProgress. The request is compared by method and parsed content, so form and JSON encodings agree.",
                    "schema": {"type": "string", "maxLength": 255}
                }]),
            );
        }
        if m.is_postel()
            && let Some(p) = post.as_object_mut()
        {
            p.insert("x-postel".into(), json!(true));
        }
        paths.insert(format!("/{m}"), json!({"post": post}));
    }

    schemas.insert("Structure".into(), structure_schema());
    schemas.insert(
        "ErrorCode".into(),
        json!({
            "type": "string",
            "enum": ErrorCode::all().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "description": "Error codes with their HTTP status:\n".to_string()
                + &ErrorCode::all()
                    .iter()
                    .map(|c| format!("- {} (HTTP {}): {}", c.as_str(), c.http_status(), c.description()))
                    .collect::<Vec<_>>()
                    .join("\n"),
        }),
    );
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["Code", "Message"],
            "properties": {"Code": reference("ErrorCode"), "Message": {"type": "string"}},
            "additionalProperties": false,
        }),
    );
    let mut outgoing = object_schema(&to_value(&examples::outgoing()), false);
    set(
        &mut outgoing,
        "description",
        json!(
            "Webhook payload for an outgoing message event. BounceReason, HardBounce, Sequence and DSNMsgID are Postel additions."
        ),
    );
    schemas.insert("Outgoing".into(), outgoing);
    let mut incoming = object_schema(&to_value(&examples::incoming()), false);
    set(
        &mut incoming,
        "description",
        json!(format!(
            "Webhook payload for an incoming message. {AUTH_NOTE}"
        )),
    );
    schemas.insert("Incoming".into(), incoming);

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Postel web API",
            "version": "v0",
            "description": format!(
                "Send mail and manage the account's messages over HTTP. Call POST <base>/v0/<Method> with \
    HTTP Basic authentication (an address of the account and its password). The request is JSON, sent \
    as the form field `request` (application/x-www-form-urlencoded or multipart/form-data, compatible \
    with the reference implementation) or as the body with Content-Type application/json. Unknown fields \
    are rejected with code protocol. Errors are {{\"Code\", \"Message\"}}; reference codes use HTTP 400. {AUTH_NOTE}"
            ),
        },
        "servers": [{"url": "/webapi/v0"}],
        "security": [{"basic": []}],
        "paths": paths,
        "webhooks": {
            "outgoing": {"post": {
                "summary": "An event about a sent message (delivered, suppressed, delayed, failed, relayed, expanded, canceled, unrecognized).",
                "requestBody": {"content": {"application/json": {"schema": reference("Outgoing"), "example": to_value(&examples::outgoing())}}},
                "responses": {"200": {"description": "Any 2xx answer counts as delivered."}},
            }},
            "incoming": {"post": {
                "summary": "A message received for the account.",
                "requestBody": {"content": {"application/json": {"schema": reference("Incoming"), "example": to_value(&examples::incoming())}}},
                "responses": {"200": {"description": "Any 2xx answer counts as delivered."}},
            }},
        },
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": schemas,
        },
        "x-error-codes": ErrorCode::all().iter().map(|c| json!({
            "Code": c.as_str(), "HTTPStatus": c.http_status(), "Description": c.description(),
        })).collect::<Vec<_>>(),
    })
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn set(schema: &mut Value, key: &str, value: Value) {
    if let Some(o) = schema.as_object_mut() {
        o.insert(key.into(), value);
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn form_schema(req_name: &str, files: bool) -> Value {
    let mut props = json!({
        "request": {"type": "string", "contentMediaType": "application/json",
            "description": format!("The {req_name} as JSON."),
            "contentSchema": reference(req_name)},
    });
    if files && let Some(p) = props.as_object_mut() {
        for (name, what) in [
            ("alternativefile", "AlternativeFiles"),
            ("inlinefile", "InlineFiles"),
            ("attachedfile", "AttachedFiles"),
        ] {
            p.insert(
                name.into(),
                json!({"type": "array", "items": {"type": "string", "format": "binary"},
                    "description": format!("Files added to {what}; content type and Content-ID from the part headers, or sniffed.")}),
            );
        }
    }
    json!({"type": "object", "required": ["request"], "properties": props})
}

/// HTTP statuses other than 200 that a method can answer.
fn error_statuses(m: Method) -> Vec<(u16, &'static str)> {
    let mut v = vec![
        (
            400,
            "An error; see the Code (every reference code uses 400).",
        ),
        (
            401,
            "Missing or bad credentials, or a disabled login (code unauthorized).",
        ),
        (
            429,
            "Too many failed logins from this address (code tooManyRequests).",
        ),
    ];
    if matches!(m, Method::Send | Method::SendBatch) {
        v.push((
            409,
            "The first request with this Idempotency-Key still runs (idempotencyInProgress).",
        ));
        v.push((
            422,
            "The Idempotency-Key was used for a different request (idempotencyMismatch).",
        ));
    }
    v.sort_by_key(|(s, _)| *s);
    v
}

fn structure_schema() -> Value {
    json!({
        "type": "object",
        "description": "A MIME part: lowercase content type, its parameters, Content-ID, disposition without parameters, filename, size after transfer decoding, subparts.",
        "required": ["ContentType", "ContentTypeParams", "ContentID", "ContentDisposition", "Filename", "DecodedSize", "Parts"],
        "properties": {
            "ContentType": {"type": "string"},
            "ContentTypeParams": {"type": "object", "additionalProperties": {"type": "string"}},
            "ContentID": {"type": "string"},
            "ContentDisposition": {"type": "string"},
            "Filename": {"type": "string"},
            "DecodedSize": {"type": "integer"},
            "Parts": {"type": "array", "items": reference("Structure")},
        },
        "additionalProperties": false,
    })
}

/// Fields that may be `null`: optional times and flags.
fn nullable(parent: &Map<String, Value>, key: &str) -> bool {
    match key {
        "Date" | "FutureRelease" | "RequireTLS" | "NextAttempt" | "LastAttempt" => true,
        "Success" => parent.contains_key("SupersededByID"),
        "Created" => parent.contains_key("Suppressed"),
        _ => false,
    }
}

fn object_schema(example: &Value, request: bool) -> Value {
    let Some(obj) = example.as_object() else {
        return json!({});
    };
    let mut props = Map::new();
    for (k, v) in obj {
        let mut s = field_schema(k, v, request);
        if nullable(obj, k)
            && let Some(t) = s.get("type").cloned()
        {
            set(&mut s, "type", json!([t, "null"]));
        }
        props.insert(k.clone(), s);
    }
    let mut schema = json!({"type": "object", "properties": props, "additionalProperties": false});
    if !request {
        set(
            &mut schema,
            "required",
            json!(obj.keys().collect::<Vec<_>>()),
        );
    }
    schema
}

fn field_schema(key: &str, v: &Value, request: bool) -> Value {
    match key {
        "Structure" => return reference("Structure"),
        "Extra" | "ContentTypeParams" => {
            return json!({"type": "object", "additionalProperties": {"type": "string"}});
        }
        "Headers" => {
            return json!({"type": "array", "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}});
        }
        "Event" if v.as_str().and_then(OutgoingEvent::parse).is_some() => {
            return json!({"type": "string", "enum": OutgoingEvent::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>()});
        }
        _ => {}
    }
    match v {
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(_) => json!({"type": "integer"}),
        Value::String(s) if crate::time::parse(s).is_ok() => {
            json!({"type": "string", "format": "date-time"})
        }
        Value::String(_) => json!({"type": "string"}),
        Value::Array(items) => {
            let item = items
                .first()
                .map(|i| field_schema("", i, request))
                .unwrap_or_else(|| json!({}));
            json!({"type": "array", "items": item})
        }
        Value::Object(_) => object_schema(v, request),
        Value::Null => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_a_path_with_request_and_response_schemas() {
        let doc = document();
        for m in Method::all() {
            let post = &doc["paths"][format!("/{m}")]["post"];
            assert_eq!(post["operationId"], m.as_str());
            let req = &doc["components"]["schemas"][format!("{m}Request")];
            assert_eq!(req["additionalProperties"], false, "{m}");
            // Every field of the request type is listed.
            let example = examples::request(*m);
            for k in example.as_object().unwrap().keys() {
                assert!(req["properties"][k].is_object(), "{m}.{k}");
            }
            if examples::response(*m).is_some() {
                assert!(
                    doc["components"]["schemas"][format!("{m}Result")].is_object(),
                    "{m}"
                );
            } else {
                assert_eq!(
                    post["responses"]["200"]["content"]
                        .as_object()
                        .unwrap()
                        .len(),
                    1
                );
            }
        }
        assert_eq!(doc["paths"].as_object().unwrap().len(), Method::all().len());
    }

    #[test]
    fn every_error_code_is_listed_with_its_http_status() {
        let doc = document();
        let listed = doc["x-error-codes"].as_array().unwrap();
        assert_eq!(listed.len(), ErrorCode::all().len());
        for (c, entry) in ErrorCode::all().iter().zip(listed) {
            assert_eq!(entry["Code"], c.as_str());
            assert_eq!(entry["HTTPStatus"], c.http_status());
        }
        let enum_values = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap();
        assert_eq!(enum_values.len(), ErrorCode::all().len());
        assert!(
            doc["components"]["schemas"]["ErrorCode"]["description"]
                .as_str()
                .unwrap()
                .contains("- idempotencyMismatch (HTTP 422): ")
        );
        assert!(doc["paths"]["/Send"]["post"]["responses"]["422"].is_object());
        assert!(doc["paths"]["/SendBatch"]["post"]["responses"]["409"].is_object());
    }

    #[test]
    fn webhook_payloads_are_described_with_every_field_and_the_authentication_note() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        for (name, example) in [
            ("Outgoing", to_value(&examples::outgoing())),
            ("Incoming", to_value(&examples::incoming())),
        ] {
            let props = schemas[name]["properties"].as_object().unwrap();
            let keys: Vec<_> = example.as_object().unwrap().keys().collect();
            assert_eq!(props.keys().collect::<Vec<_>>(), keys, "{name}");
        }
        assert_eq!(
            schemas["Incoming"]["properties"]["Date"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            schemas["Outgoing"]["properties"]["Event"]["enum"][7],
            "unrecognized"
        );
        assert_eq!(
            schemas["Outgoing"]["properties"]["WebhookQueued"]["format"],
            "date-time"
        );
        assert!(schemas["Incoming"]["description"].as_str().unwrap().contains(
            "MailFromValidated and MsgFromValidated are always false and DKIMVerifiedDomains is always empty"
        ));
        assert!(
            doc["info"]["description"]
                .as_str()
                .unwrap()
                .contains("DKIMVerifiedDomains is always empty")
        );
        assert!(doc["webhooks"]["incoming"]["post"].is_object());
    }

    #[test]
    fn nullable_fields_are_marked() {
        let doc = document();
        let s = &doc["components"]["schemas"];
        assert_eq!(
            s["SendRequest"]["properties"]["RequireTLS"]["type"],
            json!(["boolean", "null"])
        );
        assert_eq!(
            s["SendRequest"]["properties"]["FutureRelease"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            s["HookListResult"]["properties"]["Hooks"]["items"]["properties"]["Success"]["type"],
            json!(["boolean", "null"])
        );
        assert_eq!(
            s["SuppressionListResult"]["properties"]["Suppressions"]["items"]["properties"]["Created"]
                ["type"],
            "string"
        );
    }
}
