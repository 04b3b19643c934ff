//! The writer's inbox: one SPSC ring from each core, and the writer
//! thread's doorbell (`ephpm_rt::doorbell`), so a core hands a statement
//! to the writer without a lock and wakes it only when it sleeps. A core
//! registers its ring when it opens its handle; the writer ends once the
//! database and every core's handle are gone and the rings are drained.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ephpm_rt::doorbell::Doorbell;
use rtrb::{Consumer, Producer, PushError, RingBuffer};

/// Statements a core may have queued for the writer at once.
const RING: usize = 4096;

struct Shared<T> {
    /// Rings registered since the writer last looked.
    new: Mutex<Vec<Consumer<T>>>,
    /// The writer's doorbell.
    bell: Doorbell,
    /// The database handle (which registers new cores) is gone.
    closed: AtomicBool,
}

/// The database's side: registers a ring for each core.
pub struct Registry<T> {
    shared: Arc<Shared<T>>,
}

/// A core's side: its ring into the writer.
pub struct Sender<T> {
    ring: RefCell<Producer<T>>,
    shared: Arc<Shared<T>>,
}

/// The writer's side: every core's ring.
pub struct Receiver<T> {
    rings: Vec<Consumer<T>>,
    shared: Arc<Shared<T>>,
}

/// Why the writer stopped waiting.
pub enum Wait {
    /// Jobs may be queued.
    Ready,
    /// The deadline passed.
    Timeout,
    /// Every sender is gone and the rings are empty.
    Closed,
}

/// A new, empty queue.
pub fn queue<T>() -> (Registry<T>, Receiver<T>) {
    let shared =
        Arc::new(Shared { new: Mutex::new(Vec::new()), bell: Doorbell::default(), closed: AtomicBool::new(false) });
    (Registry { shared: Arc::clone(&shared) }, Receiver { rings: Vec::new(), shared })
}

impl<T> Registry<T> {
    /// A ring for one core.
    pub fn sender(&self) -> Sender<T> {
        let (tx, rx) = RingBuffer::new(RING);
        self.shared.new.lock().unwrap_or_else(|p| p.into_inner()).push(rx);
        self.shared.bell.ring();
        Sender { ring: RefCell::new(tx), shared: Arc::clone(&self.shared) }
    }
}

impl<T> Drop for Registry<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.bell.wake_always();
    }
}

/// Why a job was handed back.
pub enum SendError<T> {
    /// This core already has a full ring of statements queued.
    Full(T),
    /// The writer thread is gone.
    Closed(T),
}

impl<T> Sender<T> {
    /// Queues `job` and wakes the writer if it sleeps.
    pub fn send(&self, job: T) -> Result<(), SendError<T>> {
        let mut ring = self.ring.borrow_mut();
        if ring.is_abandoned() {
            return Err(SendError::Closed(job));
        }
        ring.push(job).map_err(|PushError::Full(j)| SendError::Full(j))?;
        self.shared.bell.ring();
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // The writer notices the abandoned ring when it next looks.
        self.shared.bell.wake_always();
    }
}

impl<T> Receiver<T> {
    /// Binds the writer thread to the doorbell.
    pub fn bind_thread(&self) {
        self.shared.bell.bind_thread();
    }

    /// Moves every queued job into `out`, ring by ring.
    pub fn drain(&mut self, out: &mut impl Extend<T>) {
        let new = std::mem::take(&mut *self.shared.new.lock().unwrap_or_else(|p| p.into_inner()));
        self.rings.extend(new);
        for ring in &mut self.rings {
            while let Ok(job) = ring.pop() {
                out.extend(Some(job));
            }
        }
        self.rings.retain(|r| !(r.is_abandoned() && r.is_empty()));
    }

    /// Waits until a job is queued, `deadline` passes (if any), or the
    /// queue is closed for good.
    pub fn wait(&self, deadline: Option<Instant>) -> Wait {
        let closed = || {
            self.shared.closed.load(Ordering::SeqCst)
                && self.rings.iter().all(|r| r.is_abandoned())
                && self.shared.new.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
        };
        let queued = || {
            self.rings.iter().any(|r| !r.is_empty())
                || !self.shared.new.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
        };
        let mut outcome = Wait::Ready;
        let ready = || {
            if queued() {
                return true;
            }
            if closed() {
                outcome = Wait::Closed;
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                outcome = Wait::Timeout;
                return true;
            }
            false
        };
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()).max(Duration::from_micros(1)));
        self.shared.bell.wait_until_timeout(ready, left);
        outcome
    }
}
