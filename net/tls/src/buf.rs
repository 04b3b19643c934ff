//! The unsafe edge between monoio's owned buffers (raw pointers the
//! runtime hands to the kernel) and the byte slices rustls reads and
//! writes. Nothing else in the crate touches raw pointers.

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};

/// The whole writable area of `buf`, zeroed first so that no uninitialised
/// byte is ever seen through a slice.
pub fn writable<T: IoBufMut>(buf: &mut T) -> &mut [u8] {
    let len = buf.bytes_total();
    let ptr = buf.write_ptr();
    if len == 0 {
        return &mut [];
    }
    // SAFETY: `write_ptr` points at `bytes_total` bytes owned by `buf`
    // (IoBufMut's contract), borrowed mutably for the returned lifetime;
    // they are initialised here before the slice is made.
    unsafe {
        std::ptr::write_bytes(ptr, 0, len);
        std::slice::from_raw_parts_mut(ptr, len)
    }
}

/// Marks the first `n` writable bytes of `buf` as filled.
pub fn filled<T: IoBufMut>(buf: &mut T, n: usize) {
    // SAFETY: the caller wrote `n` bytes through [`writable`], which
    // initialised the whole area first, and `n` is at most its length.
    unsafe { buf.set_init(n) }
}

/// The initialised bytes of `buf`.
pub fn readable<T: IoBuf>(buf: &T) -> &[u8] {
    let len = buf.bytes_init();
    if len == 0 {
        return &[];
    }
    // SAFETY: `read_ptr` points at `bytes_init` initialised bytes owned by
    // `buf` (IoBuf's contract), borrowed for the returned lifetime.
    unsafe { std::slice::from_raw_parts(buf.read_ptr(), len) }
}

/// The initialised pieces of a vectored buffer, in order.
pub fn readable_parts<T: IoVecBuf>(buf: &T) -> Vec<&[u8]> {
    let (ptr, count) = (buf.read_iovec_ptr(), buf.read_iovec_len());
    (0..count)
        .filter_map(|i| {
            // SAFETY: `read_iovec_ptr` points at `read_iovec_len` valid
            // iovecs (IoVecBuf's contract), each naming initialised bytes
            // owned by `buf`, borrowed for the returned lifetime.
            let v = unsafe { &*ptr.add(i) };
            (v.iov_len > 0).then(|| unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) })
        })
        .collect()
}

/// The first non-empty writable piece of a vectored buffer, zeroed.
pub fn writable_first<T: IoVecBufMut>(buf: &mut T) -> &mut [u8] {
    let (ptr, count) = (buf.write_iovec_ptr(), buf.write_iovec_len());
    for i in 0..count {
        // SAFETY: `write_iovec_ptr` points at `write_iovec_len` valid
        // iovecs (IoVecBufMut's contract), each naming bytes owned by
        // `buf`; the bytes are initialised before the slice is made.
        unsafe {
            let v = &*ptr.add(i);
            if v.iov_len > 0 {
                let base = v.iov_base as *mut u8;
                std::ptr::write_bytes(base, 0, v.iov_len);
                return std::slice::from_raw_parts_mut(base, v.iov_len);
            }
        }
    }
    &mut []
}

/// Marks `n` bytes of a vectored buffer as filled.
pub fn filled_vec<T: IoVecBufMut>(buf: &mut T, n: usize) {
    // SAFETY: the caller wrote `n` bytes into the first piece returned by
    // [`writable_first`], which was initialised whole.
    unsafe { buf.set_init(n) }
}
