//! One writer per library: `scan` (and `import`) hold an advisory lock on `<db>-lock` while they
//! run. SQLite alone would let two scans interleave their per-file transactions: each decides from
//! the rows it read at its start, so both could analyse the same files, or both insert the copy of
//! a file and the second fail on the path's uniqueness. Queries need no lock (WAL readers).
//!
//! The lock is the kernel's (`flock` through `std::fs::File::lock`), so it goes with the process:
//! a scan killed with `kill -9` leaves no stale lock behind. The file itself stays (empty but for
//! the holder's process id, which the refusal message names).
use crate::{db, Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Held for as long as it lives.
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
}

/// `<db>-lock`, beside SQLite's own `-wal` and `-shm` files.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-lock");
    PathBuf::from(p)
}

/// Takes the write lock of the library at `db`. If another process holds it: with `wait`, calls
/// `on_wait` (to tell the user) and blocks until it is free; without, returns [`Error::Busy`].
pub fn acquire(db: &Path, wait: bool, on_wait: &mut dyn FnMut(Option<u32>)) -> Result<WriteLock> {
    let path = lock_path(db);
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| match db::read_only(&e) {
            true => Error::ReadOnly { path: db.to_path_buf(), what: "its folder" },
            false => Error::Io { path: dir.to_path_buf(), source: e },
        })?;
    }
    let io = |e: std::io::Error| match db::read_only(&e) {
        // SQLite must create its -wal and -shm files there too: a read-only folder is a read-only library.
        true => Error::ReadOnly { path: db.to_path_buf(), what: "its folder" },
        false => Error::Io { path: path.clone(), source: e },
    };
    // flock needs no write permission: a lock file another user made is opened read-only.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .or_else(|e| if db::read_only(&e) && path.is_file() { File::open(&path) } else { Err(e) })
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let pid = holder(&mut file);
            if !wait {
                return Err(Error::Busy { path: db.to_path_buf(), pid });
            }
            on_wait(pid);
            file.lock().map_err(io)?;
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    // Only for the message of a refused second writer; the lock does not depend on it.
    let _ = file
        .set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| write!(file, "{}", std::process::id()))
        .and_then(|()| file.flush());
    Ok(WriteLock { _file: file })
}

fn holder(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}
