//! Administration of the deployment: who administers it (granted from the command line only)
//! and the audit log of what administrators did.

use std::sync::Arc;

use uuid::Uuid;

use super::bulk_deletion::{BulkDeletion, MAX_BULK_DELETION};
use super::logins::LoginRevocations;
use super::messages::MessageService;
use super::users::{DirectoryPage, directory_page};
use super::webhook_outbox::WebhookOutbox;
use crate::domain::{
    AuditAction, AuditEntry, DirectoryCursor, EventType, LoginId, SearchPrefix, SentCursor, User, UserId,
    UserRole, Username, WebhookHosts,
};
use crate::error::Error;
use crate::ports::{ApiKeyStore, AuditLog, Clock, LoginEnded, RefreshTokenStore, UserStore};

/// The most entries an audit page holds, and how many it holds unless asked.
pub const MAX_AUDIT_PAGE: usize = 200;
pub const DEFAULT_AUDIT_PAGE: usize = 50;

/// A page of the audit log, newest first; `next` reads on from its last entry.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// The `before` of the next page; `null` on the last.
    pub next: Option<Uuid>,
}

/// What the command line administers, without the rest of a node: who is an administrator.
pub struct RoleGrants {
    users: Arc<dyn UserStore>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

impl RoleGrants {
    pub fn new(users: Arc<dyn UserStore>, audit: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> Self {
        Self { users, audit, clock }
    }

    /// Makes `username` an administrator (`UserRole::Admin`) or a user again, as the command
    /// line asks: no account acts, and the audit log says so.
    pub async fn set_role(&self, username: &Username, role: UserRole) -> Result<User, Error> {
        let user = self.users.set_role(username, role).await?.ok_or(Error::NotFound("user"))?;
        let action = match role {
            UserRole::Admin => AuditAction::AdminGranted,
            UserRole::User => AuditAction::AdminRevoked,
        };
        let detail = Some("from the command line".into());
        record(self.audit.as_ref(), self.clock.as_ref(), None, action, Some(user.id), detail).await?;
        Ok(user)
    }
}

/// The ports an [`AdminService`] works through.
pub struct AdminPorts {
    pub users: Arc<dyn UserStore>,
    pub audit: Arc<dyn AuditLog>,
    pub tokens: Arc<dyn RefreshTokenStore>,
    pub revocations: Arc<LoginRevocations>,
    pub messages: Arc<MessageService>,
    pub api_keys: Arc<dyn ApiKeyStore>,
    pub webhooks: Arc<WebhookOutbox>,
    /// Where webhooks may be registered for.
    pub webhook_hosts: WebhookHosts,
    pub clock: Arc<dyn Clock>,
}

/// What administrators do over HTTP: list users, disable and enable them, delete a user's
/// messages, read the audit log, manage API keys (see `api_keys`) and webhooks (see
/// `webhooks`).
pub struct AdminService {
    pub(super) users: Arc<dyn UserStore>,
    pub(super) audit: Arc<dyn AuditLog>,
    tokens: Arc<dyn RefreshTokenStore>,
    revocations: Arc<LoginRevocations>,
    messages: Arc<MessageService>,
    pub(super) api_keys: Arc<dyn ApiKeyStore>,
    pub(super) webhooks: Arc<WebhookOutbox>,
    pub(super) webhook_hosts: WebhookHosts,
    pub(super) clock: Arc<dyn Clock>,
}

impl AdminService {
    pub fn new(ports: AdminPorts) -> Self {
        let AdminPorts {
            users,
            audit,
            tokens,
            revocations,
            messages,
            api_keys,
            webhooks,
            webhook_hosts,
            clock,
        } = ports;
        Self { users, audit, tokens, revocations, messages, api_keys, webhooks, webhook_hosts, clock }
    }

    /// The users whose username or display name starts with `prefix`, disabled ones
    /// included, as the directory pages them.
    pub async fn users(
        &self,
        actor: UserId,
        prefix: SearchPrefix,
        after: Option<DirectoryCursor>,
        limit: usize,
    ) -> Result<DirectoryPage, Error> {
        self.require_admin(actor).await?;
        directory_page(self.users.as_ref(), prefix, after, limit, true).await
    }

    /// Disables a user: logins refused, every login of theirs ended (their tokens refused and
    /// their sockets closed on every node, as a logout does), gone from the directory.
    pub async fn disable(&self, actor: UserId, target: UserId) -> Result<User, Error> {
        self.require_admin(actor).await?;
        if target == actor {
            return Err(Error::Forbidden("administrators do not disable themselves"));
        }
        #[derive(serde::Serialize)]
        struct UserDisabledEvent<'a> {
            user: &'a User,
            by: UserId,
        }
        let now = self.clock.now();
        let mut user = self.users.by_id(target).await?.ok_or(Error::NotFound("user"))?;
        user.disabled_at = Some(now);
        let event =
            self.webhooks.event(EventType::UserDisabled, UserDisabledEvent { user: &user, by: actor })?;
        let user =
            self.users.set_disabled(target, Some(now), Some(&event)).await?.ok_or(Error::NotFound("user"))?;
        self.webhooks.stored();
        for family in self.tokens.revoke_other_families(target, None, now).await? {
            self.revocations.revoke(LoginEnded { login: LoginId::from_uuid(family), user: target }).await;
        }
        self.record(Some(actor), AuditAction::UserDisabled, Some(target)).await?;
        Ok(user)
    }

    /// Lets a disabled user log in again.
    pub async fn enable(&self, actor: UserId, target: UserId) -> Result<User, Error> {
        self.require_admin(actor).await?;
        let user = self.users.set_disabled(target, None, None).await?.ok_or(Error::NotFound("user"))?;
        self.record(Some(actor), AuditAction::UserEnabled, Some(target)).await?;
        Ok(user)
    }

    /// Deletes up to `limit` of `target`'s messages, in every room, after `after`: a page of a
    /// walk that, started without `after` and followed through `next`, deletes every message of
    /// theirs acknowledged before it began. Each page that deleted any is written to the audit
    /// log with how many.
    pub async fn delete_messages(
        &self,
        actor: UserId,
        target: UserId,
        after: Option<SentCursor>,
        limit: usize,
    ) -> Result<BulkDeletion, Error> {
        self.require_admin(actor).await?;
        if !(1..=MAX_BULK_DELETION).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be 1 to {MAX_BULK_DELETION}")));
        }
        self.users.by_id(target).await?.ok_or(Error::NotFound("user"))?;
        let page = self.messages.delete_sent_by(actor, target, after, limit).await?;
        if page.deleted > 0 {
            let plural = if page.deleted == 1 { "" } else { "s" };
            let detail = Some(format!("{} message{plural}", page.deleted));
            let action = AuditAction::MessagesDeleted;
            record(self.audit.as_ref(), self.clock.as_ref(), Some(actor), action, Some(target), detail)
                .await?;
        }
        Ok(page)
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
        target: Option<UserId>,
    ) -> Result<(), Error> {
        record(self.audit.as_ref(), self.clock.as_ref(), actor, action, target, None).await
    }
}

pub(super) async fn record(
    audit: &dyn AuditLog,
    clock: &dyn Clock,
    actor: Option<UserId>,
    action: AuditAction,
    target_user: Option<UserId>,
    detail: Option<String>,
) -> Result<(), Error> {
    let entry = AuditEntry { id: Uuid::now_v7(), at: clock.now(), actor, action, target_user, detail };
    Ok(audit.record(&entry).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::testkit::Kit;

    #[tokio::test]
    async fn the_command_line_grants_and_revokes_and_the_audit_log_pages_newest_first() {
        let kit = Kit::new();
        let (grants, admins) = kit.admin();
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let granted = grants.set_role(&Username::parse("ANN").unwrap(), UserRole::Admin).await;
        assert_eq!(granted.unwrap().role, UserRole::Admin);
        grants.set_role(&Username::parse("bob").unwrap(), UserRole::Admin).await.unwrap();
        grants.set_role(&Username::parse("bob").unwrap(), UserRole::User).await.unwrap();

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
        let (grants, admins) = kit.admin();
        let bob = kit.user("bob").await;
        assert!(matches!(admins.audit(bob, None, 10).await, Err(Error::Forbidden(_))));
        assert!(matches!(admins.audit(UserId::generate(), None, 10).await, Err(Error::Unauthorized)));
        let nobody = grants.set_role(&Username::parse("nobody").unwrap(), UserRole::Admin).await;
        assert!(matches!(nobody, Err(Error::NotFound("user"))));
        grants.set_role(&Username::parse("bob").unwrap(), UserRole::Admin).await.unwrap();
        for limit in [0, MAX_AUDIT_PAGE + 1] {
            assert!(matches!(admins.audit(bob, None, limit).await, Err(Error::InvalidInput(_))));
        }
    }

    #[tokio::test]
    async fn a_disabled_user_loses_every_login_cannot_log_in_and_leaves_the_directory_until_enabled() {
        let kit = Kit::new();
        let (grants, admins) = kit.admin();
        let registration = |name: &str| crate::usecases::Registration {
            username: Username::parse(name).unwrap(),
            password: crate::domain::Password::parse("correct horse").unwrap(),
            display_name: None,
        };
        let root = kit.auth.register(registration("root")).await.unwrap().user.id;
        grants.set_role(&Username::parse("root").unwrap(), UserRole::Admin).await.unwrap();
        let laptop = kit.auth.register(registration("bob")).await.unwrap();
        let bob = laptop.user.id;
        kit.auth.login("bob", "correct horse").await.unwrap();

        let disabled = admins.disable(root, bob).await.unwrap();
        assert!(disabled.disabled_at.is_some());
        assert_eq!(kit.closed.all().len(), 2, "both of bob's logins ended");
        let refused = kit.auth.login("bob", "correct horse").await;
        assert!(matches!(refused, Err(Error::Forbidden("this account is disabled"))));
        assert!(kit.auth.refresh(&laptop.refresh).await.is_err());
        let prefix = SearchPrefix::parse("bo").unwrap();
        assert!(kit.users.search(prefix.clone(), None, 10).await.unwrap().users.is_empty());
        assert_eq!(admins.users(root, prefix.clone(), None, 10).await.unwrap().users, vec![disabled]);

        assert!(matches!(admins.disable(bob, root).await, Err(Error::Forbidden(_))));
        assert!(matches!(admins.disable(root, root).await, Err(Error::Forbidden(_))));
        assert!(matches!(admins.disable(root, UserId::generate()).await, Err(Error::NotFound(_))));
        assert!(matches!(admins.users(bob, prefix.clone(), None, 10).await, Err(Error::Forbidden(_))));

        assert_eq!(admins.enable(root, bob).await.unwrap().disabled_at, None);
        kit.auth.login("bob", "correct horse").await.unwrap();
        assert_eq!(kit.users.search(prefix, None, 10).await.unwrap().users.len(), 1);
        let actions: Vec<AuditAction> =
            admins.audit(root, None, 10).await.unwrap().entries.iter().map(|e| e.action).collect();
        assert_eq!(actions, [AuditAction::UserEnabled, AuditAction::UserDisabled, AuditAction::AdminGranted]);
    }

    #[tokio::test]
    async fn only_administrators_delete_a_users_messages_and_each_page_that_did_is_audited() {
        let kit = Kit::new();
        let (grants, admins) = kit.admin();
        let (root, bob) = (kit.user("root").await, kit.user("bob").await);
        grants.set_role(&Username::parse("root").unwrap(), UserRole::Admin).await.unwrap();
        let room = kit.group(bob, vec![]).await;
        kit.send(bob, room, "spam").await;
        kit.persist_all().await;

        assert!(matches!(admins.delete_messages(bob, bob, None, 10).await, Err(Error::Forbidden(_))));
        for limit in [0, MAX_BULK_DELETION + 1] {
            let refused = admins.delete_messages(root, bob, None, limit).await;
            assert!(matches!(refused, Err(Error::InvalidInput(_))), "{limit}");
        }
        let nobody = admins.delete_messages(root, UserId::generate(), None, 10).await;
        assert!(matches!(nobody, Err(Error::NotFound("user"))));

        assert_eq!(admins.delete_messages(root, bob, None, 10).await.unwrap().deleted, 1);
        kit.persist_all().await;
        assert_eq!(admins.delete_messages(root, bob, None, 10).await.unwrap().deleted, 0);
        let entries = admins.audit(root, None, 10).await.unwrap().entries;
        let deletions: Vec<_> = entries
            .iter()
            .filter(|e| e.action == AuditAction::MessagesDeleted)
            .map(|e| (e.actor, e.target_user, e.detail.as_deref()))
            .collect();
        assert_eq!(
            deletions,
            [(Some(root), Some(bob), Some("1 message"))],
            "a page that deleted nothing is not"
        );
    }
}
