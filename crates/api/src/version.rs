//! API version negotiation: every response advertises `API-Version: 1.45` (what the docker
//! CLI negotiates down to), and an optional `/v1.NN` prefix is stripped before routing.
//! Versions outside 1.24–1.51 are refused with 400, as dockerd refuses them.

use axum::extract::Request;
use axum::http::{HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

pub const API_VERSION: &str = "1.45";
pub const MIN_API_VERSION: &str = "1.24";
/// The engine version berthd reports as the server's `Version` (`GET /version`) and
/// `ServerVersion` (`GET /info`): the Docker Engine release that introduced
/// [`API_VERSION`], with berth's own version as build metadata. Clients compare it with
/// docker releases (testcontainers-java refuses a daemon older than 1.6.0, so berth's own
/// `0.1.0` there stopped it before its first container); the `Engine` component of
/// `GET /version` keeps berth's own version, which `docker version` shows.
pub const ENGINE_VERSION: &str = concat!("26.1.0+berth.", env!("CARGO_PKG_VERSION"));
const MAX_MINOR: u32 = 51;
const MIN_MINOR: u32 = 24;

/// The API minor version a request asked for (`/v1.NN/...`; the current one without a
/// prefix), for the few endpoints whose behaviour changed between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestVersion(pub u32);

/// Splits `/v1.45/containers/json` into (Some(45), "/containers/json").
fn split_version(path: &str) -> Option<(u32, u32, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (ver, tail) = rest.split_at(end);
    let (maj, min) = ver.split_once('.')?;
    Some((maj.parse().ok()?, min.parse().ok()?, tail))
}

pub async fn layer(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if let Some((maj, min, tail)) = split_version(&path) {
        if maj != 1 || min > MAX_MINOR {
            tracing::debug!(method = %req.method(), %path, "request refused: API version {maj}.{min} too new");
            return with_headers(
                ApiError::bad_request(format!(
                    "client version {maj}.{min} is too new. Maximum supported API version is {API_VERSION}"
                ))
                .into_response(),
            );
        }
        if min < MIN_MINOR {
            tracing::debug!(method = %req.method(), %path, "request refused: API version {maj}.{min} too old");
            return with_headers(
                ApiError::bad_request(format!(
                    "client version {maj}.{min} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
                ))
                .into_response(),
            );
        }
        let pq = match req.uri().query() {
            Some(q) => format!("{tail}?{q}"),
            None => tail.to_owned(),
        };
        if let Ok(uri) = pq.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
        req.extensions_mut().insert(RequestVersion(min));
    }
    if let Some(pq) = slashed_container_name(req.method(), req.uri())
        && let Ok(uri) = pq.parse::<Uri>()
    {
        *req.uri_mut() = uri;
    }
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return with_headers(next.run(req).await);
    }
    // The version the client asked for ("-": none, the current one) and who it is, so a
    // client's requests and the ones that failed can be told apart in berthd's log.
    let api = req
        .extensions()
        .get::<RequestVersion>()
        .map_or_else(|| "-".to_owned(), |v| format!("1.{}", v.0));
    let agent = req
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    tracing::debug!(%method, %path, %api, %agent, "request");
    let resp = next.run(req).await;
    let status = resp.status();
    if status.is_client_error() || status.is_server_error() {
        tracing::debug!(%method, %path, %api, status = status.as_u16(), "request failed");
    }
    with_headers(resp)
}

/// What follows a container's name in the container routes.
const CONTAINER_ACTIONS: &[&str] = &[
    "json", "top", "stats", "update", "changes", "export", "rename", "start", "stop", "restart",
    "kill", "pause", "unpause", "wait", "resize", "logs", "attach", "exec", "archive",
];

/// dockerd's container routes take names with slashes (`/containers/{name:.*}/json`): a
/// link's name (`web/db`) is a container's name there. The slashes inside such a name are
/// escaped here so that the router sees one path segment (its handlers decode it).
fn slashed_container_name(method: &axum::http::Method, uri: &Uri) -> Option<String> {
    let rest = uri.path().strip_prefix("/containers/")?;
    let is_delete = method == axum::http::Method::DELETE;
    // Every container request passes here: the plain ones (`ID/json`, `DELETE ID`) leave
    // before anything is allocated.
    if rest.matches('/').count() < if is_delete { 1 } else { 2 } {
        return None;
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let name_len = if is_delete {
        parts.len()
    } else if parts.len() >= 3 && CONTAINER_ACTIONS.contains(&parts[parts.len() - 1]) {
        parts.len() - 1
    } else {
        return None;
    };
    if name_len < 2 || parts[..name_len].iter().any(|p| p.is_empty()) {
        return None;
    }
    let mut pq = format!("/containers/{}", parts[..name_len].join("%2F"));
    for p in &parts[name_len..] {
        pq.push('/');
        pq.push_str(p);
    }
    if let Some(q) = uri.query() {
        pq.push('?');
        pq.push_str(q);
    }
    Some(pq)
}

fn with_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn link_names_in_container_routes_become_one_segment() {
        use axum::http::Method;
        let f = |m: Method, p: &str| super::slashed_container_name(&m, &p.parse().unwrap());
        assert_eq!(
            f(Method::GET, "/containers/web/db/json").as_deref(),
            Some("/containers/web%2Fdb/json")
        );
        assert_eq!(
            f(Method::DELETE, "/containers/web/db?link=1").as_deref(),
            Some("/containers/web%2Fdb?link=1")
        );
        assert_eq!(
            f(Method::POST, "/containers/a/b/c/start").as_deref(),
            Some("/containers/a%2Fb%2Fc/start")
        );
        // Plain routes are left alone.
        assert_eq!(f(Method::GET, "/containers/web/json"), None);
        assert_eq!(f(Method::DELETE, "/containers/web"), None);
        assert_eq!(f(Method::POST, "/containers/create"), None);
        assert_eq!(f(Method::GET, "/containers/web/db/nonsense"), None);
        assert_eq!(f(Method::GET, "/images/a/b/json"), None);
    }

    use super::*;

    #[test]
    fn version_prefix_is_split_from_the_path() {
        assert_eq!(
            split_version("/v1.45/containers/json"),
            Some((1, 45, "/containers/json"))
        );
        assert_eq!(split_version("/v1.24/_ping"), Some((1, 24, "/_ping")));
        assert_eq!(split_version("/containers/json"), None);
        assert_eq!(split_version("/volumes"), None);
    }
}
