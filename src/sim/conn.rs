//! Connection facts shared by the transport ([`super::server`]) and the routes: who is calling
//! ([`Peer`], for the loopback-only admin API) and the marker a route sets to have the
//! connection dropped instead of answered ([`DropConnection`], for injected faults).
//!
//! Why a module of its own: the routes need these types and the transport needs the routes, so
//! keeping them in either would make the two import each other.
use std::net::SocketAddr;

/// The peer address of the connection, inserted into every request by the transport.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub SocketAddr);

/// Marker on a response: the transport closes the connection instead of answering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;
