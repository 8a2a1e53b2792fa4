//! Executable memory for generated code: pages mapped writable, filled,
//! then switched to read + execute (never writable and executable at
//! once), unmapped on drop.

/// A read-only, executable copy of some machine code.
pub struct ExecMem {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is immutable after construction and owned by this
// value alone.
unsafe impl Send for ExecMem {}
// SAFETY: as above; shared access only reads or executes it.
unsafe impl Sync for ExecMem {}

impl ExecMem {
    /// Maps `code` executable, or `None` if the system refuses (then the
    /// caller keeps the interpreter).
    pub fn new(code: &[u8]) -> Option<ExecMem> {
        let len = code.len().max(1);
        // SAFETY: an anonymous private mapping of `len` bytes; every
        // result is checked before use.
        unsafe {
            let ptr = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if ptr == libc::MAP_FAILED {
                return None;
            }
            std::ptr::copy_nonoverlapping(code.as_ptr(), ptr as *mut u8, code.len());
            if libc::mprotect(ptr, len, libc::PROT_READ | libc::PROT_EXEC) != 0 {
                libc::munmap(ptr, len);
                return None;
            }
            Some(ExecMem { ptr, len })
        }
    }

    /// The start of the code.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr as *const u8
    }
}

impl Drop for ExecMem {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are the mapping made in `new`.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}
