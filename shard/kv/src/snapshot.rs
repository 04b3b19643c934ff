//! Persistence: the whole store written as one zstd-compressed snapshot
//! (temp file, fsync, rename: a crash leaves the old snapshot or the new
//! one, never a mix), and read back at start. A snapshot that does not
//! read to its end marker is refused whole, never half-loaded.
//!
//! Format, inside one zstd frame with its content checksum:
//! `EPHPMKV1`, then per key: type byte (`s` string, `h` hash, `l` list,
//! `S` set, `z` sorted set, `E` end), expiry (u64, 0 for none), key, value;
//! after `E` the number of keys (u64). Lengths and counts are u32 (values
//! u64), all little-endian.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use hashbrown::{HashMap, HashSet};

use super::keyspace::{Value, ZSet};
use super::node::{Answer, KvNode, Op, Step};
use super::shard::{lock, SharedKeyspace};
use super::shard_of;
use super::transaction::Holds;

const MAGIC: &[u8; 8] = b"EPHPMKV1";

/// One key as a snapshot holds it.
pub type Record = (Bytes, Value, Option<u64>);

/// Writes every shard's keys to `path` from the shards themselves: only
/// once no core serves them any more (the save at shutdown); while the
/// cores run, [`take`] copies them through the cores.
pub fn write(path: &Path, keyspaces: &[SharedKeyspace]) -> io::Result<u64> {
    let shards: Vec<Vec<Record>> = keyspaces.iter().map(|ks| lock(ks).snapshot_records()).collect();
    write_records(path, &shards)
}

/// Writes `shards` (each core's records) to `path` atomically. Returns the
/// key count.
pub fn write_records(path: &Path, shards: &[Vec<Record>]) -> io::Result<u64> {
    let tmp = tmp_path(path);
    let file = File::create(&tmp)?;
    let mut enc = zstd::Encoder::new(BufWriter::new(file), 3)?;
    enc.include_checksum(true)?;
    enc.write_all(MAGIC)?;
    let mut count = 0u64;
    for records in shards {
        for (key, value, expires) in records {
            write_record(&mut enc, key, value, *expires)?;
            count += 1;
        }
    }
    enc.write_all(b"E")?;
    enc.write_all(&count.to_le_bytes())?;
    let file = enc.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // Make the rename itself durable.
        if let Ok(d) = File::open(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }) {
            let _ = d.sync_all();
        }
    }
    Ok(count)
}

/// Copies every core's keys at one consistent point, from a core. The
/// point is a barrier: every shard is held (in core order, like a
/// transaction) and marks its point, then all are released. Each core
/// then copies its own keys a slice at a time while it keeps serving;
/// a write to a key not yet copied copies it first (copy-on-write per
/// key). No other thread touches a core's keys.
pub async fn take(node: &KvNode) -> Vec<Vec<Record>> {
    let shards: Vec<usize> = (0..node.cores()).collect();
    {
        let holds = Holds::take(node, &shards).await;
        futures_util::future::join_all(shards.iter().map(|&s| holds.step(s, Step::BeginSnapshot))).await;
    }
    node.flush();
    let copies = shards.iter().map(|&s| node.ask(s, Op::CollectSnapshot));
    futures_util::future::join_all(copies)
        .await
        .into_iter()
        .map(|a| if let Answer::Records(r) = a { r } else { Vec::new() })
        .collect()
}

/// The thread that compresses and writes periodic snapshots, off the
/// cores. Start it from an unpinned thread (at boot): a thread inherits
/// its creator's CPU, and a writer pinned to core 0's CPU would take turns
/// with that core for the whole compression.
#[derive(Clone)]
pub struct SnapshotWriter {
    tx: std::sync::mpsc::SyncSender<Vec<Vec<Record>>>,
    /// Set while a snapshot is handed over or being written.
    busy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Held by the writer thread while it writes the file.
    writing: std::sync::Arc<std::sync::Mutex<()>>,
}

impl SnapshotWriter {
    /// Starts the writer thread for `path`.
    pub fn start(path: PathBuf) -> io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Vec<Record>>>(1);
        let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = std::sync::Arc::clone(&busy);
        let writing = std::sync::Arc::new(std::sync::Mutex::new(()));
        let file = std::sync::Arc::clone(&writing);
        std::thread::Builder::new().name("ephpm-kv-snapshot".into()).spawn(move || {
            for shards in rx {
                let _writing = file.lock().unwrap_or_else(|p| p.into_inner());
                let started = std::time::Instant::now();
                match write_records(&path, &shards) {
                    Ok(n) => tracing::info!("kv: saved {n} keys to {} in {:?}", path.display(), started.elapsed()),
                    Err(e) => tracing::error!("kv: cannot save the snapshot to {}: {e}", path.display()),
                }
                // Freed here too, not on a core.
                drop(shards);
                done.store(false, std::sync::atomic::Ordering::Release);
            }
        })?;
        Ok(SnapshotWriter { tx, busy, writing })
    }

    /// Waits until no periodic snapshot is being written and keeps it so
    /// while the guard lives: the save at shutdown writes the same file.
    pub fn quiesce(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Takes a snapshot every `interval` on this core (run on one core) and
/// hands it to `writer`. While the previous snapshot is still being
/// written, the next is not taken (copying it only to throw it away would
/// cost the cores for nothing); it waits for the following interval.
pub async fn periodic(node: std::rc::Rc<KvNode>, writer: SnapshotWriter, interval: std::time::Duration) {
    use std::sync::atomic::Ordering;
    loop {
        monoio::time::sleep(interval).await;
        if writer.busy.swap(true, Ordering::AcqRel) {
            tracing::warn!("kv: the previous snapshot is still being written; skipping this one");
            continue;
        }
        let shards = take(&node).await;
        if let Err(e) = writer.tx.try_send(shards) {
            // Only if the writer thread is gone; never drop a copy on a core
            // silently.
            tracing::error!("kv: the snapshot writer is gone: {e}");
            return;
        }
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

fn write_record(w: &mut impl Write, key: &[u8], value: &Value, expires: Option<u64>) -> io::Result<()> {
    let tag = match value {
        Value::Str(_) | Value::Packed { .. } => b's',
        Value::Hash(_) => b'h',
        Value::List(_) => b'l',
        Value::Set(_) => b'S',
        Value::ZSet(_) => b'z',
    };
    w.write_all(&[tag])?;
    w.write_all(&expires.unwrap_or(0).to_le_bytes())?;
    put_bytes(w, key)?;
    match value {
        Value::Str(b) => put_bytes(w, b),
        Value::Packed { .. } => put_bytes(w, &value.as_string().unwrap_or_default()),
        Value::Hash(h) => {
            put_len(w, h.len())?;
            h.iter().try_for_each(|(k, v)| put_bytes(w, k).and_then(|_| put_bytes(w, v)))
        }
        Value::List(l) => {
            put_len(w, l.len())?;
            l.iter().try_for_each(|v| put_bytes(w, v))
        }
        Value::Set(s) => {
            put_len(w, s.len())?;
            s.iter().try_for_each(|v| put_bytes(w, v))
        }
        Value::ZSet(z) => {
            put_len(w, z.len())?;
            z.scores.iter().try_for_each(|(m, s)| w.write_all(&s.to_le_bytes()).and_then(|_| put_bytes(w, m)))
        }
    }
}

fn put_len(w: &mut impl Write, n: usize) -> io::Result<()> {
    let n = u32::try_from(n).map_err(|_| io::Error::other("collection too large for a snapshot"))?;
    w.write_all(&n.to_le_bytes())
}

fn put_bytes(w: &mut impl Write, b: &[u8]) -> io::Result<()> {
    w.write_all(&(b.len() as u64).to_le_bytes())?;
    w.write_all(b)
}

/// Reads the snapshot at `path` whole, split by owning core among `cores`.
/// Any damage (truncation, bad checksum, bad structure) is an error and
/// nothing is returned.
pub fn load(path: &Path, cores: usize) -> Result<Vec<Vec<Record>>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut r = zstd::Decoder::new(BufReader::new(file)).map_err(|e| e.to_string())?;
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|e| format!("reading the header: {e}"))?;
    if &magic != MAGIC {
        return Err("not an ephpm KV snapshot (bad header)".into());
    }
    let mut shards: Vec<Vec<Record>> = (0..cores.max(1)).map(|_| Vec::new()).collect();
    let mut count = 0u64;
    loop {
        let tag = read_u8(&mut r)?;
        if tag == b'E' {
            let want = read_u64(&mut r)?;
            if want != count {
                return Err(format!("the end marker counts {want} keys, {count} were read"));
            }
            // Nothing may follow; reading to the end also checks the
            // frame's checksum.
            let mut rest = Vec::new();
            r.read_to_end(&mut rest).map_err(|e| format!("checking the end: {e}"))?;
            if !rest.is_empty() {
                return Err("data after the end marker".into());
            }
            return Ok(shards);
        }
        let expires = read_u64(&mut r)?;
        let key = read_bytes(&mut r)?;
        let value = match tag {
            b's' => Value::Str(read_bytes(&mut r)?),
            b'h' => {
                let n = read_len(&mut r)?;
                let mut h = HashMap::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    let k = read_bytes(&mut r)?;
                    h.insert(k, read_bytes(&mut r)?);
                }
                Value::Hash(h)
            }
            b'l' => {
                let n = read_len(&mut r)?;
                Value::List((0..n).map(|_| read_bytes(&mut r)).collect::<Result<_, _>>()?)
            }
            b'S' => {
                let n = read_len(&mut r)?;
                Value::Set((0..n).map(|_| read_bytes(&mut r)).collect::<Result<HashSet<_>, _>>()?)
            }
            b'z' => {
                let n = read_len(&mut r)?;
                let mut z = ZSet::default();
                for _ in 0..n {
                    let s = f64::from_le_bytes(read_u64(&mut r)?.to_le_bytes());
                    if s.is_nan() {
                        return Err("a NaN score".into());
                    }
                    z.insert(read_bytes(&mut r)?, s);
                }
                Value::ZSet(z)
            }
            other => return Err(format!("unknown record type {other:#x}")),
        };
        let shard = shard_of(&key, shards.len());
        shards[shard].push((key, value, (expires != 0).then_some(expires)));
        count += 1;
    }
}

fn read_u8(r: &mut impl Read) -> Result<u8, String> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b).map_err(|e| format!("truncated: {e}"))?;
    Ok(b[0])
}

fn read_u64(r: &mut impl Read) -> Result<u64, String> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b).map_err(|e| format!("truncated: {e}"))?;
    Ok(u64::from_le_bytes(b))
}

fn read_len(r: &mut impl Read) -> Result<usize, String> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).map_err(|e| format!("truncated: {e}"))?;
    Ok(u32::from_le_bytes(b) as usize)
}

/// Largest single value a snapshot may hold (as the protocol's limit).
const MAX_VALUE: u64 = 512 << 20;

fn read_bytes(r: &mut impl Read) -> Result<Bytes, String> {
    let n = read_u64(r)?;
    if n > MAX_VALUE {
        return Err(format!("a value of {n} bytes"));
    }
    let mut v = vec![0u8; n as usize];
    r.read_exact(&mut v).map_err(|e| format!("truncated: {e}"))?;
    Ok(Bytes::from(v))
}

/// Loads `path` into the keyspaces at start. A missing file is a fresh
/// start; a damaged one is moved aside (`<path>.corrupt-<unix time>`) and
/// the store starts empty. Returns what happened, for the log.
pub fn restore(path: &Path, keyspaces: &[SharedKeyspace]) -> Result<String, String> {
    if !path.exists() {
        return Ok(format!("no snapshot at {} yet: starting empty", path.display()));
    }
    match load(path, keyspaces.len()) {
        Ok(shards) => {
            let now = super::now_ms();
            let mut loaded = 0;
            for (ks, records) in keyspaces.iter().zip(shards) {
                let mut ks = lock(ks);
                for (key, value, expires) in records {
                    if expires.is_none_or(|t| t > now) {
                        ks.set(key, value, expires);
                        loaded += 1;
                    }
                }
            }
            Ok(format!("loaded {loaded} keys from {}", path.display()))
        }
        Err(why) => {
            let secs = super::now_ms() / 1000;
            let mut aside = path.as_os_str().to_os_string();
            aside.push(format!(".corrupt-{secs}"));
            let moved = std::fs::rename(path, &aside);
            Err(format!(
                "the snapshot {} is damaged ({why}); {}; starting empty",
                path.display(),
                match moved {
                    Ok(()) => format!("moved aside to {}", Path::new(&aside).display()),
                    Err(e) => format!("could not move it aside ({e})"),
                }
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::execute;
    use crate::keyspace::Keyspace;
    use crate::reply::Reply;

    fn ks_with(cmds: &[&str]) -> Vec<SharedKeyspace> {
        let spaces: Vec<SharedKeyspace> = (0..2).map(|_| crate::shard::shared(Keyspace::new())).collect();
        for cmd in cmds {
            let args: Vec<Bytes> = cmd.split(' ').map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
            let shard = shard_of(&args[1], 2);
            execute(&mut lock(&spaces[shard]), &args, crate::now_ms());
        }
        spaces
    }

    fn get(spaces: &[SharedKeyspace], cmd: &str) -> Reply {
        let args: Vec<Bytes> = cmd.split(' ').map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        execute(&mut lock(&spaces[shard_of(&args[1], 2)]), &args, crate::now_ms())
    }

    #[test]
    fn round_trip_of_every_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.snap");
        let spaces = ks_with(&[
            "SET s hello",
            "SET t v EX 1000",
            "HSET h f 1 g 2",
            "RPUSH l a b c",
            "SADD set x y",
            "ZADD z 1.5 a -2 b",
        ]);
        assert_eq!(write(&path, &spaces).unwrap(), 6);
        let fresh = ks_with(&[]);
        assert!(restore(&path, &fresh).unwrap().contains("loaded 6 keys"));
        assert_eq!(get(&fresh, "GET s"), Reply::bulk(b"hello"));
        assert!(matches!(get(&fresh, "TTL t"), Reply::Int(999 | 1000)));
        assert_eq!(get(&fresh, "HGET h g"), Reply::bulk(b"2"));
        assert_eq!(
            get(&fresh, "LRANGE l 0 -1"),
            Reply::Array(vec![Reply::bulk(b"a"), Reply::bulk(b"b"), Reply::bulk(b"c")])
        );
        assert_eq!(get(&fresh, "SCARD set"), Reply::Int(2));
        assert_eq!(get(&fresh, "ZRANGE z 0 -1"), Reply::Array(vec![Reply::bulk(b"b"), Reply::bulk(b"a")]));
        assert!(!tmp_path(&path).exists());
    }

    #[test]
    fn damaged_snapshots_are_moved_aside_and_never_half_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.snap");
        let cmds: Vec<String> = (0..500).map(|i| format!("SET key{i} value{i}")).collect();
        let refs: Vec<&str> = cmds.iter().map(String::as_str).collect();
        write(&path, &ks_with(&refs)).unwrap();
        let good = std::fs::read(&path).unwrap();
        for damage in ["truncate", "flip", "garbage"] {
            let bad = match damage {
                "truncate" => good[..good.len() / 2].to_vec(),
                "flip" => {
                    let mut b = good.clone();
                    let mid = b.len() / 2;
                    b[mid] ^= 0x55;
                    b
                }
                _ => b"not a snapshot at all".to_vec(),
            };
            std::fs::write(&path, &bad).unwrap();
            let fresh = ks_with(&[]);
            let err = restore(&path, &fresh).unwrap_err();
            assert!(err.contains("damaged") && err.contains("moved aside"), "{damage}: {err}");
            assert!(fresh.iter().all(|k| lock(k).is_empty()), "{damage}: half loaded");
            assert!(!path.exists(), "{damage}");
            let aside: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
                .collect();
            assert!(!aside.is_empty(), "{damage}");
            for e in aside {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
        assert!(restore(&path, &ks_with(&[])).unwrap().contains("no snapshot"));
    }
}
