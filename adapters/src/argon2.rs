//! Argon2id password hashing on threads of its own, which run at a lower CPU priority than the
//! rest of the process: a storm of logins queues up and takes the CPU that is left over, instead
//! of slowing every message and request down with it.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::SaltString;
use argon2::password_hash::rand_core::OsRng;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;
use chat_shared::domain::{Password, PasswordHash};
use chat_shared::ports::PasswordHasher;
use tokio::sync::oneshot;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Job = Box<dyn FnOnce() + Send>;

/// The default niceness added to the hashing threads: with the default weights of Linux's
/// scheduler a thread at 10 gets about a tenth of what a busy thread at 0 gets, and all of an
/// idle core.
pub const DEFAULT_HASH_NICENESS: u8 = 10;

#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    /// Work for the hashing threads; they end when the last clone of the hasher is dropped.
    jobs: mpsc::Sender<Job>,
    /// A real hash of a random password, checked against when the username is unknown so that
    /// case costs the same time as a wrong password.
    decoy: PasswordHash,
}

impl Argon2Hasher {
    /// `memory_kib` and `iterations` tune the cost (OWASP: 19 MiB, 2 iterations); `threads`
    /// hashes run at once, each on a thread whose niceness is the process's plus `niceness`.
    pub fn new(memory_kib: u32, iterations: u32, threads: usize, niceness: u8) -> Result<Self, BoxError> {
        let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| e.to_string())?;
        let decoy_password = uuid::Uuid::new_v4().to_string();
        let decoy = hash_blocking(&params, &decoy_password)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || {
                lower_priority(niceness);
                loop {
                    // The lock is held only while waiting for the next job, never while hashing.
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })?;
        }
        Ok(Self { params, jobs, decoy })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(Params) -> Result<T, BoxError> + Send + 'static,
    ) -> Result<T, BoxError> {
        let (done, result) = oneshot::channel();
        let params = self.params.clone();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work(params));
            }))
            .map_err(|_| "the hashing threads are gone")?;
        result.await?
    }
}

/// Lowers the calling thread's CPU priority by `niceness` (at most to 19). Linux gives each
/// thread its own niceness; other systems would lower the whole process, so there the threads
/// keep the normal priority.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn lower_priority(niceness: u8) {
    #[cfg(target_os = "linux")]
    if niceness > 0 {
        use rustix::process::{getpriority_process, setpriority_process};
        // `None` names the calling thread (Linux's setpriority takes a thread id).
        let lowered = getpriority_process(None)
            .and_then(|current| setpriority_process(None, (current + i32::from(niceness)).min(19)));
        if let Err(err) = lowered {
            tracing::warn!(error = %err, "could not lower the priority of a hashing thread");
        }
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
        let hasher = Argon2Hasher::new(1024, 1, 2, DEFAULT_HASH_NICENESS).unwrap();
        let hash = hasher.hash(&Password::parse("correct horse").unwrap()).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&hash)).await.unwrap());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_at_a_lower_priority_than_the_process() {
        let nice_of_this_thread = || rustix::process::getpriority_process(None).unwrap();
        let ours = nice_of_this_thread();
        for niceness in [0, 5, DEFAULT_HASH_NICENESS] {
            let hasher = Argon2Hasher::new(1024, 1, 1, niceness).unwrap();
            let theirs = hasher.run(move |_| Ok(nice_of_this_thread())).await.unwrap();
            assert_eq!(theirs, (ours + i32::from(niceness)).min(19), "niceness {niceness}");
        }
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let hasher = Argon2Hasher::new(1024, 1, 2, DEFAULT_HASH_NICENESS).unwrap();
        assert!(!hasher.verify("anything at all", None).await.unwrap());
    }
}
