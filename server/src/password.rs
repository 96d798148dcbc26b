//! Password hashing: Argon2id (OWASP: 19 MiB, 2 passes, 1 lane) on a few threads of its own.
//!
//! Each hashing thread allocates its 19 MiB once and reuses it for every hash, so memory stays at
//! threads × 19 MiB however many logins arrive (a fresh buffer per hash on the blocking pool left
//! malloc arenas holding hundreds of MiB). The queue in front of them is bounded: when it is full the
//! request is refused as `unavailable` at once instead of waiting without end.

use crate::error::{Error, Result};
use argon2::{
    password_hash::{rand_core::OsRng, Output, PasswordHash, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// Hashes waiting for a thread, beyond which requests are refused.
const QUEUE: usize = 64;
/// The memory cost in KiB, and so in Argon2 blocks.
const MEMORY_KIB: u32 = 19 * 1024;

fn params() -> Params {
    Params::new(MEMORY_KIB, 2, 1, None).expect("OWASP parameters are valid")
}

/// Work for a hashing thread; it answers through a channel of its own.
type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// The handle requests use; cheap to clone. The threads end when the last handle is dropped.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: mpsc::SyncSender<Job>,
    /// Verified against when the username is unknown, so the answer takes as long either way.
    decoy_hash: Arc<str>,
}

impl PasswordHasher {
    /// Starts `threads` hashing threads.
    pub fn new(threads: usize) -> Self {
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || work(&queue))
                .expect("a hashing thread starts");
        }
        let decoy_hash = Worker::default()
            .hash("natter decoy password")
            .expect("hashing works")
            .into();
        Self { jobs, decoy_hash }
    }

    /// Queues `work`, or refuses at once when the queue is full.
    fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>> {
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move |worker| {
            let _ = done.send(work(worker));
        });
        self.jobs.try_send(job).map_err(|error| match error {
            mpsc::TrySendError::Full(_) => Error::Busy,
            mpsc::TrySendError::Disconnected(_) => Error::Internal("hasher stopped".into()),
        })?;
        Ok(answer)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<T> {
        self.submit(work)?
            .await
            .map_err(|_| Error::Internal("a hashing thread failed".into()))
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(move |worker| worker.hash(&password)).await?
    }

    /// Whether `password` matches `stored`; with no stored hash it checks the decoy and says no.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.decoy_hash.to_string());
        let matches = self
            .run(move |worker| worker.verify(&password, &stored))
            .await?;
        Ok(known && matches)
    }
}

fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    let mut worker = Worker::default();
    // One thread at a time waits for the next job; the lock is let go as soon as it has one.
    while let Ok(Ok(job)) = queue.lock().map(|queue| queue.recv()) {
        job(&mut worker);
    }
}

/// One thread's Argon2 memory, allocated on first use and kept.
#[derive(Default)]
struct Worker {
    blocks: Vec<Block>,
}

impl Worker {
    fn memory(&mut self, params: &Params) -> &mut [Block] {
        if self.blocks.len() < params.block_count() {
            self.blocks = vec![Block::default(); params.block_count()];
        }
        &mut self.blocks
    }

    fn hash(&mut self, password: &str) -> Result<String> {
        let failed = |e: &dyn std::fmt::Display| Error::Internal(format!("hashing failed: {e}"));
        let params = params();
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| failed(&e))?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt_bytes,
                &mut out,
                self.memory(&params),
            )
            .map_err(|e| failed(&e))?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: (&params).try_into().map_err(|e| failed(&e))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(hash.to_string())
    }

    /// Whether `password` hashes to `stored` (a PHC string); an unreadable hash never matches.
    fn verify(&mut self, password: &str, stored: &str) -> bool {
        let Ok(stored) = PasswordHash::new(stored) else {
            return false;
        };
        let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
            Algorithm::try_from(stored.algorithm),
            Params::try_from(&stored),
            stored.salt,
            stored.hash,
        ) else {
            return false;
        };
        let version = stored
            .version
            .and_then(|v| Version::try_from(v).ok())
            .unwrap_or_default();
        let mut salt_bytes = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        let mut out = vec![0u8; expected.len()];
        let hashed = Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt_bytes,
                &mut out,
                self.memory(&params),
            );
        // `Output` compares in constant time.
        hashed.is_ok() && Output::new(&out).is_ok_and(|out| out == expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

    #[tokio::test]
    async fn passwords_verify_only_against_their_own_hash() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher
            .verify("correct horse".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify("wrong horse".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify("natter decoy password".into(), None)
            .await
            .unwrap());
        assert!(!hasher
            .verify("correct horse".into(), Some("not a hash".into()))
            .await
            .unwrap());
        // The hashes are standard PHC strings: the reference implementation agrees.
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
    }

    #[test]
    fn a_full_queue_is_refused_not_waited_on() {
        // No thread takes work from this queue, so it only fills.
        let (jobs, _queue) = mpsc::sync_channel::<Job>(QUEUE);
        let hasher = PasswordHasher {
            jobs,
            decoy_hash: "unused".into(),
        };
        let queued: Vec<_> = (0..QUEUE).map(|_| hasher.submit(|_| ()).unwrap()).collect();
        assert!(matches!(hasher.submit(|_| ()), Err(Error::Busy)));
        drop(queued);
    }
}
