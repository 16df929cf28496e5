//! The HTTP endpoint: `/metrics` (Prometheus text) and `/healthz`.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Health, ServiceError};

/// The default address: loopback only, so nothing is exposed by accident.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// A running endpoint; stops when [`stop`](HttpEndpoint::stop) is called or
/// it is dropped.
#[derive(Debug)]
pub struct HttpEndpoint {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl HttpEndpoint {
    /// Serves `/metrics` and `/healthz` (reporting `health`) on `addr`
    /// (port 0: any free port; see [`addr`](Self::addr)).
    ///
    /// # Errors
    ///
    /// [`ServiceError::Http`] when the address cannot be bound.
    pub async fn start(addr: SocketAddr, health: Health) -> Result<Self, ServiceError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServiceError::Http {
                addr: addr.to_string(),
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| ServiceError::Http {
            addr: addr.to_string(),
            source,
        })?;
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, health, stop.clone()));
        tracing::info!(addr = %bound, "serving /metrics and /healthz");
        Ok(HttpEndpoint { addr: bound, stop })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for HttpEndpoint {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(listener: TcpListener, health: Health, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accepting an HTTP connection failed");
                continue;
            }
        };
        let health = health.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let health = health.clone();
                async move { Ok::<_, Infallible>(answer(&req, &health)) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "an HTTP connection ended with an error");
            }
        });
    }
}

fn answer(req: &Request<Incoming>, health: &Health) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match req.uri().path() {
        "/metrics" => match crate::exporter::prometheus() {
            Some(handle) => {
                handle.run_upkeep();
                let mut r = text(StatusCode::OK, handle.render());
                r.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                r
            }
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "another metrics recorder is installed in this process\n".into(),
            ),
        },
        "/healthz" => match health.check() {
            Ok(()) => text(StatusCode::OK, "ok\n".into()),
            Err(reasons) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{reasons}\n")),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics or /healthz\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}
