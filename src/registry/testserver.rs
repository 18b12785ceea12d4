//! A hand-made hostile HTTP/1.1 server for unit tests, on 127.0.0.1: it does what a real
//! registry cannot be made to do (lie about digests, hang, throttle, send too much).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// Path and query.
    pub(crate) target: String,
    /// Names lowercased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// Status, headers and body with a `Content-Length`.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Status, headers and a body ended by closing the connection (no `Content-Length`).
    Unsized {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Never answers.
    Hang,
    /// Answers the reply after a while (a slow registry), the request counted in flight.
    Delayed(Duration, Box<Reply>),
    /// Sends the reply's head at once, then its body one byte per interval (a body that
    /// trickles: every read makes progress, the whole never arrives in time).
    Trickle(Duration, Box<Reply>),
}

impl Reply {
    pub(crate) fn status(status: u16) -> Self {
        Self::Full {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn body(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::Full {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        match &mut self {
            Self::Full { headers, .. } | Self::Unsized { headers, .. } => {
                headers.push((name.to_owned(), value.to_owned()));
            }
            Self::Delayed(_, reply) | Self::Trickle(_, reply) => {
                let inner = std::mem::replace(reply.as_mut(), Self::Hang);
                **reply = inner.header(name, value);
            }
            Self::Hang => {}
        }
        self
    }

    /// This reply, sent `delay` after the request arrived.
    pub(crate) fn delayed(self, delay: Duration) -> Self {
        Self::Delayed(delay, Box::new(self))
    }
}

/// Requests being answered now, and the most ever at once.
#[derive(Debug, Default)]
struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

/// Counts one request in flight until dropped.
struct InFlightGuard(Arc<InFlight>);

impl InFlightGuard {
    fn new(in_flight: &Arc<InFlight>) -> Self {
        let now = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
        in_flight.most.fetch_max(now, Ordering::SeqCst);
        Self(Arc::clone(in_flight))
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// The server; stops (with every connection) when dropped.
pub(crate) struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    in_flight: Arc<InFlight>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub(crate) async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&requests);
        let in_flight = Arc::new(InFlight::default());
        let counter = Arc::clone(&in_flight);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(serve(
                    stream,
                    Arc::clone(&handler),
                    Arc::clone(&log),
                    Arc::clone(&counter),
                ));
            }
        });
        Self {
            addr,
            requests,
            in_flight,
            task,
        }
    }

    /// The most requests this server was answering at one time (from a request's arrival until
    /// its answer starts to go out: the client may release its permit as soon as it has read
    /// the answer, before this task runs again, so counting to the end of the write would
    /// count the next request early).
    pub(crate) fn most_in_flight(&self) -> usize {
        self.in_flight.most.load(Ordering::SeqCst)
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Client settings for this server alone: plain HTTP, no retries, and no docker config of
    /// the machine running the tests.
    pub(crate) fn settings(&self) -> super::RegistrySettings {
        let mut settings = super::RegistrySettings {
            request_timeout: Duration::from_secs(10),
            retries: 0,
            docker_config: Some(std::path::PathBuf::from(
                "/nonexistent/supplygate-test/config.json",
            )),
            ..super::RegistrySettings::default()
        };
        settings.hosts.insert(
            self.host(),
            super::HostSettings {
                insecure: true,
                ..super::HostSettings::default()
            },
        );
        settings
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    handler: Arc<Handler>,
    log: Arc<Mutex<Vec<Request>>>,
    in_flight: Arc<InFlight>,
) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let counted = InFlightGuard::new(&in_flight);
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request.clone());
    let mut reply = handler(&request);
    while let Reply::Delayed(delay, later) = reply {
        tokio::time::sleep(delay).await;
        reply = *later;
    }
    let mut trickle = None;
    if let Reply::Trickle(interval, inner) = reply {
        trickle = Some(interval);
        reply = *inner;
    }
    let (status, headers, body, sized) = match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => (status, headers, body, true),
        Reply::Unsized {
            status,
            headers,
            body,
        } => (status, headers, body, false),
        Reply::Hang | Reply::Delayed(..) | Reply::Trickle(..) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
    };
    drop(counted);
    let mut head = format!("HTTP/1.1 {status} Whatever\r\nConnection: close\r\n");
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if sized {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    if request.method != "HEAD" {
        match trickle {
            None => {
                let _ = stream.write_all(&body).await;
            }
            Some(interval) => {
                for byte in body {
                    if stream.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(interval).await;
                }
            }
        }
    }
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(chunk.get(..n)?);
        if buffer.first() == Some(&0x16) {
            // A TLS handshake: answer as a plain-HTTP server (Go's registry) does.
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await;
            return None;
        }
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buffer.len() > 64 * 1024 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(buffer.get(..header_end)?).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer.get(header_end + 4..)?.to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(chunk.get(..n)?);
    }
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}
