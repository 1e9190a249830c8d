//! Protocol hygiene: stdout carries protocol lines only. C code (llama.cpp, ggml) may
//! `printf` at any time, so the worker keeps a private duplicate of fd 1 for the protocol and
//! points fd 1 itself at stderr. Anything printed the ordinary way then lands in the log.

use std::fs::File;
use std::io;
use std::os::fd::FromRawFd;

/// Duplicate fd 1 into a private close-on-exec descriptor, then make fd 1 a copy of fd 2.
pub fn take_protocol_stdout() -> io::Result<File> {
    // SAFETY: plain descriptor syscalls; `fd` is checked before it is wrapped, and the File
    // becomes its only owner.
    unsafe {
        let fd = libc::fcntl(libc::STDOUT_FILENO, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let proto = File::from_raw_fd(fd);
        if libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(proto)
    }
}
