//! Route declarations: every route names who may call it ([`Access`]) where it is declared, and
//! each cds-mtxs service declares its OData-style operations (`pollJob(ID='…')`) by name.
//!
//! A [`Service`] has a base path, one [`Access`] for all its routes, plain routes below the base
//! (`tenant/{id}`) and operations: name → method and handler. Axum cannot route on a function
//! call inside a path segment, so one `{base}/{call}` route dispatches: it parses the segment
//! ([`Call`]), finds the operation by name (an unknown one is a 404), puts the call's
//! arguments into the request ([`CallArgs`], read by the handlers' [`crate::extract::Args`])
//! and hands the request to the operation, which answers a wrong method with the service's 405.
//!
//! [`Routes::into_router`] wraps every route in [`auth::guard`] with its declared access. A path
//! that matches no route still needs the access of the service it falls under (else an
//! authenticated caller): an anonymous caller cannot learn which paths exist.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, any, on};

use crate::auth::{self, Access, Authenticator};
use crate::error::ApiError;
use crate::extract::Call;
use crate::extract::call::CallArgs;
use crate::state::AppState;

/// A route as declared: its path pattern and who may call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Declared {
    pub path: String,
    pub access: Access,
}

/// The routes of the API, each with its declared access.
#[derive(Default)]
pub(crate) struct Routes {
    routes: Vec<(Declared, MethodRouter<AppState>)>,
    /// Service bases and their access, for paths below a base that match no route.
    bases: Vec<(&'static str, Access)>,
}

impl Routes {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A route at `path` that `access` admits; a method `methods` does not handle gets the
    /// generic 405.
    pub(crate) fn route(self, path: &str, access: Access, methods: MethodRouter<AppState>) -> Self {
        self.with(path, access, methods.fallback(method_not_allowed))
    }

    fn with(mut self, path: &str, access: Access, methods: MethodRouter<AppState>) -> Self {
        self.routes.push((
            Declared {
                path: path.to_owned(),
                access,
            },
            methods,
        ));
        self
    }

    /// Adds every route of `other`.
    pub(crate) fn merge(mut self, other: Routes) -> Self {
        self.routes.extend(other.routes);
        self.bases.extend(other.bases);
        self
    }

    /// Every declared route, in declaration order.
    #[cfg(test)]
    pub(crate) fn declared(&self) -> impl Iterator<Item = &Declared> {
        self.routes.iter().map(|(declared, _)| declared)
    }

    /// The router: every route behind [`auth::guard`] with its access, and a 404 for the rest
    /// (after the same check).
    pub(crate) fn into_router(self, auth: Arc<Authenticator>) -> Router<AppState> {
        let bases = Arc::new(self.bases);
        let mut router = Router::new();
        for (declared, methods) in self.routes {
            let guard =
                axum::middleware::from_fn_with_state((auth.clone(), declared.access), auth::guard);
            router = router.route(&declared.path, methods.layer(guard));
        }
        router.fallback(move |req: Request| {
            let access = access_beyond_routes(&bases, req.uri().path());
            async move {
                match auth::authorize(&auth, access, req.uri().path(), req.headers()).await {
                    Ok(_) => not_found().into_response(),
                    Err(refused) => refused.into_response(),
                }
            }
        })
    }
}

/// The access a path matching no route needs: that of the service it falls under, else an
/// authenticated caller.
fn access_beyond_routes(bases: &[(&'static str, Access)], path: &str) -> Access {
    bases
        .iter()
        .filter(|(base, _)| {
            path.strip_prefix(base)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .max_by_key(|(base, _)| base.len())
        .map_or(Access::Authenticated, |(_, access)| *access)
}

fn not_found() -> ApiError {
    ApiError::NotFound("No such resource".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("Method not allowed for this resource".into())
}

/// How a service words the 405 of an operation called with the wrong method.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WrongMethod {
    /// "pollJob must be called by GET".
    NameTheAllowed,
    /// "Method DELETE not allowed for getTenants".
    NameTheGiven,
}

impl WrongMethod {
    fn error(self, operation: &str, allowed: &Method, given: &Method) -> ApiError {
        ApiError::MethodNotAllowed(match self {
            WrongMethod::NameTheAllowed => format!("{operation} must be called by {allowed}"),
            WrongMethod::NameTheGiven => format!("Method {given} not allowed for {operation}"),
        })
    }
}

/// Where a service's operations take their arguments from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArgsFrom {
    /// The call's parentheses only: `drift(tenant='t1')`.
    Parentheses,
    /// The parentheses, else the query string: `pollJob(ID='…')` or `pollJob?ID=…`.
    ParenthesesOrQuery,
}

/// A cds-mtxs service: routes and operations under one base path, all with one access.
pub(crate) struct Service {
    base: &'static str,
    access: Access,
    routes: Vec<(String, MethodRouter<AppState>)>,
    operations: BTreeMap<&'static str, MethodRouter<AppState>>,
    args_from: ArgsFrom,
    wrong_method: WrongMethod,
}

impl Service {
    pub(crate) fn new(
        base: &'static str,
        access: Access,
        args_from: ArgsFrom,
        wrong_method: WrongMethod,
    ) -> Self {
        Self {
            base,
            access,
            routes: Vec::new(),
            operations: BTreeMap::new(),
            args_from,
            wrong_method,
        }
    }

    /// A plain route at `base` + `sub_path` (which starts with `/`).
    pub(crate) fn route(mut self, sub_path: &str, methods: MethodRouter<AppState>) -> Self {
        self.routes
            .push((format!("{}{sub_path}", self.base), methods));
        self
    }

    /// An operation called by GET.
    pub(crate) fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        name: &'static str,
        handler: H,
    ) -> Self {
        self.operation(Method::GET, MethodFilter::GET, name, handler)
    }

    /// An operation called by POST.
    pub(crate) fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        name: &'static str,
        handler: H,
    ) -> Self {
        self.operation(Method::POST, MethodFilter::POST, name, handler)
    }

    fn operation<H: Handler<T, AppState>, T: 'static>(
        mut self,
        method: Method,
        filter: MethodFilter,
        name: &'static str,
        handler: H,
    ) -> Self {
        let wrong_method = self.wrong_method;
        let methods = on(filter, handler).fallback(move |given: Method| async move {
            wrong_method.error(name, &method, &given)
        });
        let previous = self.operations.insert(name, methods);
        assert!(previous.is_none(), "operation {name} declared twice");
        self
    }
}

impl From<Service> for Routes {
    fn from(service: Service) -> Self {
        let Service {
            base,
            access,
            routes,
            operations,
            args_from,
            wrong_method: _,
        } = service;
        let mut out = Routes::new();
        for (path, methods) in routes {
            out = out.route(&path, access, methods);
        }
        if !operations.is_empty() {
            let dispatch = Arc::new(Dispatch {
                base,
                operations,
                args_from,
            });
            out = out.with(
                &format!("{base}/{{call}}"),
                access,
                any(
                    move |State(state): State<AppState>,
                          Path(segment): Path<String>,
                          req: Request| {
                        let dispatch = dispatch.clone();
                        async move { dispatch.call(state, &segment, req).await }
                    },
                ),
            );
        }
        out.bases.push((base, access));
        out
    }
}

/// The operations of one service, found by the name of the call in the path.
struct Dispatch {
    base: &'static str,
    operations: BTreeMap<&'static str, MethodRouter<AppState>>,
    args_from: ArgsFrom,
}

impl Dispatch {
    async fn call(&self, state: AppState, segment: &str, mut req: Request) -> Response {
        let call = match Call::parse(segment) {
            Ok(call) => call,
            Err(e) => return e.into_response(),
        };
        let Some(operation) = self.operations.get(call.name.as_str()) else {
            return ApiError::NotFound(format!("No such resource: {}/{segment}", self.base))
                .into_response();
        };
        let mut args = call.args;
        if self.args_from == ArgsFrom::ParenthesesOrQuery {
            match Query::<Vec<(String, String)>>::try_from_uri(req.uri()) {
                Ok(Query(query)) => args.extend(query),
                Err(e) => return ApiError::BadRequest(e.body_text()).into_response(),
            }
        }
        req.extensions_mut().insert(CallArgs(args));
        Handler::<(), AppState>::call(operation.clone(), req, state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_beyond_the_routes_need_their_services_access() {
        let bases = [
            ("/-/cds/saas-provisioning", Access::PROVISIONING),
            ("/-/cds/deployment", Access::DEPLOYMENT),
        ];
        let access = |path| access_beyond_routes(&bases, path);
        assert_eq!(
            access("/-/cds/saas-provisioning/nothing/here"),
            Access::PROVISIONING
        );
        assert_eq!(access("/-/cds/saas-provisioning"), Access::PROVISIONING);
        assert_eq!(access("/-/cds/deployment/x/y"), Access::DEPLOYMENT);
        assert_eq!(access("/-/cds/saas-provisioningX"), Access::Authenticated);
        assert_eq!(access("/nowhere"), Access::Authenticated);
    }

    #[test]
    #[should_panic(expected = "operation pollJob declared twice")]
    fn an_operation_cannot_be_declared_twice() {
        async fn answer() {}
        let _ = Service::new(
            "/x",
            Access::Authenticated,
            ArgsFrom::Parentheses,
            WrongMethod::NameTheAllowed,
        )
        .get("pollJob", answer)
        .get("pollJob", answer);
    }
}
