//! API keys: administrators make and revoke them; an application backend calls the
//! server-to-server routes with one, acting as one of its users with exactly their rights.

use crate::domain::{ApiKey, ApiKeyId, ApiKeyName, ApiKeySecret, AuditAction, Scope, UserId};
use crate::error::Error;
use crate::ports::KeyRevocation;

use super::admin::{AdminService, record};

/// A key just made, with the secret shown this once.
#[derive(Debug, Clone)]
pub struct IssuedApiKey {
    pub key: ApiKey,
    pub secret: ApiKeySecret,
}

impl AdminService {
    pub async fn create_api_key(
        &self,
        actor: UserId,
        name: ApiKeyName,
        scopes: Vec<Scope>,
    ) -> Result<IssuedApiKey, Error> {
        self.require_admin(actor).await?;
        let key = ApiKey {
            id: ApiKeyId::generate(),
            name,
            scopes,
            created_at: self.clock.now(),
            created_by: Some(actor),
            revoked_at: None,
        };
        let secret = ApiKeySecret::generate();
        self.api_keys.insert(&key, &secret.hash()).await?;
        self.record_key(actor, AuditAction::ApiKeyCreated, &key).await?;
        Ok(IssuedApiKey { key, secret })
    }

    /// Every key, newest first, revoked ones included.
    pub async fn api_keys(&self, actor: UserId) -> Result<Vec<ApiKey>, Error> {
        self.require_admin(actor).await?;
        Ok(self.api_keys.all().await?)
    }

    /// Revokes a key: every node refuses it from now on, as each call looks it up.
    pub async fn revoke_api_key(&self, actor: UserId, id: ApiKeyId) -> Result<ApiKey, Error> {
        self.require_admin(actor).await?;
        match self.api_keys.revoke(id, self.clock.now()).await?.ok_or(Error::NotFound("API key"))? {
            KeyRevocation::Revoked(key) => {
                self.record_key(actor, AuditAction::ApiKeyRevoked, &key).await?;
                Ok(key)
            }
            KeyRevocation::AlreadyRevoked(key) => Ok(key),
        }
    }

    /// The key a caller presents: `Unauthorized` when it is unknown or revoked.
    pub async fn api_key(&self, secret: &ApiKeySecret) -> Result<ApiKey, Error> {
        let key = self.api_keys.by_secret(&secret.hash()).await?;
        key.filter(|key| key.revoked_at.is_none()).ok_or(Error::Unauthorized)
    }

    /// The user a call made with `key` acts as, on a route that needs `scope`: `Forbidden`
    /// for a key without the scope or a disabled user, `NotFound` for an unknown user.
    pub async fn act_as(&self, key: &ApiKey, scope: Scope, user: UserId) -> Result<UserId, Error> {
        require_scope(key, scope)?;
        let user = self.users.by_id(user).await?.ok_or(Error::NotFound("user"))?;
        if user.disabled_at.is_some() {
            return Err(Error::Forbidden("this account is disabled"));
        }
        Ok(user.id)
    }

    async fn record_key(&self, actor: UserId, action: AuditAction, key: &ApiKey) -> Result<(), Error> {
        let detail = Some(format!("{} ({})", key.name.as_str(), key.id));
        record(self.audit.as_ref(), self.clock.as_ref(), Some(actor), action, None, detail).await
    }
}

/// Refuses `Forbidden` a key without `scope`.
pub fn require_scope(key: &ApiKey, scope: Scope) -> Result<(), Error> {
    if key.allows(scope) { Ok(()) } else { Err(Error::Forbidden(lacks(scope))) }
}

fn lacks(scope: Scope) -> &'static str {
    match scope {
        Scope::MessagesPublish => "this API key lacks the messages:publish scope",
        Scope::RoomsWrite => "this API key lacks the rooms:write scope",
        Scope::UsersRead => "this API key lacks the users:read scope",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{UserRole, Username};
    use crate::usecases::testkit::Kit;

    fn name(raw: &str) -> ApiKeyName {
        ApiKeyName::parse(raw).unwrap()
    }

    #[tokio::test]
    async fn a_key_acts_as_a_user_within_its_scopes_until_revoked() {
        let kit = Kit::new();
        let (grants, admins) = kit.admin();
        let (root, bob) = (kit.user("root").await, kit.user("bob").await);
        grants.set_role(&Username::parse("root").unwrap(), UserRole::Admin).await.unwrap();

        let issued =
            admins.create_api_key(root, name("billing"), vec![Scope::MessagesPublish]).await.unwrap();
        assert_eq!((issued.key.created_by, issued.key.revoked_at), (Some(root), None));
        let secret = issued.secret.clone();
        let key = admins.api_key(&secret).await.unwrap();
        assert_eq!(key, issued.key);
        assert_eq!(admins.act_as(&key, Scope::MessagesPublish, bob).await.unwrap(), bob);
        let scopeless = admins.act_as(&key, Scope::RoomsWrite, bob).await;
        assert!(matches!(scopeless, Err(Error::Forbidden("this API key lacks the rooms:write scope"))));
        let nobody = admins.act_as(&key, Scope::MessagesPublish, UserId::generate()).await;
        assert!(matches!(nobody, Err(Error::NotFound("user"))));
        let unknown = ApiKeySecret::generate();
        assert!(matches!(admins.api_key(&unknown).await, Err(Error::Unauthorized)));

        admins.disable(root, bob).await.unwrap();
        let disabled = admins.act_as(&key, Scope::MessagesPublish, bob).await;
        assert!(matches!(disabled, Err(Error::Forbidden("this account is disabled"))));
        admins.enable(root, bob).await.unwrap();

        let revoked = admins.revoke_api_key(root, issued.key.id).await.unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(matches!(admins.api_key(&secret).await, Err(Error::Unauthorized)));
        let again = admins.revoke_api_key(root, issued.key.id).await.unwrap();
        assert_eq!(again.revoked_at, revoked.revoked_at, "revoking twice changes nothing");

        let actions: Vec<AuditAction> =
            admins.audit(root, None, 10).await.unwrap().entries.iter().map(|e| e.action).collect();
        let key_actions: Vec<_> = actions
            .into_iter()
            .filter(|a| matches!(a, AuditAction::ApiKeyCreated | AuditAction::ApiKeyRevoked))
            .collect();
        assert_eq!(key_actions, [AuditAction::ApiKeyRevoked, AuditAction::ApiKeyCreated]);
    }

    #[tokio::test]
    async fn only_administrators_make_list_and_revoke_keys() {
        let kit = Kit::new();
        let (grants, admins) = kit.admin();
        let (root, bob) = (kit.user("root").await, kit.user("bob").await);
        grants.set_role(&Username::parse("root").unwrap(), UserRole::Admin).await.unwrap();
        let first = admins.create_api_key(root, name("first"), vec![Scope::UsersRead]).await.unwrap();
        let second = admins.create_api_key(root, name("second"), vec![Scope::RoomsWrite]).await.unwrap();
        let listed: Vec<ApiKeyId> = admins.api_keys(root).await.unwrap().iter().map(|k| k.id).collect();
        assert_eq!(listed, [second.key.id, first.key.id], "newest first");

        let refused = admins.create_api_key(bob, name("mine"), vec![Scope::UsersRead]).await;
        assert!(matches!(refused, Err(Error::Forbidden(_))));
        assert!(matches!(admins.api_keys(bob).await, Err(Error::Forbidden(_))));
        assert!(matches!(admins.revoke_api_key(bob, first.key.id).await, Err(Error::Forbidden(_))));
        let unknown = admins.revoke_api_key(root, ApiKeyId::generate()).await;
        assert!(matches!(unknown, Err(Error::NotFound("API key"))));
        assert_eq!(admins.api_keys(root).await.unwrap().len(), 2);
    }
}
