//! Administration of the deployment: who administers it (granted from the command line only)
//! and the audit log of what administrators did.

use std::sync::Arc;

use uuid::Uuid;

use crate::domain::{AuditAction, AuditEntry, User, UserId, UserRole, Username};
use crate::error::Error;
use crate::ports::{AuditLog, Clock, UserStore};

/// The most entries an audit page holds, and how many it holds unless asked.
pub const MAX_AUDIT_PAGE: usize = 200;
pub const DEFAULT_AUDIT_PAGE: usize = 50;

/// A page of the audit log, newest first; `next` reads on from its last entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next: Option<Uuid>,
}

pub struct AdminService {
    users: Arc<dyn UserStore>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

impl AdminService {
    pub fn new(users: Arc<dyn UserStore>, audit: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> Self {
        Self { users, audit, clock }
    }

    /// Makes `username` an administrator (`UserRole::Admin`) or a user again, as the command
    /// line asks: no account acts, and the audit log says so.
    pub async fn set_role_from_command_line(
        &self,
        username: &Username,
        role: UserRole,
    ) -> Result<User, Error> {
        let user = self.users.set_role(username, role).await?.ok_or(Error::NotFound("user"))?;
        let action = match role {
            UserRole::Admin => AuditAction::AdminGranted,
            UserRole::User => AuditAction::AdminRevoked,
        };
        self.record(None, action, Some(user.id), Some("from the command line".into())).await?;
        Ok(user)
    }

    /// A page of the audit log, for administrators only.
    pub async fn audit(&self, actor: UserId, before: Option<Uuid>, limit: usize) -> Result<AuditPage, Error> {
        self.require_admin(actor).await?;
        if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be 1 to {MAX_AUDIT_PAGE}")));
        }
        let mut entries = self.audit.page(before, limit + 1).await?;
        let next = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(|e| e.id)
        } else {
            None
        };
        Ok(AuditPage { entries, next })
    }

    /// Refuses anyone who is not an administrator (`401` for a user who no longer exists).
    pub async fn require_admin(&self, actor: UserId) -> Result<User, Error> {
        let user = self.users.by_id(actor).await?.ok_or(Error::Unauthorized)?;
        if user.role != UserRole::Admin {
            return Err(Error::Forbidden("administrators only"));
        }
        Ok(user)
    }

    async fn record(
        &self,
        actor: Option<UserId>,
        action: AuditAction,
        target_user: Option<UserId>,
        detail: Option<String>,
    ) -> Result<(), Error> {
        let entry =
            AuditEntry { id: Uuid::now_v7(), at: self.clock.now(), actor, action, target_user, detail };
        Ok(self.audit.record(&entry).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryAuditLog;
    use crate::usecases::testkit::Kit;

    fn admin(kit: &Kit) -> AdminService {
        AdminService::new(kit.user_store.clone(), Arc::new(MemoryAuditLog::default()), kit.clock.clone())
    }

    #[tokio::test]
    async fn the_command_line_grants_and_revokes_and_the_audit_log_pages_newest_first() {
        let kit = Kit::new();
        let admins = admin(&kit);
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let granted =
            admins.set_role_from_command_line(&Username::parse("ANN").unwrap(), UserRole::Admin).await;
        assert_eq!(granted.unwrap().role, UserRole::Admin);
        admins.set_role_from_command_line(&Username::parse("bob").unwrap(), UserRole::Admin).await.unwrap();
        admins.set_role_from_command_line(&Username::parse("bob").unwrap(), UserRole::User).await.unwrap();

        let first = admins.audit(ann, None, 2).await.unwrap();
        let seen: Vec<_> = first.entries.iter().map(|e| (e.action, e.target_user, e.actor)).collect();
        assert_eq!(
            seen,
            [(AuditAction::AdminRevoked, Some(bob), None), (AuditAction::AdminGranted, Some(bob), None)]
        );
        let rest = admins.audit(ann, first.next, 2).await.unwrap();
        assert_eq!(rest.entries.len(), 1);
        assert_eq!((rest.entries[0].target_user, rest.next), (Some(ann), None));
    }

    #[tokio::test]
    async fn only_administrators_read_the_audit_log_and_unknown_names_are_not_found() {
        let kit = Kit::new();
        let admins = admin(&kit);
        let bob = kit.user("bob").await;
        assert!(matches!(admins.audit(bob, None, 10).await, Err(Error::Forbidden(_))));
        assert!(matches!(admins.audit(UserId::generate(), None, 10).await, Err(Error::Unauthorized)));
        let nobody =
            admins.set_role_from_command_line(&Username::parse("nobody").unwrap(), UserRole::Admin).await;
        assert!(matches!(nobody, Err(Error::NotFound("user"))));
        admins.set_role_from_command_line(&Username::parse("bob").unwrap(), UserRole::Admin).await.unwrap();
        for limit in [0, MAX_AUDIT_PAGE + 1] {
            assert!(matches!(admins.audit(bob, None, limit).await, Err(Error::InvalidInput(_))));
        }
    }
}
