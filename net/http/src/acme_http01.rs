//! ACME HTTP-01 answers on the plain listener (RFC 8555, section 8.3):
//! `GET /.well-known/acme-challenge/TOKEN` gets the key authorization the
//! ACME thread registered for TOKEN, whatever the redirect or the document
//! root would say; every other request goes to the inner service.

use std::rc::Rc;
use std::sync::Arc;

use ephpm_tls::Challenges;

use crate::http1::{Request, Response, Service};
use crate::redirect::ACME_CHALLENGE_PREFIX;

/// Answers HTTP-01 challenges in progress; passes the rest to `inner`.
pub struct AcmeHttp01<S> {
    inner: Rc<S>,
    /// `None`: no ACME on this server, every request passes through.
    challenges: Option<Arc<Challenges>>,
}

impl<S> AcmeHttp01<S> {
    /// Answers `challenges` (when some) in front of `inner`.
    pub fn new(inner: Rc<S>, challenges: Option<Arc<Challenges>>) -> Self {
        AcmeHttp01 { inner, challenges }
    }
}

impl<S: Service> Service for AcmeHttp01<S> {
    async fn call(&self, req: Request<'_>) -> Response {
        if let Some(c) = &self.challenges {
            if let Some(token) = req.head.path().strip_prefix(ACME_CHALLENGE_PREFIX) {
                if let Some(answer) = c.http01(token) {
                    return Response::text(200, answer);
                }
            }
        }
        self.inner.call(req).await
    }
}
