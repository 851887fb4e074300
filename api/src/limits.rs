//! What one client may cost the service (API.md, "Limits and abuse").
//!
//! - **Load shedding**: at most `MAX_IN_FLIGHT` requests are in flight on an instance; one
//!   more is answered `503 overloaded` at once, before its body is read, so an overload costs
//!   a counter and a short answer instead of queued memory. `/health/live` is never refused.
//! - **Rate limits**: every request but the open routes (health, metrics, OpenAPI) takes a
//!   token from a bucket (GCRA, the `governor` crate): the user's bucket when it carries a
//!   valid bearer token, else its client address's. An empty bucket is a `429 rate_limited`
//!   with `Retry-After`; every limited response carries `RateLimit-Policy` and `RateLimit`
//!   (draft-ietf-httpapi-ratelimit-headers). Buckets are per instance.
//! - **Client addresses** are the TCP peer's, or, when the peer is a trusted proxy, the
//!   right-most address in `X-Forwarded-For` that is not one (so a client cannot choose its
//!   own by sending the header). IPv6 clients share a bucket per /64, the smallest network
//!   one subscriber is usually given.
//!
//! Rejected requests are counted in `http_requests_rejected_total{reason}`; they are not
//! logged one by one (a flood would become a flood of log lines), only summarised at most
//! once a second.

use crate::auth::{Caller, authenticate};
use crate::error::ApiError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use domain::UserId;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use infrastructure::settings::{LimitSettings, RateLimit};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The reasons `http_requests_rejected_total` counts.
pub const REJECTION_REASONS: [&str; 4] = ["overloaded", "rate_limited_user", "rate_limited_address", "body_timeout"];

/// Counts a rejected request.
pub fn count_rejection(reason: &'static str) {
    metrics::counter!("http_requests_rejected_total", "reason" => reason).increment(1);
}

/// The limits of one instance, shared by its workers.
#[derive(Debug)]
pub struct Limits {
    users: Option<Bucket<UserId>>,
    addresses: Option<Bucket<AddressKey>>,
    trusted_proxies: Vec<ipnet::IpNet>,
    in_flight: Option<InFlight>,
    shed_log: RateLimitedLog,
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Self {
        Self {
            users: settings.user.map(|limit| Bucket::new("user", limit, "rate_limited_user")),
            addresses: settings.address.map(|limit| Bucket::new("address", limit, "rate_limited_address")),
            trusted_proxies: settings.trusted_proxies.clone(),
            in_flight: settings.max_in_flight.map(|max| InFlight { count: AtomicUsize::new(0), max }),
            shed_log: RateLimitedLog::default(),
        }
    }

    /// Forgets the buckets that are full again, so the maps hold only recent clients. Runs on a
    /// timer (see [`Limits::spawn_upkeep`]).
    pub fn forget_idle_clients(&self) {
        if let Some(bucket) = &self.users {
            bucket.limiter.retain_recent();
            bucket.limiter.shrink_to_fit();
        }
        if let Some(bucket) = &self.addresses {
            bucket.limiter.retain_recent();
            bucket.limiter.shrink_to_fit();
        }
    }

    /// Clients with a bucket now: (users, addresses).
    pub fn tracked_clients(&self) -> (usize, usize) {
        (self.users.as_ref().map_or(0, |b| b.limiter.len()), self.addresses.as_ref().map_or(0, |b| b.limiter.len()))
    }

    /// Forgets idle clients every ten seconds on a thread of its own, for as long as these
    /// limits are in use.
    pub fn spawn_upkeep(limits: &Arc<Self>) {
        let weak = Arc::downgrade(limits);
        let spawned = std::thread::Builder::new().name("rate-limit-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(10));
                let Some(limits) = weak.upgrade() else { return };
                limits.forget_idle_clients();
            }
        });
        if let Err(error) = spawned {
            tracing::warn!(%error, "could not start the rate limiter's upkeep thread; idle clients stay in memory");
        }
    }

    /// The address a request comes from: the peer's, or the client's behind a trusted proxy.
    pub fn client_address(&self, req: &actix_web::HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr().map(|a| a.ip())?;
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let mut client = peer;
        // Right to left: each trusted proxy appended the address it received the request from.
        let hops: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            let Some(address) = parse_hop(hop) else { break };
            client = address;
            if !self.is_trusted(address) {
                break;
            }
        }
        Some(client)
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.trusted_proxies.iter().any(|net| net.contains(&address))
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`[::1]:80`, `1.2.3.4:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address);
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip())
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are the IPv4 addresses they map.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// Whose bucket an anonymous request takes from: an IPv4 address, or an IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AddressKey {
    V4([u8; 4]),
    V6([u8; 8]),
}

impl From<IpAddr> for AddressKey {
    fn from(address: IpAddr) -> Self {
        match canonical(address) {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let octets = v6.octets();
                let mut prefix = [0; 8];
                prefix.copy_from_slice(&octets[..8]);
                Self::V6(prefix)
            }
        }
    }
}

/// One limiter and the header values that describe its policy.
struct Bucket<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K, StateInformationMiddleware>,
    name: &'static str,
    limit: RateLimit,
    policy: HeaderValue,
    rejection: &'static str,
}

impl<K: Hash + Eq + Clone> std::fmt::Debug for Bucket<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("name", &self.name).field("limit", &self.limit).finish_non_exhaustive()
    }
}

/// What a bucket said about one request.
enum Decision {
    Allowed { remaining: u32 },
    Refused { retry_after: u64 },
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn new(name: &'static str, limit: RateLimit, rejection: &'static str) -> Self {
        let per_second = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        let limiter = RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>();
        // The window is the time a drained bucket takes to fill again (whole seconds, > 0).
        let window = u64::from(limit.burst).div_ceil(u64::from(limit.per_second)).max(1);
        let policy = HeaderValue::from_str(&format!("\"{name}\";q={};w={window}", limit.burst))
            .unwrap_or(HeaderValue::from_static("\"default\";q=0"));
        Self { limiter, name, limit, policy, rejection }
    }

    fn check(&self, key: &K) -> Decision {
        match self.limiter.check_key(key) {
            Ok(snapshot) => Decision::Allowed { remaining: snapshot.remaining_burst_capacity() },
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Decision::Refused { retry_after: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1) }
            }
        }
    }
}

/// The count of requests in flight and its bound.
#[derive(Debug)]
struct InFlight {
    count: AtomicUsize,
    max: usize,
}

/// One request in flight; leaving drops the count.
struct Entered<'a>(&'a AtomicUsize);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl InFlight {
    fn enter(&self) -> Option<Entered<'_>> {
        let before = self.count.fetch_add(1, Ordering::Relaxed);
        let entered = Entered(&self.count);
        (before < self.max).then_some(entered)
    }
}

/// Logs a summary of rejections at most once a second, whatever their rate.
#[derive(Debug, Default)]
struct RateLimitedLog {
    last_second: AtomicU64,
    since: AtomicU64,
}

impl RateLimitedLog {
    fn note(&self, what: &'static str) {
        let second = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let count = self.since.fetch_add(1, Ordering::Relaxed) + 1;
        let last = self.last_second.load(Ordering::Relaxed);
        if last != second
            && self.last_second.compare_exchange(last, second, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            self.since.store(0, Ordering::Relaxed);
            tracing::warn!(rejected = count, "{what}");
        }
    }
}

/// Routes that are never limited: probes and scrapers must reach an instance under any load.
fn is_open_route(path: &str) -> bool {
    matches!(path, "/health" | "/health/live" | "/health/ready" | "/health/db" | "/metrics" | "/openapi.json")
}

/// The middleware; see the module docs. The bucket is checked before the in-flight bound, so
/// a client over its rate gets 429 whatever the load, and every limited answer, a shed one
/// included, carries the `RateLimit` headers.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(limits) = req.app_data::<web::Data<Limits>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let rated = if is_open_route(req.path()) { None } else { limits.check_rate(&req) };
    let headers = rated.as_ref().map(|(state, decision, policy)| (policy.clone(), state.render(decision)));
    let with_headers = |mut response: ServiceResponse<BoxBody>| {
        if let Some((policy, header)) = headers.clone() {
            response.headers_mut().insert(RATELIMIT_POLICY, policy);
            response.headers_mut().insert(RATELIMIT, header);
        }
        response
    };
    if let Some((state, Decision::Refused { retry_after }, _)) = &rated {
        count_rejection(state.rejection);
        limits.shed_log.note("rate limited: clients over their limit");
        return Ok(with_headers(req.error_response(ApiError::RateLimited { retry_after: *retry_after })));
    }
    let _entered = match &limits.in_flight {
        Some(in_flight) if req.path() != "/health/live" => match in_flight.enter() {
            Some(entered) => Some(entered),
            None => {
                count_rejection("overloaded");
                limits.shed_log.note("shedding load: more requests in flight than MAX_IN_FLIGHT");
                return Ok(with_headers(req.error_response(ApiError::Overloaded)));
            }
        },
        _ => None,
    };
    let response = next.call(req).await?.map_into_boxed_body();
    Ok(with_headers(response))
}

impl Limits {
    /// The bucket this request draws from and what it said, with the bucket's policy header;
    /// `None` when no limit applies. A valid token is remembered in the request for the
    /// handler's extractor.
    fn check_rate(&self, req: &ServiceRequest) -> Option<(BucketState, Decision, HeaderValue)> {
        if self.users.is_none() && self.addresses.is_none() {
            return None;
        }
        // Whose bucket: the user's, when the token is valid (the extractor then reuses the caller).
        let caller = authenticate(req.request()).ok();
        let limited = match (&caller, &self.users, &self.addresses) {
            (Some(caller), Some(bucket), _) => {
                Some((bucket_state(bucket), bucket.check(&caller.user), bucket.policy.clone()))
            }
            (Some(_), None, _) => None,
            (None, _, Some(bucket)) => {
                let key = self.client_address(req.request()).map(AddressKey::from);
                key.map(|key| (bucket_state(bucket), bucket.check(&key), bucket.policy.clone()))
            }
            (None, _, None) => None,
        };
        if let Some(caller) = caller {
            req.extensions_mut().insert::<Caller>(caller);
        }
        limited
    }
}

/// What a bucket's decision becomes in the `RateLimit` header, without the bucket's key type.
struct BucketState {
    name: &'static str,
    limit: RateLimit,
    rejection: &'static str,
}

fn bucket_state<K: Hash + Eq + Clone>(bucket: &Bucket<K>) -> BucketState {
    BucketState { name: bucket.name, limit: bucket.limit, rejection: bucket.rejection }
}

impl BucketState {
    /// `RateLimit: "<name>";r=<remaining>;t=<seconds until the bucket is full again>`.
    fn render(&self, decision: &Decision) -> HeaderValue {
        let (remaining, reset) = match decision {
            Decision::Allowed { remaining } => {
                let missing = u64::from(self.limit.burst.saturating_sub(*remaining));
                (*remaining, missing.div_ceil(u64::from(self.limit.per_second)))
            }
            Decision::Refused { retry_after } => (0, *retry_after),
        };
        HeaderValue::from_str(&format!("\"{}\";r={remaining};t={reset}", self.name))
            .unwrap_or(HeaderValue::from_static("\"default\";r=0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(trusted: &[&str]) -> Limits {
        Limits::new(&LimitSettings {
            user: Some(RateLimit { per_second: 2, burst: 3 }),
            address: Some(RateLimit { per_second: 1, burst: 1 }),
            trusted_proxies: trusted
                .iter()
                .map(|t| t.parse().or_else(|_| t.parse::<IpAddr>().map(ipnet::IpNet::from)).expect("net"))
                .collect(),
            max_in_flight: Some(2),
            body_timeout: Duration::from_secs(10),
            cors_allowed_origins: vec![],
            idempotency_purge_interval: Duration::from_secs(600),
        })
    }

    fn request(peer: &str, forwarded: &[&str]) -> actix_web::HttpRequest {
        let mut req = actix_web::test::TestRequest::default().peer_addr(peer.parse().expect("peer"));
        for value in forwarded {
            req = req.append_header(("x-forwarded-for", *value));
        }
        req.to_http_request()
    }

    #[test]
    fn the_client_address_comes_from_forwarded_for_only_behind_a_trusted_proxy() {
        let untrusted = limits(&[]);
        let req = request("203.0.113.9:4000", &["198.51.100.1"]);
        assert_eq!(untrusted.client_address(&req), "203.0.113.9".parse().ok(), "the header is ignored");
        let behind = limits(&["10.0.0.0/8"]);
        let req = request("10.0.0.2:4000", &["198.51.100.1, 10.0.0.7"]);
        assert_eq!(behind.client_address(&req), "198.51.100.1".parse().ok(), "trusted hops are skipped");
        let req = request("10.0.0.2:4000", &["6.6.6.6, 198.51.100.1"]);
        assert_eq!(behind.client_address(&req), "198.51.100.1".parse().ok(), "a spoofed left part is ignored");
        let req = request("10.0.0.2:4000", &["6.6.6.6", "198.51.100.1:5555"]);
        assert_eq!(behind.client_address(&req), "198.51.100.1".parse().ok(), "several headers, with a port");
        let req = request("10.0.0.2:4000", &["garbage, 10.0.0.8"]);
        assert_eq!(behind.client_address(&req), "10.0.0.8".parse().ok(), "a malformed hop stops the walk");
        let req = request("10.0.0.2:4000", &[]);
        assert_eq!(behind.client_address(&req), "10.0.0.2".parse().ok(), "no header: the proxy itself");
        let mapped = limits(&["10.0.0.2"]);
        let req = request("[::ffff:10.0.0.2]:4000", &["198.51.100.1"]);
        assert_eq!(mapped.client_address(&req), "198.51.100.1".parse().ok(), "IPv4-mapped peers match IPv4 nets");
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(AddressKey::from(a), AddressKey::from(b));
        assert_ne!(AddressKey::from(a), AddressKey::from(c));
        let v4: IpAddr = "192.0.2.1".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(AddressKey::from(v4), AddressKey::from(mapped));
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_the_wait() {
        let bucket = Bucket::new("user", RateLimit { per_second: 2, burst: 3 }, "rate_limited_user");
        assert_eq!(bucket.policy, "\"user\";q=3;w=2");
        let key = UserId::parse("alice").expect("user");
        let remaining: Vec<u32> = (0..3)
            .map(|_| match bucket.check(&key) {
                Decision::Allowed { remaining } => remaining,
                Decision::Refused { .. } => panic!("within the burst"),
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = bucket.check(&key);
        assert!(matches!(refused, Decision::Refused { retry_after: 1 }));
        assert_eq!(bucket_state(&bucket).render(&refused), "\"user\";r=0;t=1");
        assert_eq!(bucket_state(&bucket).render(&Decision::Allowed { remaining: 1 }), "\"user\";r=1;t=1");
        let other = UserId::parse("bob").expect("user");
        assert!(matches!(bucket.check(&other), Decision::Allowed { remaining: 2 }), "buckets are per key");
    }

    #[test]
    fn in_flight_requests_are_bounded_and_leaving_frees_a_place() {
        let limits = limits(&[]);
        let in_flight = limits.in_flight.as_ref().expect("bounded");
        let first = in_flight.enter().expect("one");
        let second = in_flight.enter().expect("two");
        assert!(in_flight.enter().is_none(), "the third is refused");
        drop(first);
        assert!(in_flight.enter().is_some(), "a place was freed");
        drop(second);
        assert_eq!(in_flight.count.load(Ordering::Relaxed), 0);
    }
}
