//! Hostile test plugin: tries to read a host file, list the root directory, read environment
//! variables and open a socket, and reports what it got as its output record. In Weir's sandbox
//! every attempt must come back empty or as an error. It also prints to stdout and stderr, which
//! the host must capture into its log rather than its own terminal.
//!
//! Config: `{ "file": "/etc/hostname", "port": 9 }` (the socket attempt goes to 127.0.0.1:port).
//! Debian's wasi-libc has no sockets, so the socket and name-lookup attempts call the WASI 0.2
//! socket interfaces directly, which is what any guest language would end up calling.

use serde::Deserialize;
use weir_sdk::{Config, Context, Outcome, Record, Transform, json};

#[derive(Deserialize)]
struct Settings {
    file: String,
    port: u16,
}

pub struct SandboxEscape {
    settings: Settings,
}

fn attempt<T>(result: std::io::Result<T>, show: impl FnOnce(T) -> String) -> serde_json::Value {
    match result {
        Ok(value) => json!({"ok": show(value)}),
        Err(e) => json!({"err": e.to_string()}),
    }
}

#[cfg(target_arch = "wasm32")]
fn connect(port: u16) -> serde_json::Value {
    use wasi::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
    let network = wasi::sockets::instance_network::instance_network();
    let socket = match wasi::sockets::tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4) {
        Ok(socket) => socket,
        Err(e) => return json!({"err": format!("create: {e:?}")}),
    };
    let address = IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port,
        address: (127, 0, 0, 1),
    });
    if let Err(e) = socket.start_connect(&network, address) {
        return json!({"err": format!("connect: {e:?}")});
    }
    socket.subscribe().block();
    match socket.finish_connect() {
        Ok(_) => json!({"ok": "connected"}),
        Err(e) => json!({"err": format!("connect: {e:?}")}),
    }
}

#[cfg(target_arch = "wasm32")]
fn lookup(name: &str) -> serde_json::Value {
    let network = wasi::sockets::instance_network::instance_network();
    let stream = match wasi::sockets::ip_name_lookup::resolve_addresses(&network, name) {
        Ok(stream) => stream,
        Err(e) => return json!({"err": format!("resolve: {e:?}")}),
    };
    stream.subscribe().block();
    match stream.resolve_next_address() {
        Ok(Some(address)) => json!({"ok": format!("{address:?}")}),
        Ok(None) => json!({"err": "no address"}),
        Err(e) => json!({"err": format!("resolve: {e:?}")}),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn connect(port: u16) -> serde_json::Value {
    attempt(std::net::TcpStream::connect(("127.0.0.1", port)), |_| {
        "connected".into()
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn lookup(name: &str) -> serde_json::Value {
    use std::net::ToSocketAddrs;
    attempt((name, 0).to_socket_addrs(), |mut a| format!("{:?}", a.next()))
}

impl Transform for SandboxEscape {
    fn init(config: Config) -> Result<Self, String> {
        Ok(SandboxEscape {
            settings: config.into_settings()?,
        })
    }

    fn process(&self, record: &Record<'_>, _context: &Context) -> Outcome {
        println!("sandbox-escape: stdout line");
        eprintln!("sandbox-escape: stderr line");
        let file = attempt(std::fs::read_to_string(&self.settings.file), |s| s);
        let root = attempt(std::fs::read_dir("/"), |dir| format!("{} entries", dir.count()));
        let cwd = attempt(std::env::current_dir(), |p| p.display().to_string());
        let socket = connect(self.settings.port);
        let lookup = lookup("localhost");
        let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
        let args: Vec<String> = std::env::args().collect();
        let report = json!({
            "file": file,
            "root": root,
            "cwd": cwd,
            "socket": socket,
            "lookup": lookup,
            "env": env,
            "home": std::env::var("HOME").ok(),
            "args": args,
        });
        record.with_json(&report).into()
    }
}

weir_sdk::export_transform!(SandboxEscape);
