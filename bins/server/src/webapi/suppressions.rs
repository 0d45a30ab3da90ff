//! The Suppression* methods over the queue's per-account suppression list;
//! matching is by base address (lowercase, catchall tag and dots rules of
//! [`queue::base_address`]).

use queue::{Store, StoreError};
use webapi::server::Session;
use webapi::types::{
    Suppression, SuppressionAddRequest, SuppressionCheckItem, SuppressionCheckRequest,
    SuppressionCheckResult, SuppressionListResult, SuppressionPresentRequest,
    SuppressionPresentResult, SuppressionRemoveRequest,
};
use webapi::{ApiError, ErrorCode};

use super::{WebApi, blocking, internal};

fn to_api(s: queue::Suppression) -> Suppression {
    Suppression {
        id: s.id,
        created: s.created,
        account: s.account,
        base_address: s.base_address,
        original_address: s.original_address,
        manual: s.manual,
        reason: s.reason,
    }
}

fn parse(address: &str) -> Result<String, ApiError> {
    smtp::Address::parse(address)
        .map(|a| a.to_utf8_wire())
        .map_err(|e| {
            ApiError::new(
                ErrorCode::BadAddress,
                format!("parsing address {address:?}: {e}"),
            )
        })
}

/// Most addresses one SuppressionCheck takes.
pub const MAX_CHECK: usize = 1000;

impl WebApi {
    pub(crate) async fn suppressions_list(
        &self,
        s: &Session,
    ) -> Result<SuppressionListResult, ApiError> {
        let (queue, account) = (self.queue.clone(), s.account.clone());
        let list = blocking("suppression list", move || queue.suppressions(&account))
            .await?
            .map_err(|e| internal("listing suppressions", e))?;
        Ok(SuppressionListResult {
            suppressions: list.into_iter().map(to_api).collect(),
        })
    }

    pub(crate) async fn suppressions_add(
        &self,
        s: &Session,
        req: SuppressionAddRequest,
    ) -> Result<(), ApiError> {
        let address = parse(&req.email_address)?;
        let (queue, account) = (self.queue.clone(), s.account.clone());
        let reason = req.reason;
        match blocking("suppression add", move || {
            queue.suppression_add(&account, &address, &reason)
        })
        .await?
        {
            Ok(_) => Ok(()),
            Err(e @ StoreError::AlreadySuppressed { .. }) => {
                Err(ApiError::new(ErrorCode::Error, e.to_string()))
            }
            Err(e) => Err(internal("adding a suppression", e)),
        }
    }

    pub(crate) async fn suppressions_remove(
        &self,
        s: &Session,
        req: SuppressionRemoveRequest,
    ) -> Result<(), ApiError> {
        let address = parse(&req.email_address)?;
        let (queue, account) = (self.queue.clone(), s.account.clone());
        match blocking("suppression remove", move || {
            queue.suppression_remove(&account, &address)
        })
        .await?
        {
            Ok(()) => Ok(()),
            Err(e @ StoreError::NotFound { .. }) => {
                Err(ApiError::new(ErrorCode::Error, e.to_string()))
            }
            Err(e) => Err(internal("removing a suppression", e)),
        }
    }

    pub(crate) async fn suppressions_present(
        &self,
        s: &Session,
        req: SuppressionPresentRequest,
    ) -> Result<SuppressionPresentResult, ApiError> {
        let address = parse(&req.email_address)?;
        let (queue, account) = (self.queue.clone(), s.account.clone());
        let found = blocking("suppression lookup", move || {
            queue.suppression_lookup(&account, &address)
        })
        .await?
        .map_err(|e| internal("looking up a suppression", e))?;
        Ok(SuppressionPresentResult {
            present: found.is_some(),
        })
    }

    pub(crate) async fn suppressions_check(
        &self,
        s: &Session,
        req: SuppressionCheckRequest,
    ) -> Result<SuppressionCheckResult, ApiError> {
        if req.addresses.len() > MAX_CHECK {
            return Err(ApiError::new(
                ErrorCode::User,
                format!(
                    "{} addresses; at most {MAX_CHECK} per call",
                    req.addresses.len()
                ),
            ));
        }
        let parsed = req
            .addresses
            .iter()
            .map(|a| parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        let (queue, account) = (self.queue.clone(), s.account.clone());
        let found = blocking("suppression check", move || {
            parsed
                .iter()
                .map(|a| queue.suppression_lookup(&account, a))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?
        .map_err(|e| internal("checking suppressions", e))?;
        Ok(SuppressionCheckResult {
            results: req
                .addresses
                .into_iter()
                .zip(found)
                .map(|(address, f)| SuppressionCheckItem {
                    address,
                    suppressed: f.is_some(),
                    reason: f.as_ref().map(|f| f.reason.clone()).unwrap_or_default(),
                    created: f.map(|f| f.created),
                })
                .collect(),
        })
    }
}
