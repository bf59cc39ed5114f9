//! The audit log: what administrators did, to whom, when.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::ids::UserId;
use super::invalid::Invalid;

/// What an administrator did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// Made a user an administrator.
    AdminGranted,
    /// Made an administrator a user again.
    AdminRevoked,
    /// Disabled a user.
    UserDisabled,
    /// Enabled a disabled user again.
    UserEnabled,
    /// Deleted a page of a user's messages; the detail says how many.
    MessagesDeleted,
    /// Made an API key; the detail names it.
    ApiKeyCreated,
    /// Revoked an API key; the detail names it.
    ApiKeyRevoked,
    /// Registered a webhook; the detail names its URL.
    WebhookCreated,
    /// Deleted a webhook; the detail names its URL.
    WebhookDeleted,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::AdminGranted => "admin_granted",
            AuditAction::AdminRevoked => "admin_revoked",
            AuditAction::UserDisabled => "user_disabled",
            AuditAction::UserEnabled => "user_enabled",
            AuditAction::MessagesDeleted => "messages_deleted",
            AuditAction::ApiKeyCreated => "api_key_created",
            AuditAction::ApiKeyRevoked => "api_key_revoked",
            AuditAction::WebhookCreated => "webhook_created",
            AuditAction::WebhookDeleted => "webhook_deleted",
        }
    }
}

impl std::str::FromStr for AuditAction {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s {
            "admin_granted" => Ok(AuditAction::AdminGranted),
            "admin_revoked" => Ok(AuditAction::AdminRevoked),
            "user_disabled" => Ok(AuditAction::UserDisabled),
            "user_enabled" => Ok(AuditAction::UserEnabled),
            "messages_deleted" => Ok(AuditAction::MessagesDeleted),
            "api_key_created" => Ok(AuditAction::ApiKeyCreated),
            "api_key_revoked" => Ok(AuditAction::ApiKeyRevoked),
            "webhook_created" => Ok(AuditAction::WebhookCreated),
            "webhook_deleted" => Ok(AuditAction::WebhookDeleted),
            _ => Err(Invalid::AuditAction),
        }
    }
}

/// One entry of the audit log. `actor` is `None` for the command line, which needs no
/// account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// UUIDv7: entries sort by it in the order they were made.
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: Option<UserId>,
    pub action: AuditAction,
    pub target_user: Option<UserId>,
    pub detail: Option<String>,
}
