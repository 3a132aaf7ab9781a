//! What std cannot do for us: start a TCP (or Unix) connection without blocking, and listen
//! with `SO_REUSEPORT`.
//!
//! `std::net::TcpStream::connect` waits for the handshake, and std has no way to make a socket
//! non-blocking *before* connecting it. So this file makes the socket with `libc` (which
//! `signal-hook-registry` builds anyway), non-blocking from birth, starts the connection, and
//! hands the fd to a `std::net::TcpStream` at once, which owns and closes it from then on.
//! std's `TcpListener::bind` sets its options and listens in one call, with no room for
//! `SO_REUSEPORT`, so [`bind_reuse_port`] makes that socket the same way.

use std::io;
use std::mem::size_of_val;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Makes a non-blocking socket and starts connecting it to `addr`. The connection is
/// established later: wait until the socket is writable, then ask `take_error`.
///
/// # Errors
/// When the OS refuses the socket, or fails the connection at once.
pub(crate) fn start_connect(addr: SocketAddr) -> io::Result<std::net::TcpStream> {
    let stream = std::net::TcpStream::from(new_socket(addr)?);
    // SAFETY: `with_sockaddr` passes a pointer to a live socket address and its size.
    let rc = with_sockaddr(addr, |sa, len| unsafe {
        libc::connect(stream.as_raw_fd(), sa, len)
    });
    if rc == 0 {
        return Ok(stream); // connected at once
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        // EINTR: the connection goes on in the background, just as with EINPROGRESS.
        Some(libc::EINPROGRESS | libc::EINTR) => Ok(stream),
        _ => Err(error),
    }
}

/// Makes a non-blocking listener on `addr` with `SO_REUSEPORT` (and `SO_REUSEADDR`, as std
/// sets), so that several sockets, one per thread, can listen on the same port and the kernel
/// spreads incoming connections among them.
///
/// # Errors
/// When the OS refuses the socket, an option, the address or `listen`.
pub(crate) fn bind_reuse_port(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::from(new_socket(addr)?);
    let fd = listener.as_raw_fd();
    for option in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        let on: libc::c_int = 1;
        // SAFETY: the pointer is to `on`, a live `c_int`, and the size is its size.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&raw const on).cast(),
                size_of_val(&on) as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: `with_sockaddr` passes a pointer to a live socket address and its size.
    if with_sockaddr(addr, |sa, len| unsafe { libc::bind(fd, sa, len) }) != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `listen` takes no pointers.
    if unsafe { libc::listen(fd, libc::SOMAXCONN) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

/// A new TCP socket for `addr`'s family, non-blocking and close-on-exec from birth.
fn new_socket(addr: SocketAddr) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `socket` takes no pointers; any arguments are sound.
    let fd = unsafe { libc::socket(domain, flags, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by `socket`, so it is open and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Calls `f` with a pointer to `addr` in its C form, and that form's size. The pointer is valid
/// only during the call.
fn with_sockaddr<R>(
    addr: SocketAddr,
    f: impl FnOnce(*const libc::sockaddr, libc::socklen_t) -> R,
) -> R {
    match addr {
        SocketAddr::V4(a) => {
            let sin = sockaddr_v4(a);
            f(
                (&raw const sin).cast(),
                size_of_val(&sin) as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            let sin6 = sockaddr_v6(a);
            f(
                (&raw const sin6).cast(),
                size_of_val(&sin6) as libc::socklen_t,
            )
        }
    }
}

/// The C form of an IPv4 address: every number in network byte order.
fn sockaddr_v4(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(a.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

/// The C form of an IPv6 address. The flow info and scope id go as they are, as std does.
fn sockaddr_v6(a: SocketAddrV6) -> libc::sockaddr_in6 {
    libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: a.port().to_be(),
        sin6_flowinfo: a.flowinfo(),
        sin6_addr: libc::in6_addr {
            s6_addr: a.ip().octets(),
        },
        sin6_scope_id: a.scope_id(),
    }
}

/// The C form of a Unix socket path: `sun_path` holds the bytes and a closing NUL, and the
/// length counts up to that NUL.
///
/// # Errors
/// `InvalidInput` when the path has a NUL byte, or does not fit (108 bytes on Linux, with the
/// NUL).
fn sockaddr_un(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    let bytes = path.as_os_str().as_bytes();
    let mut addr = libc::sockaddr_un {
        sun_family: libc::AF_UNIX as libc::sa_family_t,
        sun_path: [0; 108],
    };
    if bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a Unix socket path may not contain a NUL byte",
        ));
    }
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a Unix socket path must be shorter than 108 bytes",
        ));
    }
    for (to, from) in addr.sun_path.iter_mut().zip(bytes) {
        *to = *from as libc::c_char;
    }
    let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1;
    Ok((addr, len as libc::socklen_t))
}

/// Makes a non-blocking Unix stream socket and connects it to `path`, as
/// [`start_connect`] does for TCP. On Linux a Unix connection is made (or refused) at once;
/// `EINPROGRESS` is handled anyway, by waiting until the socket is writable.
///
/// # Errors
/// `NotFound` when nothing is at `path`, `ConnectionRefused` when nothing listens there,
/// `WouldBlock` when the listener's backlog is full, `InvalidInput` for a path that cannot be
/// a socket address.
pub(crate) fn start_connect_unix(path: &Path) -> io::Result<UnixStream> {
    let (addr, len) = sockaddr_un(path)?;
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `socket` takes no pointers; any arguments are sound.
    let fd = unsafe { libc::socket(libc::AF_UNIX, flags, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by `socket`, so it is open and nothing else owns it.
    let stream = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
    // SAFETY: `addr` is a live, initialised `sockaddr_un`, and `len` is at most its size.
    let rc = unsafe { libc::connect(stream.as_raw_fd(), (&raw const addr).cast(), len) };
    if rc == 0 {
        return Ok(stream);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EINPROGRESS | libc::EINTR) => Ok(stream),
        _ => Err(error),
    }
}

/// The socket file that a Unix listener or datagram socket created with `bind`, removed when
/// this is dropped, but only if it is still that file (same device and inode): a file that
/// someone else has since put at the path is left alone.
#[derive(Debug)]
pub(crate) struct BoundPath {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

impl BoundPath {
    /// Remembers the socket file just bound at `path`. One `stat`: a quick local call.
    pub(crate) fn new(path: &Path) -> BoundPath {
        BoundPath {
            path: path.to_path_buf(),
            id: file_id(path),
        }
    }
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

impl Drop for BoundPath {
    fn drop(&mut self) {
        if self.id.is_some() && file_id(&self.path) == self.id {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
