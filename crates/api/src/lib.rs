#![recursion_limit = "256"]

//! berth-api: the Docker Engine API over a unix socket, mapped onto berth-engine.
//!
//! Routes are plain axum handlers; the version layer wraps the whole router (so the
//! optional `/v1.NN` prefix is gone before routing) and stamps the headers clients use to
//! negotiate. Attach and exec start hijack the connection (see `hijack.rs`).

pub mod build;
pub mod containers;
pub mod containers_more;
pub mod error;
pub mod hijack;
pub mod images;
pub mod networks;
pub mod system;
pub mod version;
pub mod volumes;
pub mod wsattach;

pub use berth_engine::types;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use berth_engine::Engine;

/// The full API router for an engine.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(system::events))
        .route("/images/create", post(images::create))
        .route("/images/json", get(images::list))
        .route(
            "/images/{*rest}",
            get(images::get).post(images::post).delete(images::delete),
        )
        .route("/commit", post(images::commit))
        .route("/auth", post(images::auth))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/system/df", get(volumes::system_df))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/top", get(containers_more::top))
        .route("/containers/{id}/stats", get(containers_more::stats))
        .route("/containers/{id}/update", post(containers_more::update))
        .route("/containers/{id}/changes", get(containers_more::changes))
        .route("/containers/{id}/export", get(containers_more::export))
        .route("/containers/{id}/rename", post(containers_more::rename))
        .route("/containers/prune", post(containers_more::prune))
        .route(
            "/containers/{id}/archive",
            get(containers_more::archive_get)
                .head(containers_more::archive_head)
                .put(containers_more::archive_put),
        )
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/attach", post(hijack::attach))
        .route("/containers/{id}/attach/ws", get(wsattach::attach_ws))
        .route("/containers/{id}/exec", post(exec_create))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/exec/{id}/start", post(hijack::exec_start))
        .route("/exec/{id}/resize", post(hijack::exec_resize))
        .route("/exec/{id}/json", get(exec_inspect))
        .fallback(not_found)
        .with_state(engine)
}

async fn not_found(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError(
        axum::http::StatusCode::NOT_FOUND,
        format!("page not found: {}", uri.path()),
    )
}

async fn exec_create(
    axum::extract::State(e): axum::extract::State<Arc<Engine>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> error::ApiResult<(axum::http::StatusCode, axum::Json<serde_json::Value>)> {
    let cfg: types::ExecConfig = serde_json::from_slice(&body)
        .map_err(|err| error::ApiError::bad_request(format!("invalid JSON: {err}")))?;
    let exec_id = e.exec_create(&id, cfg)?;
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(serde_json::json!({ "Id": exec_id })),
    ))
}

async fn exec_inspect(
    axum::extract::State(e): axum::extract::State<Arc<Engine>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> error::ApiResult<axum::Json<serde_json::Value>> {
    Ok(axum::Json(e.exec_inspect(&id)?))
}

/// A bound listener the API is served on: berthd's unix socket, or a TCP address
/// (`-H tcp://…`, plain HTTP).
pub trait Listener: Send + 'static {
    type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;
    fn accept(&self) -> impl std::future::Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Listener for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept(&self) -> std::io::Result<Self::Stream> {
        Ok(tokio::net::UnixListener::accept(self).await?.0)
    }
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept(&self) -> std::io::Result<Self::Stream> {
        let (s, _) = tokio::net::TcpListener::accept(self).await?;
        // Small requests and answers, each awaited by the client: no Nagle delay.
        s.set_nodelay(true)?;
        Ok(s)
    }
}

/// Serves the API on a bound listener until `shutdown` resolves, then waits for the
/// open requests to end.
///
/// HTTP/1 only (the Engine API is), served by hyper directly rather than through a protocol
/// sniffer: an upgraded (hijacked) connection is then the plain socket, which an
/// attach can hand to the container's shim.
pub async fn serve<L: Listener>(
    listener: L,
    engine: Arc<Engine>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The layer sits on an outer router whose only route is the real router, so it runs
    // before routing and can strip the version prefix.
    let app = Router::new()
        .fallback_service(router(engine))
        .layer(axum::middleware::from_fn(version::layer));
    // Dropped to ask the connections to finish; closed once the last one has.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of descriptors or memory: let connections finish, then go on.
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let svc = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .with_upgrades();
            tokio::pin!(conn);
            let r = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = r {
                tracing::trace!(error = %e, "connection");
            }
            drop(done);
        });
    }
    drop(listener);
    drop(stop_tx);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}
