//! The service a core runs: built-in routes, then the router, then the
//! static-file or PHP handler.

use std::rc::Rc;

use bytes::Bytes;

use crate::cache::{self, PageCache};
use crate::http1::{Request, Response, Service};
use crate::router::{PhpTarget, Route, Router};
use crate::static_files::{self, StaticConfig};

/// The body of the built-in hello route: the server's fastest answer, used
/// by the bench harness as the ceiling for everything else.
pub const HELLO_BODY: &[u8] = b"Hello from ephpm\n";

/// What runs the scripts the router finds (the PHP handler, plugged in by
/// the composition root, so this crate does not depend on PHP).
pub trait ScriptHandler {
    /// Runs the script `target` for `req` and answers.
    fn serve(&self, target: &PhpTarget, req: Request<'_>) -> impl std::future::Future<Output = Response>;
}

/// The handler of a server that runs no scripts.
pub enum NoScripts {}

impl ScriptHandler for NoScripts {
    async fn serve(&self, _: &PhpTarget, _: Request<'_>) -> Response {
        match *self {}
    }
}

/// Per-core application service.
pub struct App<P: ScriptHandler> {
    router: Router,
    statics: StaticConfig,
    hello_route: Option<String>,
    php: Option<P>,
    cache: Option<Rc<PageCache>>,
}

impl<P: ScriptHandler> App<P> {
    /// Builds the service for one core; `php` is None when this build or
    /// this configuration runs no PHP.
    pub fn new(router: Router, statics: StaticConfig, hello_route: Option<String>, php: Option<P>) -> Self {
        App { router, statics, hello_route, php, cache: None }
    }

    /// Serves scripts through this core's page cache.
    pub fn with_cache(mut self, cache: Rc<PageCache>) -> Self {
        self.cache = Some(cache);
        self
    }
}

impl<P: ScriptHandler> Service for App<P> {
    async fn call(&self, req: Request<'_>) -> Response {
        let head = req.head;
        if self.hello_route.as_deref() == Some(head.path()) {
            return Response::new(200)
                .header("Content-Type", Bytes::from_static(b"text/plain"))
                .with_body(Bytes::from_static(HELLO_BODY));
        }
        if head.target() == "*" {
            return Response::new(204).header("Allow", Bytes::from_static(b"GET, HEAD, POST, OPTIONS"));
        }
        match self.router.route(head.path()) {
            Route::File(f) => static_files::serve(&f, head, &self.statics),
            Route::Php(target) => match (&self.php, &self.cache) {
                (Some(php), Some(c)) => cache::serve(c, php, &target, req).await,
                (Some(php), None) => php.serve(&target, req).await,
                (None, _) => Response::error(503, "PHP is not available: this ephpm was built without a PHP engine"),
            },
            Route::Redirect(location) => {
                let q = head.query();
                let mut loc = encode_location(&location);
                if !q.is_empty() {
                    // The query was validated by the parser and stays as sent.
                    loc.push('?');
                    loc.push_str(q);
                }
                Response::error(301, "moved").header("Location", Bytes::from(loc))
            }
            Route::NotFound => Response::error(404, "not found"),
            Route::Bad(e) => Response::error(400, e.reason()),
        }
    }
}

/// Percent-encodes a decoded path for a Location header: every byte that is
/// not an unreserved or path character (including `%`, `?` and `#`, which a
/// client would read as syntax) is escaped.
fn encode_location(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode_location;

    #[test]
    fn location_escapes_syntax_and_controls() {
        assert_eq!(encode_location("/a b/%41/?#/\r\n"), "/a%20b/%2541/%3F%23/%0D%0A");
        assert_eq!(encode_location("/plain/dir-1_x.y~/"), "/plain/dir-1_x.y~/");
    }
}
