//! Argon2id password hashing, off the async runtime and with bounded concurrency, so a storm of
//! logins queues up instead of starving every other request of CPU.

use std::sync::Arc;

use argon2::password_hash::SaltString;
use argon2::password_hash::rand_core::OsRng;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;
use chat_shared::domain::{Password, PasswordHash};
use chat_shared::ports::PasswordHasher;
use tokio::sync::Semaphore;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real hash of a random password, checked against when the username is unknown so that
    /// case costs the same time as a wrong password.
    decoy: PasswordHash,
}

impl Argon2Hasher {
    /// `memory_kib` and `iterations` tune the cost (OWASP: 19 MiB, 2 iterations); at most
    /// `concurrency` hashes run at once.
    pub fn new(memory_kib: u32, iterations: u32, concurrency: usize) -> Result<Self, BoxError> {
        let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| e.to_string())?;
        let decoy_password = uuid::Uuid::new_v4().to_string();
        let decoy = hash_blocking(&params, &decoy_password)?;
        Ok(Self { params, permits: Arc::new(Semaphore::new(concurrency.max(1))), decoy })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(Params) -> Result<T, BoxError> + Send + 'static,
    ) -> Result<T, BoxError> {
        let _permit = self.permits.acquire().await?;
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || work(params)).await?
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(params: &Params, password: &str) -> Result<PasswordHash, BoxError> {
    let salt = SaltString::generate(&mut OsRng);
    let encoded = argon2(params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| e.to_string())?
        .to_string();
    Ok(PasswordHash::new(encoded))
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, BoxError> {
        let password = password.expose().to_owned();
        self.run(move |params| hash_blocking(&params, &password)).await
    }

    async fn verify(&self, password: &str, hash: Option<&PasswordHash>) -> Result<bool, BoxError> {
        let known = hash.is_some();
        let encoded = hash.unwrap_or(&self.decoy).as_str().to_owned();
        let password = password.to_owned();
        let matches = self
            .run(move |params| {
                let parsed = argon2::PasswordHash::new(&encoded).map_err(|e| e.to_string())?;
                Ok(argon2(params).verify_password(password.as_bytes(), &parsed).is_ok())
            })
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let hasher = Argon2Hasher::new(1024, 1, 2).unwrap();
        let hash = hasher.hash(&Password::parse("correct horse").unwrap()).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let hasher = Argon2Hasher::new(1024, 1, 2).unwrap();
        assert!(!hasher.verify("anything at all", None).await.unwrap());
    }
}
