//! The per-client-address rate limiter: a keyed `governor` limiter whose memory is pruned by the
//! engine's housekeeping so that many client addresses cannot grow it without bound.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use clima_model::rate::RateSpec;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use nonzero_ext::nonzero;

/// Limits requests per client address.
pub struct Limiter {
    inner: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl Limiter {
    /// A limiter that allows `count` requests at once and refills them evenly over `period`.
    pub fn new(spec: RateSpec) -> Self {
        let burst = NonZeroU32::new(spec.count).unwrap_or(nonzero!(1u32));
        let refill = (spec.period / burst.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(refill)
            .expect("refill is above zero")
            .allow_burst(burst);
        Limiter {
            inner: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Admits a request from `ip`, or says how long until it would be admitted.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.inner
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets addresses whose allowance has refilled completely.
    pub fn prune(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }

    /// Addresses currently remembered.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_by_address() {
        let l = Limiter::new(RateSpec {
            count: 3,
            period: Duration::from_secs(60),
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
        }
        let wait = l.check(a).unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(l.check(b).is_ok(), "another client is not affected");
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn memory_is_bounded_by_pruning() {
        let l = Limiter::new(RateSpec {
            count: 10,
            period: Duration::from_millis(100),
        });
        for i in 0..20_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(l.check(ip).is_ok());
        }
        assert_eq!(l.len(), 20_000);
        // Once an address's allowance has refilled it carries no state worth keeping.
        std::thread::sleep(Duration::from_millis(150));
        l.prune();
        assert_eq!(l.len(), 0);
    }
}
