//! A stand-in for a Confluent Schema Registry. No Confluent-compatible registry server installs
//! on these machines (none on crates.io, PyPI, npm or Debian), so the tests serve the endpoints
//! the real clients call, with the registry's content type and error bodies:
//! `POST /subjects/{s}/versions` (register: the same schema text gets the same id),
//! `POST /subjects/{s}` (look a schema up), `GET /schemas/ids/{id}`,
//! `GET /subjects/{s}/versions/latest` and `/versions/{n}`, `GET /subjects`. The producers are the real clients
//! (confluent-kafka's serializers), so the bytes on the topic are what real producers write.
//! `stop` closes the port (connections are refused, as with a registry that is down) and
//! `start_again` opens the same port.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

use super::services::free_port;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Default)]
struct State {
    /// id -> (schema text, schemaType)
    schemas: BTreeMap<u32, (String, String)>,
    /// subject -> ids in version order
    subjects: BTreeMap<String, Vec<u32>>,
    /// `GET /schemas/ids/{id}` requests served, per id.
    fetches: BTreeMap<u32, usize>,
}

pub struct Registry {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Registry {
    pub fn start() -> Registry {
        let mut registry = Registry {
            port: free_port(),
            state: Arc::default(),
            stop: Arc::default(),
            thread: None,
        };
        registry.start_again();
        registry
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many times Weir (or anyone) fetched schema `id` by id.
    pub fn fetches(&self, id: u32) -> usize {
        self.state.lock().unwrap().fetches.get(&id).copied().unwrap_or(0)
    }

    /// The ids registered under `subject`, in version order.
    pub fn ids(&self, subject: &str) -> Vec<u32> {
        self.state
            .lock()
            .unwrap()
            .subjects
            .get(subject)
            .cloned()
            .unwrap_or_default()
    }

    /// Closes the port: the registry is down.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }

    /// Serves again on the same port.
    pub fn start_again(&mut self) {
        self.stop = Arc::default();
        let listener = bind(self.port);
        listener.set_nonblocking(true).unwrap();
        let (state, stop) = (self.state.clone(), self.stop.clone());
        self.thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &state),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind(port: u16) -> TcpListener {
    for _ in 0..200 {
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            return listener;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("registry stand-in: port {port} stays taken");
}

/// One request per connection (`Connection: close`).
fn serve(stream: TcpStream, state: &Mutex<State>) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, answer) = route(method, path, &body, &mut state.lock().unwrap());
    let text = answer.to_string();
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn not_found(code: u32, message: String) -> (&'static str, Value) {
    ("404 Not Found", json!({"error_code": code, "message": message}))
}

fn route(method: &str, path: &str, body: &[u8], state: &mut State) -> (&'static str, Value) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["subjects", subject, "versions"]) => register(subject, body, state),
        ("POST", ["subjects", subject]) => lookup(subject, body, state),
        ("GET", ["schemas", "ids", id]) => {
            let Ok(id) = id.parse::<u32>() else {
                return not_found(40403, format!("Schema {id} not found"));
            };
            *state.fetches.entry(id).or_default() += 1;
            match state.schemas.get(&id) {
                Some((schema, kind)) if kind == "AVRO" => ("200 OK", json!({"schema": schema})),
                Some((schema, kind)) => ("200 OK", json!({"schema": schema, "schemaType": kind})),
                None => not_found(40403, format!("Schema {id} not found")),
            }
        }
        ("GET", ["subjects", subject, "versions", "latest"]) => match state.subjects.get(*subject) {
            Some(ids) if !ids.is_empty() => {
                let id = ids[ids.len() - 1];
                let (schema, kind) = &state.schemas[&id];
                (
                    "200 OK",
                    json!({"subject": subject, "version": ids.len(), "id": id, "schema": schema, "schemaType": kind}),
                )
            }
            _ => not_found(40401, format!("Subject '{subject}' not found.")),
        },
        ("GET", ["subjects", subject, "versions", n]) => {
            let ids = state.subjects.get(*subject);
            let index = n.parse::<usize>().ok().and_then(|n| n.checked_sub(1));
            match (ids, index) {
                (Some(ids), Some(i)) if i < ids.len() => {
                    let (schema, kind) = &state.schemas[&ids[i]];
                    (
                        "200 OK",
                        json!({"subject": subject, "version": i + 1, "id": ids[i], "schema": schema, "schemaType": kind}),
                    )
                }
                (None, _) => not_found(40401, format!("Subject '{subject}' not found.")),
                _ => not_found(40402, format!("Version {n} not found.")),
            }
        }
        ("GET", ["subjects"]) => ("200 OK", json!(state.subjects.keys().collect::<Vec<_>>())),
        _ => not_found(404, format!("no route {method} {path} in the test registry")),
    }
}

fn schema_of(body: &[u8]) -> Option<(String, String)> {
    let request: Value = serde_json::from_slice(body).ok()?;
    let schema = request.get("schema")?.as_str()?.to_string();
    let kind = request
        .get("schemaType")
        .and_then(Value::as_str)
        .unwrap_or("AVRO")
        .to_string();
    Some((schema, kind))
}

fn register(subject: &str, body: &[u8], state: &mut State) -> (&'static str, Value) {
    let Some(schema) = schema_of(body) else {
        return (
            "422 Unprocessable Entity",
            json!({"error_code": 42201, "message": "Invalid schema"}),
        );
    };
    let id = match state.schemas.iter().find(|(_, s)| **s == schema) {
        Some((id, _)) => *id,
        None => {
            // Ids far from 1, as a shared registry's are.
            let id = 100_001 + state.schemas.len() as u32;
            state.schemas.insert(id, schema);
            id
        }
    };
    let versions = state.subjects.entry(subject.to_string()).or_default();
    if !versions.contains(&id) {
        versions.push(id);
    }
    ("200 OK", json!({"id": id}))
}

fn lookup(subject: &str, body: &[u8], state: &mut State) -> (&'static str, Value) {
    let Some(schema) = schema_of(body) else {
        return (
            "422 Unprocessable Entity",
            json!({"error_code": 42201, "message": "Invalid schema"}),
        );
    };
    let ids = state.subjects.get(subject).cloned().unwrap_or_default();
    match ids.iter().position(|id| state.schemas[id] == schema) {
        Some(at) => (
            "200 OK",
            json!({"subject": subject, "id": ids[at], "version": at + 1, "schema": schema.0}),
        ),
        None => not_found(40403, "Schema not found".into()),
    }
}
